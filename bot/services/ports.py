"""The Cloudflare DEX operations the use cases need, as a Protocol.

``bot.dex.DexClient`` satisfies it structurally; tests and the shell use the same real client
against the local simulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from bot.dex.models import (
    Command,
    CommandSpec,
    CreatedCommand,
    DeviceLiveStatus,
    EligibleDevice,
    Quota,
)


class DexPort(Protocol):
    """The Cloudflare DEX operations the product uses."""

    def iter_devices(self, search: str | None = None) -> AsyncIterator[EligibleDevice]:
        """Every eligible-devices row matching ``search``."""
        ...

    def iter_commands(self, **filters: Any) -> AsyncIterator[Command]:
        """Every command matching the filters."""
        ...

    async def live_status(self, device_id: str, since_minutes: int = 10) -> DeviceLiveStatus:
        """The device's latest fleet status."""
        ...

    async def get_quota(self) -> Quota:
        """The account-wide command quota."""
        ...

    async def create_commands(self, specs: Sequence[CommandSpec]) -> list[CreatedCommand]:
        """Start commands (one POST)."""
        ...
