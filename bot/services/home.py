"""The App Home as data: a person's recent requests, the approvals waiting for them, the
quota, and the presets a policy defines. What a listener calls when someone opens the tab.

The words are ``handlers.blocks.home``'s; ``views.publish`` is done by the publisher the
composition root injects (``bot.worker.home``), the same one the outbox's refreshes use.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.dex.models import Quota
from bot.domain.errors import NotARequester
from bot.domain.model import CaptureRequest
from bot.services.context import Context
from bot.store.home import HomeStore

log = logging.getLogger("dexbot.home")
RECENT = 8
MAX_APPROVALS = 15
#: The Home reads the quota from Cloudflare at most this often (each read spends budget).
QUOTA_TTL = timedelta(seconds=30)
Publish = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class HomePreset:
    """A preset as the Home lists it: its name, what it runs, and its description."""

    name: str
    words: str
    description: str = ""


@dataclass(frozen=True)
class HomeData:
    """Everything one person's Home shows. ``approvals`` is None for someone who does not
    approve; ``quota`` is None when Cloudflare could not be asked."""

    user_id: str
    now: datetime
    requests: Sequence[CaptureRequest]
    approvals: Sequence[CaptureRequest] | None
    quota: Quota | None
    presets: Sequence[HomePreset] = ()
    links: dict[str, str] = field(default_factory=dict)  # request id -> its thread
    refused: NotARequester | None = None  # not on dexbot's lists: the Home says only that


def presets_of(policy: Any) -> list[HomePreset]:
    """The presets of an approval policy, if it defines any (``policy.presets``: name ->
    preset with ``words()`` and ``description``); none without a policy."""
    found = getattr(policy, "presets", None) or {}
    out = []
    for name, preset in sorted(dict(found).items()):
        words = preset.words() if callable(getattr(preset, "words", None)) else []
        out.append(HomePreset(str(name), " ".join(words), str(getattr(preset, "description", ""))))
    return out


class HomeService:
    """Builds a person's Home and handles the tab being opened."""

    def __init__(
        self,
        ctx: Context,
        store: HomeStore,
        *,
        presets: Callable[[], Iterable[HomePreset]] = tuple,
    ) -> None:
        self.ctx = ctx
        self.store = store
        self.presets = presets
        self.publish: Publish | None = None  # set by the composition root
        self._quota: tuple[datetime, Quota] | None = None

    async def is_approver(self, user_id: str) -> bool:
        """Whether the approver lists name ``user_id`` (directly or by a group)."""
        return await self.ctx.directory.is_listed(user_id, self.ctx.access.approvers)

    async def data(self, user_id: str) -> HomeData:
        """The person's Home as of now."""
        now = self.ctx.clock()
        try:  # the Home shows what /dex quota and history would: the same access rule
            await self.ctx.access.check_use(self.ctx.directory, user_id, read_only=True)
        except NotARequester as refused:
            return HomeData(user_id, now, [], None, None, refused=refused)
        mine = await self.store.requested_by(user_id, RECENT)
        approvals = None
        if await self.is_approver(user_id):
            waiting = await self.store.awaiting_approval(MAX_APPROVALS + RECENT)
            allow_self = self.ctx.access.allow_self_approval
            approvals = [r for r in waiting if allow_self or r.requester_id != user_id][
                :MAX_APPROVALS
            ]
        return HomeData(
            user_id=user_id,
            now=now,
            requests=mine,
            approvals=approvals,
            quota=await self._read_quota(now),
            presets=list(self.presets()),
        )

    async def _read_quota(self, now: datetime) -> Quota | None:
        if self._quota is not None and now - self._quota[0] < QUOTA_TTL:
            return self._quota[1]
        try:
            quota = await self.ctx.dex.get_quota()
        except Exception:  # a Home without the gauge beats no Home
            log.warning("no quota for the App Home", exc_info=True)
            return self._quota[1] if self._quota else None
        self._quota = (now, quota)
        return quota

    async def opened(self, user_id: str, team_id: str, event_id: str | None) -> bool:
        """Someone opened the Home tab: remember them and publish their Home now. False (and
        nothing published) for a delivery of an event already handled (Slack's retry)."""
        now = self.ctx.clock()
        if event_id and not await self.store.first_delivery(event_id, "app_home_opened", now):
            log.info("app_home_opened %s was handled already; Slack retried it", event_id)
            return False
        approver = await self.is_approver(user_id)
        await self.store.opened(user_id, team_id, approver=approver, now=now)
        assert self.publish is not None, "the composition root sets the publisher"
        await self.publish(user_id)
        return True
