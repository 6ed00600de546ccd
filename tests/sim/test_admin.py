"""The ``/_sim/`` admin API and the in-process Python API."""

from __future__ import annotations

from datetime import datetime

import httpx

from bot.sim.dex import DexSimulator, SimClock
from tests.plugins.dexsim import SimHandle
from tests.sim.conftest import create, item


async def test_clock_is_frozen_in_tests_and_moves_on_advance(dex_sim: SimHandle) -> None:
    before = await dex_sim.clock()
    assert before["speed"] == 0
    assert (await dex_sim.clock())["now"] == before["now"]
    after = await dex_sim.advance(90)
    delta = datetime.fromisoformat(after["now"]) - datetime.fromisoformat(before["now"])
    assert delta.total_seconds() == 90


def test_sim_clock_runs_at_its_speed() -> None:
    clock = SimClock(speed=0)
    start = clock.now()
    clock.advance(5)
    assert (clock.now() - start).total_seconds() == 5
    fast = SimClock(speed=1000)
    first = fast.now()
    assert fast.now() >= first


async def test_config_rejects_unknown_knobs(dex_sim: SimHandle) -> None:
    async with httpx.AsyncClient() as client:
        bad = await client.post(dex_sim.admin_url + "/config", json={"warp_speed": 9})
        assert bad.status_code == 400
        good = await client.post(dex_sim.admin_url + "/config", json={"speed": 2})
        assert good.json()["speed"] == 2
    assert dex_sim.sim.clock.speed == 2


async def test_reset_forgets_commands_faults_and_requests(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await create(cf, item(dex_sim, "bob-thinkpad"))
    await dex_sim.fault("500", count=3)
    await dex_sim.configure(exec_seconds=1)
    await dex_sim.reset()
    assert await dex_sim.commands() == []
    assert await dex_sim.requests() == []
    assert dex_sim.sim.config.exec_seconds == 20
    assert (await cf.get("/commands/quota")).json()["result"]["quota_usage"] == 0


async def test_in_process_start_and_stop_on_a_free_port() -> None:
    sim = DexSimulator(speed=0, token="t0k", account_id="a" * 32)
    url = await sim.start()
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/client/v4")
        async with httpx.AsyncClient(headers={"Authorization": "Bearer t0k"}) as client:
            response = await client.get(f"{url}/accounts/{'a' * 32}/dex/commands/quota")
        assert response.status_code == 200
    finally:
        await sim.stop()
    assert sim.artifacts.directory is None
