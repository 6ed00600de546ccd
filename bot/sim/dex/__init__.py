"""A local stand-in for Cloudflare's DEX remote-commands API (``dexbot simulate``).

Served under ``/client/v4`` like the real API, with an admin API under ``/_sim/`` to move
the clock, inject faults and read what was received. In process::

    sim = DexSimulator(seed=1, speed=0)
    base_url = await sim.start()          # http://127.0.0.1:PORT/client/v4
    ...
    await sim.stop()

Modules: ``clock`` (SimClock), ``fleet`` (devices and the --fleet format), ``state``
(commands, quota), ``config`` (knobs, error codes), ``faults`` (fault queue, rate limit),
``pcap`` and ``artifacts`` (the ZIP downloads), ``live`` (fleet-status values), ``app``
(the API), ``admin`` (``/_sim/``), ``simulator`` (DexSimulator), ``server`` (the CLI).
"""

from bot.sim.dex.app import ConnectionDropped
from bot.sim.dex.clock import SimClock
from bot.sim.dex.config import SimApiError, SimConfig
from bot.sim.dex.fleet import Device, Registration
from bot.sim.dex.simulator import API_PREFIX, DexSimulator

__all__ = [
    "API_PREFIX",
    "ConnectionDropped",
    "Device",
    "DexSimulator",
    "Registration",
    "SimApiError",
    "SimClock",
    "SimConfig",
]
