"""What the use cases need, as a Protocol that ``bot.app.Services`` satisfies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.config import Settings
from bot.dex.client import DexClient
from bot.domain.grammar import Limits
from bot.domain.policy import AccessPolicy
from bot.domain.rules import Policy
from bot.slackapi.directory import Directory
from bot.store.leases import Leases
from bot.store.outbox import Outbox
from bot.store.transitions import RequestStore


class Context(Protocol):
    """Adapters and settings shared by the use cases (read-only members)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def dex(self) -> DexClient: ...
    @property
    def directory(self) -> Directory: ...
    @property
    def requests(self) -> RequestStore: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def access(self) -> AccessPolicy: ...
    @property
    def limits(self) -> Limits: ...
    @property
    def policy(self) -> Policy: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...
    @property
    def leases(self) -> Leases: ...
    @property
    def owner(self) -> str: ...
