"""What a listener asks for, as one call each: request, approve, deny.

A flow runs the use cases and then brings the request's Slack messages up to date at once
(``deliver_now``) instead of waiting for the worker's next tick; the worker delivers whatever
this could not (a crash here loses nothing: the effects are already in the outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.domain import grammar as g
from bot.domain import rules
from bot.domain.audit import AuditStep
from bot.domain.lifecycle import Effect, EffectKind, Event, Note
from bot.domain.model import CaptureRequest, RequestState
from bot.services.audit import request_trail
from bot.services.capture import CaptureService, Prepared
from bot.services.context import Context
from bot.services.dispatch import dispatch
from bot.store.intents import Intents
from bot.store.replays import Replays

log = logging.getLogger("dexbot.flows")
DeliverNow = Callable[..., Awaitable[int]]
Permalink = Callable[[str, str], Awaitable[str | None]]
_TELL_LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class Submitted:
    """A stored request and what its requester should read now.

    ``told`` is set when the request was cancelled at once (its parent or card could not be
    posted): the answer carries the news instead of a direct message.
    """

    request: CaptureRequest
    permalink: str | None = None
    told: Note | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


class Flows:
    """The listeners' entry points into the application."""

    def __init__(
        self,
        ctx: Context,
        captures: CaptureService,
        deliver_now: DeliverNow,
        permalink: Permalink,
        replays: Replays | None = None,
        intents: Intents | None = None,
    ) -> None:
        self.ctx = ctx
        self.replays = replays
        self.intents = intents
        self.captures = captures
        self.deliver_now = deliver_now
        self.permalink = permalink

    async def first_sight(self, signature: str, slack_timestamp: int) -> bool:
        """Whether this signed request is new (False: a replay, to be ignored)."""
        if self.replays is None:
            return True
        return await self.replays.first_sight(signature, slack_timestamp, self.ctx.clock())

    async def write_down(
        self, *, team_id: str, channel_id: str, user_id: str, text: str
    ) -> str | None:
        """Record a slash command before it is acknowledged (see ``bot.store.intents``);
        the id to ``answered`` once it was answered."""
        if self.intents is None:
            return None
        return await self.intents.open(
            team_id=team_id, channel_id=channel_id, user_id=user_id, text=text, now=self.ctx.clock()
        )

    async def answered(self, intent_id: str | None) -> None:
        """The slash command got its answer: nothing to tell later."""
        if self.intents is not None and intent_id is not None:
            await self.intents.close(intent_id)

    async def check_use(self, user_id: str, *, read_only: bool) -> None:
        """``NotARequester`` unless the user may run this kind of ``/dex`` command."""
        await self.ctx.access.check_use(self.ctx.directory, user_id, read_only=read_only)

    def expand_preset(self, text: str) -> tuple[str, str | None]:
        """``/dex capture @ann vpn-drops`` as the words the preset stands for, and its name
        (None when the text names no preset)."""
        expanded, preset = rules.expand_preset(text, self.ctx.policy.presets)
        return expanded, preset.name if preset else None

    def presets(self) -> list[rules.Preset]:
        """The policy's presets, in the file's order."""
        return list(self.ctx.policy.presets.values())

    async def audit(self, user_id: str, ref: str) -> list[AuditStep]:
        """The steps of one request, for an approver (``NotApprover``, ``UnknownRequest``)."""
        return await request_trail(self.ctx, user_id, ref)

    async def request(
        self,
        ask: g.CaptureAsk,
        *,
        team_id: str,
        channel_id: str,
        requester_id: str,
        preset: str | None = None,
    ) -> Submitted:
        """Pre-flight, store and post a request (``NeedsDeviceChoice`` when the form must ask)."""
        await self.captures.check_grant(requester_id, ask.command_type, preset)
        prepared = await self.captures.prepare(ask, preset=preset)
        return await self.submit(
            prepared, team_id=team_id, channel_id=channel_id, requester_id=requester_id
        )

    async def submit(
        self,
        prepared: Prepared,
        *,
        team_id: str,
        channel_id: str,
        requester_id: str,
        tell_here: bool = True,
    ) -> Submitted:
        """Store a prepared request, post its parent and card now, and say how it went.

        With ``tell_here`` a cancellation is told in the answer (and the direct message that
        would say the same is not sent); otherwise the worker sends that message.
        """
        req = await self.captures.create(
            prepared, team_id=team_id, channel_id=channel_id, requester_id=requester_id
        )
        try:
            await self.deliver_now(request_id=req.id, skip=(EffectKind.TELL_REQUESTER,))
        except Exception:  # the worker will deliver it; the request is safe in the store
            log.warning("request %s: posting now failed; the worker retries", req.short_id)
        now = await self.ctx.requests.get(req.id) or req
        # A rule that may approve by itself does so once the card is up (a request whose
        # card could not be posted is cancelled instead); the card then says which rule.
        if now.card_ts and now.policy.get("auto") == "yes":
            approved = await self.captures.auto_approve(now)
            await self._deliver(req.id)  # the card says which rule approved it, or why not
            if approved:
                await dispatch(self.ctx, req.id, actor=prepared.rule.actor)
                await self._deliver(req.id)
            now = await self.ctx.requests.get(req.id) or now
        if now.state is RequestState.CANCELLED and tell_here:
            facts = await self._take_tell(now)
            if facts is not None:
                return Submitted(now, told=Note.CANCELLED, facts=facts, notes=prepared.notes)
        link = None
        if now.parent_channel and now.parent_ts:
            link = await self.permalink(now.parent_channel, now.parent_ts)
        return Submitted(now, permalink=link, notes=prepared.notes)

    async def _take_tell(self, req: CaptureRequest) -> Mapping[str, Any] | None:
        """Claim the requester's cancellation message, to tell it in the answer instead."""
        key = Effect(EffectKind.TELL_REQUESTER, req.id, Event.CANCELLED).key
        item = await self.ctx.outbox.claim(key, self.ctx.clock(), _TELL_LEASE)
        if item is None:
            return None  # the worker has it
        await self.ctx.outbox.done(key, self.ctx.clock(), {"told": "in the answer"})
        return item.effect.facts

    async def approve(self, request_id: str, approver: str) -> None:
        """Approve, update the card and thread, then send to Cloudflare once."""
        req = await self.captures.approve(request_id, approver)
        await self.deliver_now(request_id=request_id)
        if req.state in (RequestState.PENDING_APPROVAL, RequestState.AWAITING_OWNER):
            return  # one of a quorum, or waiting for the device owner: the card says so
        await dispatch(self.ctx, request_id, actor=approver)
        await self.deliver_now(request_id=request_id)
        await self._refresh_home(approver)

    async def owner_answer(self, request_id: str, user_id: str, *, ok: bool) -> CaptureRequest:
        """The device owner says OK (then it is sent, once) or declines (cancelled)."""
        req = await self.captures.owner_answer(request_id, user_id, ok=ok)
        await self._deliver(request_id)
        if ok:
            await dispatch(self.ctx, request_id, actor=user_id)
            await self._deliver(request_id)
        return await self.ctx.requests.get(request_id) or req

    async def _deliver(self, request_id: str) -> None:
        try:
            await self.deliver_now(request_id=request_id)
        except Exception:  # the worker delivers it
            log.warning("request %s: delivering now failed; the worker retries", request_id[:8])

    async def check_can_deny(self, request_id: str, decider: str) -> CaptureRequest:
        """The pending request if ``decider`` may deny it (before asking for a reason)."""
        return await self.captures.check_can_deny(request_id, decider)

    async def deny(self, request_id: str, decider: str, note: str | None) -> None:
        """Deny (or withdraw) and update the card and thread."""
        await self.captures.deny(request_id, decider, note)
        await self.deliver_now(request_id=request_id)
        await self._refresh_home(decider)

    async def _refresh_home(self, user_id: str) -> None:
        """The decider's own Home, now if its refresh is due (its rows are keyed by the
        user's id); otherwise the worker publishes it when the pacing allows."""
        try:
            await self.deliver_now(request_id=user_id)
        except Exception:
            log.warning("refreshing the Home of %s failed; the worker retries", user_id)
