"""Cloudflare answers in shapes its docs leave open (issue 10): the quota refusal in any
code, a list in any order, an envelope without ``result``, devices with no live data."""

from __future__ import annotations

from typing import Any

import pytest

from bot.dex import (
    CommandSpec,
    CommandType,
    DexApiError,
    DexAuthError,
    DexClient,
    DexNoLiveData,
    DexQuotaExceededError,
    DexRateLimitedError,
    LiveStatusUnavailable,
    QuotaSignals,
    live_statuses,
)
from tests.dex.clock import FakeClock
from tests.dex.conftest import make_client


async def spec_for(client: DexClient, name: str = "bob-thinkpad") -> CommandSpec:
    [dev] = [d async for d in client.iter_devices(name) if d.device_name == name]
    assert dev.person_email
    return CommandSpec(
        device_id=dev.device_id, user_email=dev.person_email, type=CommandType.WARP_DIAG
    )


async def posts(dex_sim: Any) -> list[dict[str, Any]]:
    return await dex_sim.requests(method="POST", path_contains="/dex/commands")


async def quota_reads(dex_sim: Any) -> int:
    return len(await dex_sim.requests(method="GET", path_contains="/commands/quota"))


# -- quota -------------------------------------------------------------------------------
SHAPES = {
    "400 another code": {"status": 400, "code": 2042, "message": "Limit reached"},
    "403": {"status": 403, "code": 10000, "message": "Forbidden"},
    "429 without Retry-After": {"status": 429, "code": 10100, "message": "Too many"},
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
async def test_a_4xx_with_no_quota_left_is_quota_exhaustion_whatever_its_code(
    client: DexClient, dex_sim: Any, shape: dict[str, Any]
) -> None:
    spec = await spec_for(client)
    await dex_sim.set_quota(quota=25, quota_usage=25)
    await dex_sim.fault("error", method="POST", **shape)
    with pytest.raises(DexQuotaExceededError) as raised:
        await client.create_commands([spec])
    assert raised.value.status == shape["status"]
    assert len(await posts(dex_sim)) == 1  # never sent twice
    assert await quota_reads(dex_sim) == 1
    assert await dex_sim.commands() == []


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (SHAPES["400 another code"], DexApiError),
        (SHAPES["403"], DexAuthError),
    ],
    ids=["400", "403"],
)
async def test_a_4xx_with_quota_left_stays_what_it_was(
    client: DexClient, dex_sim: Any, shape: dict[str, Any], expected: type[Exception]
) -> None:
    spec = await spec_for(client)
    await dex_sim.set_quota(quota=25, quota_usage=3)
    await dex_sim.fault("error", method="POST", **shape)
    with pytest.raises(expected) as raised:
        await client.create_commands([spec])
    assert not isinstance(raised.value, DexQuotaExceededError)
    assert await quota_reads(dex_sim) == 1 and len(await posts(dex_sim)) == 1


async def test_a_429_without_retry_after_and_quota_left_is_sent_again(
    client: DexClient, dex_sim: Any
) -> None:
    spec = await spec_for(client)
    await dex_sim.fault("error", method="POST", **SHAPES["429 without Retry-After"])
    [created] = await client.create_commands([spec])
    assert [c["id"] for c in await dex_sim.commands()] == [created.id]
    assert len(await posts(dex_sim)) == 2 and await quota_reads(dex_sim) == 1


async def test_a_429_with_retry_after_is_the_rate_block_not_the_quota(
    dex_sim: Any, clock: FakeClock
) -> None:
    async with make_client(dex_sim, clock, deadline=1) as client:
        spec = await spec_for(client)
        await dex_sim.set_quota(quota=25, quota_usage=25)
        await dex_sim.fault("error", method="POST", count=5, retry_after=30,
                            **SHAPES["429 without Retry-After"])  # fmt: skip
        with pytest.raises(DexRateLimitedError):
            await client.create_commands([spec])
    assert await quota_reads(dex_sim) == 0  # Retry-After says what it is: nothing to re-read


async def test_quota_codes_and_patterns_are_configurable(dex_sim: Any, clock: FakeClock) -> None:
    signals = QuotaSignals(frozenset({2042}), (r"limit\s+reached",))
    async with make_client(dex_sim, clock) as plain, make_client(dex_sim, clock) as tuned:
        tuned.quota_signals = signals
        spec = await spec_for(plain)
        for code, message in ((2042, "nope"), (1500, "Daily LIMIT  reached")):
            await dex_sim.fault("error", method="POST", status=400, code=code, message=message)
            with pytest.raises(DexQuotaExceededError):
                await tuned.create_commands([spec])
        await dex_sim.fault("error", method="POST", status=400, code=2042, message="nope")
        with pytest.raises(DexApiError) as raised:
            await plain.create_commands([spec])
        assert not isinstance(raised.value, DexQuotaExceededError)


# -- order and envelopes -----------------------------------------------------------------
@pytest.mark.parametrize("order", ["oldest", "shuffled"])
async def test_commands_come_newest_first_whatever_order_cloudflare_sends(
    client: DexClient, dex_sim: Any, clock: FakeClock, order: str
) -> None:
    spec = await spec_for(client)
    made = []
    for _ in range(4):
        made += await client.create_commands([spec])
        await dex_sim.advance(60)
    await dex_sim.configure(list_order=order)
    page = await client.list_commands()
    assert [c.id for c in page.items] == [c.id for c in reversed(made)]
    recent = await client.recent_commands(2, per_page=1)
    assert [c.id for c in recent] == [made[-1].id, made[-2].id]
    await dex_sim.clear_requests()
    capped = await client.recent_commands(2, per_page=1, max_pages=3)
    assert len(capped) == 2
    assert len(await dex_sim.requests(method="GET", path_contains="/dex/commands")) == 3


async def test_a_success_envelope_without_result_reads_as_empty(
    client: DexClient, dex_sim: Any
) -> None:
    await dex_sim.configure(omit_empty_result=True)
    page = await client.list_commands()
    assert page.items == []
    assert [c async for c in client.iter_commands()] == []


# -- live status -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["404", "empty"])
async def test_no_live_data_for_a_device_unseen_in_the_window(
    client: DexClient, dex_sim: Any, mode: str
) -> None:
    await dex_sim.configure(live_no_data=mode, device_status={"ann-desktop": "disconnected"})
    devices = [d async for d in client.iter_devices("ann")]
    desktop = next(d for d in devices if d.device_name == "ann-desktop")
    with pytest.raises(DexNoLiveData):
        await client.live_status(desktop.device_id)
    shown = await live_statuses(client, devices)
    by_name = {getattr(s, "device_name", None): s for s in shown}
    assert isinstance(by_name["ann-desktop"], LiveStatusUnavailable)
    assert by_name["ann-desktop"].reason == "no_data"
    assert not isinstance(by_name["ann-macbook"], LiveStatusUnavailable)


async def test_one_failing_device_does_not_cost_the_others(client: DexClient, dex_sim: Any) -> None:
    devices = [d async for d in client.iter_devices("ann")]
    desktop = next(d for d in devices if d.device_name == "ann-desktop")
    await dex_sim.fault("error", path=desktop.device_id, status=400, code=1001, message="bad")
    shown = await live_statuses(client, devices)
    reasons = [getattr(s, "reason", "ok") for s in shown]
    assert sorted(reasons) == ["error", "ok"]
