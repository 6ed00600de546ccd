"""``DexSimulator``: the simulated Cloudflare account plus the aiohttp app that serves it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.config import LOCAL_SIM_ACCOUNT, LOCAL_SIM_TOKEN
from bot.sim.dex.artifacts import ArtifactStore
from bot.sim.dex.clock import SimClock
from bot.sim.dex.config import SimConfig
from bot.sim.dex.faults import FaultQueue, RateLimiter
from bot.sim.dex.fleet import Device, filler_devices, load_fleet, seeded_fleet
from bot.sim.dex.state import DexState

API_PREFIX = "/client/v4"


class DexSimulator:
    """A fake Cloudflare account speaking the DEX remote-commands API under ``/client/v4``.

    ``make_app()`` builds the aiohttp application (API plus the ``/_sim/`` admin API);
    ``start()``/``stop()`` run it on a loopback port in the current event loop.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        speed: float = 1.0,
        fleet_file: str | Path | None = None,
        filler: int = 0,
        token: str | None = None,
        account_id: str | None = None,
        config: SimConfig | None = None,
    ) -> None:
        self.seed = seed
        self.token = token or LOCAL_SIM_TOKEN
        self.account_id = account_id or LOCAL_SIM_ACCOUNT
        self.clock = SimClock(speed)
        self.faults = FaultQueue()
        self.limiter = RateLimiter()
        self.artifacts = ArtifactStore()
        self.requests: list[dict[str, Any]] = []
        self._fleet_file = fleet_file
        self._filler = filler
        self._initial_config = config or SimConfig()
        self.state = self._new_state()
        self._runner: web.AppRunner | None = None
        self.base_url: str | None = None

    @property
    def config(self) -> SimConfig:
        """The live behaviour knobs."""
        return self.state.config

    def _new_state(self) -> DexState:
        devices: list[Device]
        if self._fleet_file:
            devices = load_fleet(self._fleet_file, self.seed)
            devices.extend(filler_devices(self.seed, self._filler, start=0))
        else:
            devices = seeded_fleet(self.seed, self._filler)
        config = SimConfig(**self._initial_config.as_dict())
        return DexState(clock=self.clock, config=config, devices=devices)

    def reset(self) -> None:
        """Back to the starting fleet, config and quota; no commands, faults or requests.

        The clock keeps its time: simulated time never goes backwards.
        """
        self.state = self._new_state()
        self.faults.clear()
        self.limiter.reset()
        self.requests.clear()
        self.artifacts.clear()

    def generate_fleet(self, count: int) -> list[Device]:
        """Add ``count`` filler devices (``fleet-NNNN``) to the fleet."""
        existing = sum(1 for d in self.state.devices if d.name.startswith("fleet-"))
        new = filler_devices(self.seed, count, start=existing)
        self.state.devices.extend(new)
        return new

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply config knobs (raises ValueError on a bad one); ``speed`` also sets the clock."""
        self.state.config.update(changes)
        if changes.get("speed") is not None:
            self.clock.set_speed(float(changes["speed"]))

    def make_app(self, middlewares: Iterable[Middleware] = ()) -> web.Application:
        """The aiohttp application; ``middlewares`` run outside the simulator's own."""
        from bot.sim.dex.admin import add_admin_routes
        from bot.sim.dex.app import add_api_routes, api_middleware

        app = web.Application(middlewares=[*middlewares, api_middleware(self)])
        add_api_routes(app, self)
        add_admin_routes(app, self)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        self.artifacts.close()

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, middlewares: Iterable[Middleware] = ()
    ) -> str:
        """Serve on ``host:port`` (0 = any free port); return the API base URL."""
        runner = web.AppRunner(self.make_app(middlewares), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{bound}{API_PREFIX}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving and delete the artifacts on disk."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.artifacts.close()
