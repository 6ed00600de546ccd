"""What the domain needs from the outside world, as small Protocols.

``bot.dex.DexClient`` and ``bot.slackapi.directory.Directory`` satisfy these structurally; tests
and the shell use the same real implementations against the local stand-ins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.dex.models import (
    Command,
    CommandSpec,
    CreatedCommand,
    DeviceLiveStatus,
    EligibleDevice,
    Quota,
)
from bot.domain.model import SlackUser


class DexPort(Protocol):
    """The Cloudflare DEX operations the product uses."""

    def iter_devices(self, search: str | None = None) -> AsyncIterator[EligibleDevice]:
        """Every eligible-devices row matching ``search``."""
        ...

    def iter_commands(self, **filters: Any) -> AsyncIterator[Command]:
        """Every command matching the filters, newest first."""
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


class DirectoryPort(Protocol):
    """Slack users and groups."""

    async def user(self, user_id: str) -> SlackUser:
        """A user by ID; raises ``UnknownUser``."""
        ...

    async def is_listed(self, user_id: str, principals: Iterable[str]) -> bool:
        """Whether the user is listed directly or through a user group."""
        ...


class Clock(Protocol):
    """The current time, injectable."""

    def __call__(self) -> datetime:
        """Now, timezone-aware UTC."""
        ...
