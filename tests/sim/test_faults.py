"""Injected faults and the rate-limit block, as a client would meet them."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.plugins.dexsim import SimHandle
from tests.sim.conftest import create, error_codes, item

QUOTA = "/commands/quota"


async def test_429_fault_answers_retry_after_then_clears(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await dex_sim.fault("429", count=2, retry_after=7, path="/quota")
    for _ in range(2):
        response = await cf.get(QUOTA)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert error_codes(response)[0] >= 1000
    assert (await cf.get("/commands", params={"page": 1, "per_page": 5})).status_code == 200
    assert (await cf.get(QUOTA)).status_code == 200
    assert [r["fault"] for r in await dex_sim.requests(path_contains="/quota")] == [
        "429",
        "429",
        None,
    ]


async def test_faults_match_method_and_fire_in_order(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await dex_sim.fault("500", method="POST")
    await dex_sim.fault("502")
    first = await cf.get(QUOTA)  # the POST-only fault does not match a GET
    assert first.status_code == 502
    assert first.headers["Content-Type"].startswith("text/html")
    failed = await create(cf, item(dex_sim, "bob-thinkpad"))
    assert failed.status_code == 500
    assert error_codes(failed)
    assert await dex_sim.commands() == []  # a 500 happened before the command was made


async def test_clear_faults(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    await dex_sim.fault("500", count=5)
    await dex_sim.clear_faults()
    assert (await cf.get(QUOTA)).status_code == 200


async def test_block_fault_blocks_everything_for_five_simulated_minutes(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await dex_sim.fault("block")
    for path in (QUOTA, "/commands?page=1&per_page=5", QUOTA):
        response = await cf.get(path)
        assert response.status_code == 429
        assert 299 <= int(response.headers["Retry-After"]) <= 300
    await dex_sim.advance(200)
    left = await cf.get(QUOTA)
    assert left.status_code == 429 and 99 <= int(left.headers["Retry-After"]) <= 100
    await dex_sim.advance(100)
    assert (await cf.get(QUOTA)).status_code == 200


async def test_rate_limit_blocks_past_the_budget(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    await dex_sim.configure(rate_limit=5)
    for _ in range(5):
        assert (await cf.get(QUOTA)).status_code == 200
    blocked = await cf.get(QUOTA)
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "300"
    await dex_sim.advance(299)
    assert (await cf.get(QUOTA)).status_code == 429
    await dex_sim.advance(1)
    assert (await cf.get(QUOTA)).status_code == 200


async def test_rate_window_slides_on_the_simulated_clock(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await dex_sim.configure(rate_limit=3)
    for _ in range(3):
        assert (await cf.get(QUOTA)).status_code == 200
    await dex_sim.advance(300)  # the first three fall out of the window
    for _ in range(3):
        assert (await cf.get(QUOTA)).status_code == 200


async def test_default_budget_is_1200_per_five_minutes(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    assert dex_sim.sim.config.rate_limit == 1200
    assert dex_sim.sim.config.rate_window_seconds == 300


async def test_slow_fault_delays_the_answer(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    await dex_sim.fault("slow", delay=0.3)
    started = time.monotonic()
    response = await cf.get(QUOTA)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


async def test_slow_fault_trips_a_client_timeout(dex_sim: SimHandle) -> None:
    await dex_sim.fault("slow", delay=0.5)
    async with httpx.AsyncClient(headers=dex_sim.auth_headers, timeout=0.1) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.get(dex_sim.account_url + "/dex" + QUOTA)


async def test_drop_closes_the_connection_before_doing_anything(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await dex_sim.fault("drop", method="POST")
    with pytest.raises(httpx.RemoteProtocolError):
        await create(cf, item(dex_sim, "bob-thinkpad"))
    assert await dex_sim.commands() == []
    sent = await dex_sim.requests("POST")
    assert [(r["status"], r["fault"]) for r in sent] == [(None, "drop")]
    assert (await cf.get(QUOTA)).json()["result"]["quota_usage"] == 0


async def test_drop_after_creates_the_command_then_hangs_up(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await dex_sim.fault("drop_after", method="POST", path="/dex/commands")
    with pytest.raises(httpx.RemoteProtocolError):
        await create(cf, item(dex_sim, "bob-thinkpad", "warp-diag"))
    # The client never saw an answer, yet Cloudflare made the command: reconcile by listing.
    made = await dex_sim.commands()
    assert len(made) == 1 and made[0]["type"] == "warp-diag"
    listed = await cf.get(
        "/commands",
        params={"page": 1, "per_page": 10, "device_id": dex_sim.device("bob-thinkpad").device_id},
    )
    assert [r["id"] for r in listed.json()["result"]["commands"]] == [made[0]["id"]]
    assert (await cf.get(QUOTA)).json()["result"]["quota_usage"] == 1


async def test_bad_fault_is_refused(dex_sim: SimHandle) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(dex_sim.admin_url + "/faults", json={"kind": "teapot"})
    assert response.status_code == 400
    assert "kind" in response.json()["error"]
