"""What the domain needs from the outside world, as small Protocols.

``bot.slackapi.directory.Directory`` satisfies ``DirectoryPort`` structurally; the Cloudflare
side (``DexPort``) is the services' concern and lives in ``bot.services.ports``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from bot.domain.model import SlackUser


class DirectoryPort(Protocol):
    """Slack users and groups."""

    async def user(self, user_id: str) -> SlackUser:
        """A user by ID; raises ``UnknownUser``."""
        ...

    async def is_listed(
        self, user_id: str, principals: Iterable[str], *, fresh: bool = False
    ) -> bool:
        """Whether the user is listed directly or through a user group; ``fresh`` when it
        decides something (approve, deny), so a removed member is refused within seconds."""
        ...


class Clock(Protocol):
    """The current time, injectable."""

    def __call__(self) -> datetime:
        """Now, timezone-aware UTC."""
        ...
