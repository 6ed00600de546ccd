"""Live status of several devices at once, each device on its own.

``/dex status @person`` asks for every device of a person. One device that errors, times
out or has no data in the window must not cost the answer for the others: it gets a
:class:`LiveStatusUnavailable` in its place, and the renderer shows that line only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.dex.errors import DexError, DexNoLiveData
from bot.dex.models import DeviceLiveStatus, EligibleDevice


class LiveStatusSource(Protocol):
    """Anything with ``DexClient.live_status``."""

    async def live_status(self, device_id: str, since_minutes: int = 10) -> DeviceLiveStatus:
        """The device's latest fleet status; ``DexNoLiveData`` when there is none."""
        ...


log = logging.getLogger(__name__)

#: One device's live status may take this long before its line says so.
DEVICE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class LiveStatusUnavailable:
    """Why one device has no live status: ``no_data`` in the window, ``timeout`` or ``error``."""

    device_id: str
    device_name: str | None
    reason: Literal["no_data", "timeout", "error"]
    since_minutes: int


async def live_statuses(
    dex: LiveStatusSource,
    devices: Sequence[EligibleDevice],
    *,
    since_minutes: int = 10,
    timeout: float = DEVICE_TIMEOUT_SECONDS,  # noqa: ASYNC109 (a per-device deadline)
) -> list[DeviceLiveStatus | LiveStatusUnavailable]:
    """The live status of each device, in order; a failing device gets its own placeholder."""

    async def one(device: EligibleDevice) -> DeviceLiveStatus | LiveStatusUnavailable:
        def missing(reason: Literal["no_data", "timeout", "error"]) -> LiveStatusUnavailable:
            return LiveStatusUnavailable(
                device.device_id, device.device_name, reason, since_minutes
            )

        try:
            async with asyncio.timeout(timeout):
                return await dex.live_status(device.device_id, since_minutes)
        except DexNoLiveData:
            return missing("no_data")
        except TimeoutError:
            return missing("timeout")
        except DexError as exc:
            log.info("live status of %s failed: %s", device.device_id, exc)
            return missing("error")

    return list(await asyncio.gather(*(one(d) for d in devices)))
