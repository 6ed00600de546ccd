"""Every endpoint, over loopback HTTP against the simulator (and so against the contract)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.config import LOCAL_SIM_ACCOUNT, LOCAL_SIM_TOKEN, Settings
from bot.dex import (
    CommandSpec,
    CommandStatus,
    CommandType,
    DexAuthError,
    DexClient,
    DexNotFoundError,
    DexQuotaExceededError,
    EligibleDevice,
    PcapArgs,
    WarpDiagArgs,
)
from tests.dex.clock import FakeClock
from tests.dex.conftest import make_client


async def device(client: DexClient, name: str) -> EligibleDevice:
    return next(d for d in (await client.list_devices(search=name)).items if d.device_name == name)


def spec(dev: EligibleDevice, kind: CommandType = CommandType.WARP_DIAG, **kw: Any) -> CommandSpec:
    assert dev.person_email
    return CommandSpec(
        device_id=dev.device_id,
        user_email=dev.person_email,
        registration_id=dev.registration_id,
        type=kind,
        **kw,
    )


async def test_lists_devices_with_their_eligibility(client: DexClient, dex_sim: Any) -> None:
    page = await client.list_devices()
    by_name = {d.device_name: d for d in page.items}
    assert by_name["ann-macbook"].eligible
    assert not by_name["dave-iphone"].eligible
    assert by_name["dave-iphone"].ineligible_reason
    assert page.info.page == 1
    [sent] = await dex_sim.requests(method="GET", path_contains="/commands/devices")
    assert sent["query"] == {"page": "1", "per_page": "50"}


async def test_iterates_devices_over_more_than_three_pages(client: DexClient, dex_sim: Any) -> None:
    dex_sim.sim.generate_fleet(30)
    names = [d.device_name async for d in client.iter_devices("fleet-", per_page=8)]
    assert len(names) == 30 == len(set(names))
    assert len(await dex_sim.requests(path_contains="/commands/devices")) == 4


async def test_reads_the_quota(client: DexClient, dex_sim: Any) -> None:
    await dex_sim.set_quota(quota=25, quota_usage=5)
    quota = await client.get_quota()
    assert (quota.quota, quota.quota_usage, quota.remaining) == (25, 5, 20)
    assert quota.reset_time.tzinfo is not None


async def test_quota_reads_at_once_share_one_request(client: DexClient, dex_sim: Any) -> None:
    await dex_sim.set_quota(quota=25, quota_usage=5)
    await dex_sim.fault("slow", method="GET", path="/quota", delay=0.3)
    await dex_sim.clear_requests()
    reads = await asyncio.gather(*(client.get_quota() for _ in range(5)))
    assert {r.remaining for r in reads} == {20}
    assert len(await dex_sim.requests("GET", "/quota")) == 1  # one call while it was in flight
    await dex_sim.set_quota(quota_usage=6)
    assert (await client.get_quota()).remaining == 19  # a later read asks again
    assert len(await dex_sim.requests("GET", "/quota")) == 2


@pytest.mark.parametrize("enveloped", [False, True])
async def test_live_status_bare_or_enveloped(
    client: DexClient, dex_sim: Any, enveloped: bool
) -> None:
    await dex_sim.configure(live_status_envelope=enveloped)
    ann = await device(client, "ann-macbook")
    status = await client.live_status(ann.device_id, since_minutes=15)
    assert status.device_id == ann.device_id
    assert status.platform
    [sent] = await dex_sim.requests(path_contains="/fleet-status/live")
    assert sent["query"] == {"since_minutes": "15"}


async def test_creates_a_capture_and_finds_it_with_every_filter(
    dex_sim: Any, clock: FakeClock
) -> None:
    bodies: list[bytes] = []

    async def keep_body(request: httpx.Request) -> None:
        if request.method == "POST":
            bodies.append(request.content)

    http = httpx.AsyncClient(event_hooks={"request": [keep_body]})
    client = make_client(dex_sim, clock, http=http)
    ann = await device(client, "ann-macbook")
    pcap = spec(ann, CommandType.PCAP, args=PcapArgs(time_limit_min=2, max_file_size_mb=10))
    [created] = await client.create_commands([pcap])
    assert created.type == "pcap" and created.device_id == ann.device_id

    assert len(await dex_sim.requests(method="POST")) == 1
    [wire] = json.loads(bodies[0])["commands"]
    assert wire["type"] == "pcap"
    assert wire["args"] == {"max-file-size-mb": 10, "time-limit-min": 2}
    assert "command_type" not in wire and "command_args" not in wire

    now = datetime.now(UTC)
    page = await client.list_commands(
        device_id=ann.device_id,
        command_type="pcap",
        status=CommandStatus.PENDING_EXEC,
        user_email=ann.person_email,
        from_=now - timedelta(hours=1),
        to=now + timedelta(hours=1),
    )
    assert [c.id for c in page.items] == [created.id]
    query = (await dex_sim.requests(method="GET", path_contains="/dex/commands"))[-1]["query"]
    assert query["from"].endswith("Z") and query["to"].endswith("Z")
    assert query["command_type"] == "pcap" and query["status"] == "PENDING_EXEC"

    empty = await client.list_commands(command_type=CommandType.WARP_DIAG)
    assert empty.items == [] and not empty.has_more
    await http.aclose()


async def test_iterates_commands_over_more_than_three_pages(
    client: DexClient, dex_sim: Any
) -> None:
    await dex_sim.set_quota(quota=100, quota_usage=0)
    dex_sim.sim.generate_fleet(10)
    fleet = [d async for d in client.iter_devices("fleet-") if d.eligible]
    assert len(fleet) >= 10
    batch = [spec(d, args=WarpDiagArgs(test_all_routes=False)) for d in fleet[:10]]
    created = await client.create_commands(batch)
    created += await client.create_commands([spec(d) for d in fleet[:10]])
    assert len(created) == 20

    seen = [c.id async for c in client.iter_commands(per_page=6, command_type="warp-diag")]
    assert sorted(seen) == sorted(c.id for c in created)
    assert len(await dex_sim.requests(method="GET", path_contains="/dex/commands")) >= 4
    pages = [r for r in await dex_sim.requests(method="GET") if r["query"].get("per_page") == "6"]
    assert [r["query"]["page"] for r in pages] == ["1", "2", "3", "4"]


async def test_targets_one_user_of_a_shared_device(client: DexClient, dex_sim: Any) -> None:
    rows = [d async for d in client.iter_devices("kiosk")]
    frank = next(d for d in rows if d.person_email == "frank@example.com")
    [created] = await client.create_commands([spec(frank)])
    assert created.registration_id == frank.registration_id


async def test_a_spent_quota_is_its_own_error(client: DexClient, dex_sim: Any) -> None:
    await dex_sim.set_quota(quota=3, quota_usage=3)
    ann = await device(client, "ann-macbook")
    with pytest.raises(DexQuotaExceededError) as info:
        await client.create_commands([spec(ann)])
    assert info.value.status == 400
    assert len(await dex_sim.requests(method="POST")) == 1  # never retried
    assert await dex_sim.commands() == []


async def test_a_wrong_token_is_an_auth_error_without_the_token(
    dex_sim: Any, clock: FakeClock
) -> None:
    async with make_client(dex_sim, clock) as good:
        pass
    bad = DexClient(dex_sim.base_url, "not-the-token-s3cr3t", dex_sim.account_id)
    async with bad:
        with pytest.raises(DexAuthError) as info:
            await bad.get_quota()
    assert info.value.status == 403
    assert "s3cr3t" not in str(info.value) and "s3cr3t" not in repr(info.value)
    assert len(await dex_sim.requests()) == 1  # auth errors are not retried
    assert good.rate_budget_remaining() == 1200


async def test_unknown_things_are_not_found(client: DexClient, dex_sim: Any, tmp_path: Any) -> None:
    with pytest.raises(DexNotFoundError):
        await client.live_status("00000000-0000-4000-8000-000000000000")
    with pytest.raises(DexNotFoundError):
        await client.download_artifact("no-such-command", "x.zip", tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert len(await dex_sim.requests()) == 2


async def test_budget_counts_every_request(client: DexClient) -> None:
    before = client.rate_budget_remaining()
    await client.get_quota()
    await client.list_devices()
    assert client.rate_budget_remaining() == before - 2


async def test_from_settings_uses_the_configured_budget_and_timeout() -> None:
    settings = Settings(cloudflare_rate_limit=600, cloudflare_timeout_seconds=12)
    async with DexClient.from_settings(settings) as client:
        assert client.base_url == "https://api.cloudflare.com/client/v4"
        assert client.account_id == LOCAL_SIM_ACCOUNT
        assert client.rate_budget_remaining() == 600
        assert LOCAL_SIM_TOKEN not in repr(client)
