"""The ``dex_sim`` fixture: a fresh DEX simulator on a loopback port for each test.

::

    async def test_something(dex_sim):
        async with httpx.AsyncClient(base_url=dex_sim.base_url,
                                     headers=dex_sim.auth_headers) as cf:
            ...
        await dex_sim.advance(40)            # move the simulated clock
        assert await dex_sim.requests("POST")  # what Cloudflare received

The simulated clock is FROZEN by default (speed 0): nothing moves until a test calls
``advance()``. Options per test with a marker::

    @pytest.mark.dexsim(speed=1.0, filler=120, seed=7, config={"exec_seconds": 5})

Every request under ``/client/v4`` and every answer is validated against the OpenAPI
contract (``tests/plugins/contract.py``); violations fail the test at teardown. A test that
sends bad input on purpose sets ``dex_sim.expect_invalid_requests = True``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bot.sim.dex import DexSimulator, SimConfig
from bot.sim.dex.fleet import Device
from tests.plugins.contract import ContractRecorder, load_validator


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dexsim(speed=0.0, filler=0, seed=1, config=None): options for the dex_sim fixture",
    )


@dataclass
class SimHandle:
    """A running simulator and helpers over its ``/_sim/`` admin API."""

    sim: DexSimulator
    base_url: str
    token: str
    account_id: str
    contract: ContractRecorder
    contract_note: str
    expect_invalid_requests: bool = False
    _admin: httpx.AsyncClient = field(default_factory=httpx.AsyncClient, repr=False)

    @property
    def admin_url(self) -> str:
        """``http://127.0.0.1:PORT/_sim``."""
        return self.base_url.removesuffix("/client/v4") + "/_sim"

    @property
    def account_url(self) -> str:
        """``{base_url}/accounts/{account_id}``."""
        return f"{self.base_url}/accounts/{self.account_id}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """``Authorization: Bearer <token>``."""
        return {"Authorization": f"Bearer {self.token}"}

    def device(self, name: str) -> Device:
        """A device of the simulated fleet, by name (``ann-macbook``) or ID."""
        found = self.sim.state.device(name)
        if found is None:
            raise KeyError(name)
        return found

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = await self._admin.request(method, self.admin_url + path, **kw)
        response.raise_for_status()
        return response.json()

    async def advance(self, seconds: float) -> dict[str, Any]:
        """Move the simulated clock forward; returns ``{now, speed}``."""
        result: dict[str, Any] = await self._call(
            "POST", "/clock/advance", json={"seconds": seconds}
        )
        return result

    async def clock(self) -> dict[str, Any]:
        """``{now, speed}``."""
        result: dict[str, Any] = await self._call("GET", "/clock")
        return result

    async def fault(self, kind: str, **kw: Any) -> list[dict[str, Any]]:
        """Queue a fault (``429 block 500 502 slow drop drop_after``); returns the queue."""
        result = await self._call("POST", "/faults", json={"kind": kind, **kw})
        faults: list[dict[str, Any]] = result["faults"]
        return faults

    async def clear_faults(self) -> None:
        """Forget all queued faults."""
        await self._call("DELETE", "/faults")

    async def set_quota(self, **kw: Any) -> dict[str, Any]:
        """Set ``quota``, ``quota_usage`` and/or ``reset_time``; returns the quota."""
        result: dict[str, Any] = await self._call("POST", "/quota", json=kw)
        return result

    async def configure(self, **kw: Any) -> dict[str, Any]:
        """Change simulator knobs (see ``bot.sim.dex.config.SimConfig``); returns them all."""
        result: dict[str, Any] = await self._call("POST", "/config", json=kw)
        return result

    async def requests(
        self, method: str | None = None, path_contains: str | None = None
    ) -> list[dict[str, Any]]:
        """Requests received under /client/v4: ``{method, path, query, json, status, fault}``."""
        params = {k: v for k, v in (("method", method), ("path_contains", path_contains)) if v}
        result = await self._call("GET", "/requests", params=params)
        rows: list[dict[str, Any]] = result["requests"]
        return rows

    async def clear_requests(self) -> None:
        """Forget the recorded requests."""
        await self._call("DELETE", "/requests")

    async def commands(self) -> list[dict[str, Any]]:
        """Every command the simulator holds, as list rows plus ``args``."""
        result = await self._call("GET", "/commands")
        rows: list[dict[str, Any]] = result["commands"]
        return rows

    async def generate_fleet(self, count: int) -> int:
        """Add ``count`` filler devices; returns the fleet size."""
        result = await self._call("POST", "/fleet/generate", json={"count": count})
        total: int = result["total"]
        return total

    async def reset(self) -> None:
        """Back to the initial fleet, config and quota, with no commands or faults."""
        await self._call("POST", "/reset")


@pytest_asyncio.fixture
async def dex_sim(request: pytest.FixtureRequest) -> AsyncIterator[SimHandle]:
    """A fresh simulator on 127.0.0.1 (free port), contract-checked, clock frozen."""
    marker = request.node.get_closest_marker("dexsim")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    config = SimConfig()
    config.update(options.get("config") or {})
    sim = DexSimulator(
        seed=options.get("seed", 1),
        speed=options.get("speed", 0.0),
        filler=options.get("filler", 0),
        config=config,
    )
    validator, note = load_validator()  # raises when the spec is missing: never unchecked
    recorder = ContractRecorder(validator)
    middlewares = [recorder.middleware()]
    base_url = await sim.start("127.0.0.1", 0, middlewares=middlewares)
    handle = SimHandle(
        sim=sim,
        base_url=base_url,
        token=sim.token,
        account_id=sim.account_id,
        contract=recorder,
        contract_note=note,
    )
    try:
        yield handle
    finally:
        await handle._admin.aclose()
        await sim.stop()
    failures = recorder.failures(handle.expect_invalid_requests)
    if failures:
        listing = "\n".join(f"  - {v}" for v in failures)
        pytest.fail(
            f"{len(failures)} OpenAPI contract violation(s) in DEX traffic:\n{listing}",
            pytrace=False,
        )
