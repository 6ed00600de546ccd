"""What Slack listeners may use: the application's surface as a small Protocol.

``bot.app.Services`` satisfies it; handlers never see the store, the deliverer or the DEX
client, only these.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.activity import Activity
from bot.config import Settings
from bot.domain.grammar import Limits
from bot.services.flows import Flows
from bot.services.home import HomeService
from bot.services.queries import Queries


class BotApi(Protocol):
    """The listeners' view of the bot (read-only members)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def limits(self) -> Limits: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...
    @property
    def activity(self) -> Activity: ...
    @property
    def flows(self) -> Flows: ...
    @property
    def queries(self) -> Queries: ...
    @property
    def home(self) -> HomeService: ...
