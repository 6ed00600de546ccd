"""Performs outbox rows: one performer per effect kind (``PERFORMERS``). Exactly once:

- a row is claimed with a lease before anything is sent, and the lease is renewed while the
  effect runs (an upload can take minutes), so a live deliverer never loses its row while a
  dead one's rows come back after one short lease;
- every post carries the row's key in Slack message metadata; a row that may have reached
  Slack before (found ``sending`` with an expired lease, or failed earlier with a timeout) is
  looked up by that key (``conversations.history`` / ``conversations.replies``) before it is
  posted again;
- edits (``chat.update``) render the request's current state and always send blocks, so
  repeating one is harmless; a post re-renders right after recording where it landed, so a
  state change while it was in flight is never lost;
- a thread reply whose thread is not posted yet waits for it (``defer``) without using up
  an attempt;
- giving up is an outbox row or a lifecycle step of its own (the parent or card that cannot
  be posted cancels the request; the upload that cannot be done gets a note), so those
  happen exactly once too.

Slow rows (``SLOW``: an artifact upload, a summary that downloads and parses it) run in a
*lane* of their own request, beside the pass that delivers everyone else's rows, at most
``dex_upload_concurrency`` lanes at once. A lane then delivers the rest of its request's due
rows in order, and while it runs the pass leaves that request's rows alone, so one request's
messages never overtake each other while a 500 MB upload cannot hold up another request's
thread. A lane's row is claimed and leased like any other (renewed while it runs), so a
killed process's upload comes back after one lease, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.lifecycle import OUTCOME_NOTES, Effect, EffectKind, Event, Note
from bot.domain.model import CaptureRequest, RequestState
from bot.domain.quota import Forecast
from bot.insight import FailureExplanation, StatusChange
from bot.metrics import Metrics
from bot.services.capture import CaptureService
from bot.services.context import Context
from bot.services.insight import Insight
from bot.store.outbox import DONE, FAILED, OutboxItem
from bot.worker.artifacts import METADATA_EVENT
from bot.worker.pacing import Holds, scopes_for
from bot.worker.retry import RetryPolicy, slack_error

log = logging.getLogger("dexbot.deliver")

#: The longest a row's lease may be; it is four poll intervals within [MIN_LEASE, LEASE].
LEASE = timedelta(seconds=120)
MIN_LEASE = timedelta(seconds=2)
#: How soon a row waiting for its thread looks again.
DEFER = timedelta(seconds=1)
#: The kinds that may take minutes (a download and an upload, or a parse): run in lanes.
SLOW = frozenset({EffectKind.UPLOAD, EffectKind.SUMMARY})
#: The most passes a lane makes over its request's rows before handing back to the worker.
LANE_PASSES = 20
#: Slack answers meaning the bot cannot reach the request's thread until a person acts
#: (``/invite``, unarchiving): kept and retried this often, not dropped after six tries.
UNREACHABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
#: Everything that goes into (or edits) the request's thread in the requester's channel.
THREAD_KINDS = frozenset(
    {
        EffectKind.THREAD_NOTE,
        EffectKind.THREAD_STATUS,
        EffectKind.UPLOAD,
        EffectKind.SUMMARY,
        EffectKind.STATUS_AFTER,
        EffectKind.EDIT_PARENT,
    }
)
UNREACHABLE_RETRY = timedelta(minutes=15)
#: An edit renders the request's current state, so a later queued edit of the same message
#: makes an earlier one pointless: chat.update is Tier 3 (about 50 a minute per workspace).
SUPERSEDED = "a later edit of this message is queued"

HOUR = timedelta(hours=1)


def lease_for(poll_interval_seconds: float) -> timedelta:
    """How long a claimed row stays ours without renewal: long enough to ride out a stalled
    event loop, short enough that a replacement takes over soon after a crash."""
    return max(MIN_LEASE, min(LEASE, timedelta(seconds=4 * poll_interval_seconds)))


class RenderedLike(Protocol):
    """What renderers return: fallback text and blocks."""

    @property
    def text(self) -> str: ...
    @property
    def blocks(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Renderers:
    """Pure renderers injected by the composition root (they live in ``handlers.blocks``)."""

    parent: Callable[..., RenderedLike]  # (req, *, now, approval_channel)
    card: Callable[..., RenderedLike]  # (req, forecast, *, now)
    thread_status: Callable[[Mapping[str, Any]], RenderedLike]
    note: Callable[[Note, Mapping[str, Any], CaptureRequest], RenderedLike]
    requester: Callable[[Note, Mapping[str, Any], CaptureRequest], RenderedLike]
    summary: Callable[..., RenderedLike]  # (summary, *, label)
    status_after: Callable[[list[tuple[str, StatusChange]]], RenderedLike]
    failure: Callable[[FailureExplanation], RenderedLike]
    owner_ask: Callable[[CaptureRequest], RenderedLike]
    owner_note: Callable[[Note, Mapping[str, Any], CaptureRequest], RenderedLike]
    #: A slash command its process never answered, from the command's text.
    dropped: Callable[[str], RenderedLike] | None = None


class Deferred(Exception):
    """The effect waits on another one (its thread is not posted yet)."""


Upload = Callable[[OutboxItem, CaptureRequest], Awaitable[dict[str, Any]]]
PublishHome = Callable[[str], Awaitable[dict[str, Any]]]
Performer = Callable[["Deliverer", OutboxItem, CaptureRequest], Awaitable[dict[str, Any]]]


@dataclass
class Deliverer:
    """Claims due outbox rows and performs them against Slack."""

    ctx: Context
    slack: AsyncWebClient
    render: Renderers
    upload: Upload | None = None
    home: PublishHome | None = None  # bot.worker.home.HomePublisher
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    metrics: Metrics | None = None
    insight: Insight | None = None
    lanes: dict[str, asyncio.Task[None]] = field(default_factory=dict, repr=False)
    #: Places Slack rate-limited, and until when (``bot.worker.pacing``).
    holds: Holds = field(default_factory=Holds, repr=False)

    @property
    def lease(self) -> timedelta:
        """The lease a claimed row gets."""
        return lease_for(self.ctx.settings.dex_poll_interval_seconds)

    async def run_once(
        self,
        *,
        request_id: str | None = None,
        limit: int = 50,
        skip: tuple[EffectKind, ...] = (),
    ) -> int:
        """Deliver what is due (optionally only one request's rows); returns how many were
        done. It goes on while what it delivered made more due (a post, then the edits it
        makes due; a give-up note), a few passes at most."""
        total = 0
        # Rows a pass makes due (a post's follow-ups, a give-up note) go out in the same call.
        for _ in range(5 if request_id else 3):
            tried, done = await self._pass(request_id, limit, skip)
            total += done
            if not tried:
                break
        return total

    async def _pass(
        self, request_id: str | None, limit: int, skip: tuple[EffectKind, ...]
    ) -> tuple[int, int]:
        """One pass over what is due now: (rows claimed, rows done)."""
        tried = done = 0
        held: set[str] = set()  # requests whose later rows wait this pass (order is kept)
        for key in await self.ctx.outbox.due(self.ctx.clock(), limit, request_id=request_id):
            if any(f":{kind.value}:" in key for kind in skip):
                continue
            rid = key.split(":", 1)[0]
            if rid in held or rid in self.lanes:
                continue  # its lane delivers it, in order
            if any(f":{kind.value}:" in key for kind in SLOW):
                if len(self.lanes) < self.ctx.settings.dex_upload_concurrency:
                    self._open_lane(rid)
                held.add(rid)
                continue
            item = await self.ctx.outbox.claim(key, self.ctx.clock(), self.lease)
            if item is not None:
                tried += 1
                done += await self._deliver(item)
        return tried, done

    def _open_lane(self, request_id: str) -> None:
        """Deliver this request's due rows in order, in a task of its own."""

        async def lane() -> None:
            try:
                for _ in range(LANE_PASSES):
                    if not await self._lane_pass(request_id):
                        break
            except Exception:  # its rows stay due; the next pass opens a new lane
                log.exception("the delivery lane of %s failed", request_id)
            finally:
                self.lanes.pop(request_id, None)

        self.lanes[request_id] = asyncio.create_task(lane(), name=f"outbox-lane-{request_id}")

    async def _lane_pass(self, request_id: str) -> int:
        done = 0
        for key in await self.ctx.outbox.due(self.ctx.clock(), 50, request_id=request_id):
            item = await self.ctx.outbox.claim(key, self.ctx.clock(), self.lease)
            if item is not None:
                done += await self._deliver(item)
        return done

    async def settle(self) -> None:
        """Wait until every open lane has finished (tests; a draining shutdown)."""
        while self.lanes:
            await asyncio.gather(*list(self.lanes.values()), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop the lanes: their rows stay leased and come back after one lease, looked up in
        Slack first (an interrupted attempt), like a killed process's."""
        tasks = list(self.lanes.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(self, item: OutboxItem) -> int:
        if item.kind is EffectKind.REFRESH_HOME:
            return await self._refresh_home(item)
        req = await self.ctx.requests.get(item.request_id)
        if req is None:
            await self.ctx.outbox.fail(item.key, self.ctx.clock(), "request gone")
            return 0
        now = self.ctx.clock()
        held = self.holds.held(scopes_for(item.kind, req, self.approval_channel), now)
        if held is not None:  # Slack said "not now" to this place: wait with it, untried
            await self.ctx.outbox.defer(item.key, now, held)
            return 0
        try:
            async with self._holding(item.key):
                result = await PERFORMERS[item.kind](self, item, req)
        except Deferred:
            now = self.ctx.clock()
            await self.ctx.outbox.defer(item.key, now, now + DEFER)
            return 0
        except Exception as exc:  # one bad row must not stop the others
            if slack_error(exc) is None:
                log.warning("outbox %s failed", item.key, exc_info=True)
            else:
                log.warning("outbox %s: Slack answered %s", item.key, slack_error(exc))
            return await self._failed(item, req, exc)
        await self.ctx.outbox.done(item.key, self.ctx.clock(), result)
        return 1

    async def _refresh_home(self, item: OutboxItem) -> int:
        """A person's Home (its row holds their user id where a request's id would be).
        Publishing again is harmless, so an interrupted row is simply done again."""
        now = self.ctx.clock()
        if self.home is None:
            await self.ctx.outbox.fail(item.key, now, "no Home publisher configured")
            return 0
        try:
            result = await self.home(item.request_id)
        except Exception as exc:
            log.warning("outbox %s: %s", item.key, slack_error(exc) or type(exc).__name__)
            if slack_error(exc) == "ratelimited" and isinstance(exc, SlackApiError):
                await self.ctx.outbox.defer(item.key, now, self.holds.note(exc, now))
                return 0
            decision = self.policy.decide(exc, item.attempts)
            if decision.give_up:
                await self.ctx.outbox.fail(item.key, now, decision.reason)
            else:
                assert decision.delay is not None
                await self.ctx.outbox.retry(item.key, now, now + decision.delay, decision.reason)
            return 0
        await self.ctx.outbox.done(item.key, self.ctx.clock(), result)
        return 1

    @contextlib.asynccontextmanager
    async def _holding(self, key: str) -> AsyncIterator[None]:
        """Renew the row's lease every third of it while the effect runs."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lease.total_seconds() / 3)
                try:
                    await self.ctx.outbox.renew(key, self.ctx.clock(), self.lease)
                except Exception:  # the next renewal may work; the lease has slack for it
                    log.warning("could not renew the lease on %s", key, exc_info=True)

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def approval_channel(self) -> str | None:
        """Where cards go, when not in the requester's channel."""
        return self.ctx.settings.dex_approval_channel

    async def _failed(self, item: OutboxItem, req: CaptureRequest, exc: BaseException) -> int:
        now = self.ctx.clock()
        if slack_error(exc) == "ratelimited" and isinstance(exc, SlackApiError):
            # Slack did nothing: due again after Retry-After, no attempt used, never given up.
            await self.ctx.outbox.defer(item.key, now, self.holds.note(exc, now))
            return 0
        if slack_error(exc) in UNREACHABLE and item.kind in THREAD_KINDS:
            return await self._unreachable(item, req, str(slack_error(exc)), now)
        decision = self.policy.decide(exc, item.attempts)
        if not decision.give_up:
            assert decision.delay is not None
            await self.ctx.outbox.retry(item.key, now, now + decision.delay, decision.reason)
            return 0
        log.error("outbox %s gave up after %d attempts: %s", item.key, item.attempts, exc)
        then: list[Effect] = []
        if item.kind in (EffectKind.POST_PARENT, EffectKind.POST_CARD):
            # Nobody can approve a request without its card (or follow it without its
            # parent): close it, release what it holds, tell the requester.
            which = "parent" if item.kind is EffectKind.POST_PARENT else "card"
            await CaptureService(self.ctx).cancel(req.id, why=which, error=decision.reason)
        elif item.kind is EffectKind.UPLOAD:
            then.append(
                Effect(
                    EffectKind.THREAD_NOTE,
                    req.id,
                    item.effect.cause,
                    f"{item.effect.tag}:gave-up",
                    Note.UPLOAD_GAVE_UP,
                    {"attempts": item.attempts, "error": decision.reason},
                )
            )
        await self.ctx.outbox.fail(item.key, now, decision.reason, then=then)
        return 0

    async def _unreachable(
        self, item: OutboxItem, req: CaptureRequest, error: str, now: datetime
    ) -> int:
        """The thread cannot be reached: tell the requester once, keep the row and retry it
        on a long back-off until the setting's deadline, then give up and say so, once."""
        keep = timedelta(seconds=self.ctx.settings.dex_undeliverable_keep_seconds)
        deadline = (item.created_at or now) + keep
        facts = {"error": error, "channel": req.channel_id, "hours": round(keep / HOUR, 1)}
        if now < deadline:
            tell = Effect(
                EffectKind.TELL_REQUESTER,
                req.id,
                Event.COMMAND_STATUS,
                "thread-unreachable",
                Note.THREAD_UNREACHABLE,
                facts,
            )
            await self.ctx.outbox.add_once(tell, now)
            at = min(deadline, now + UNREACHABLE_RETRY)
            await self.ctx.outbox.retry(item.key, now, at, error)
            return 0
        log.error("outbox %s gave up: the thread stayed unreachable (%s)", item.key, error)
        gave_up = Effect(
            EffectKind.TELL_REQUESTER,
            req.id,
            Event.COMMAND_STATUS,
            "thread-gave-up",
            Note.THREAD_GAVE_UP,
            facts,
        )
        await self.ctx.outbox.add_once(gave_up, now)
        await self.ctx.outbox.fail(item.key, now, error)
        return 0

    # -- the performers ------------------------------------------------------------------

    async def post_parent(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """The request's message in the requester's channel (joining a public channel)."""
        if req.parent_ts:
            return {"ts": req.parent_ts, "recovered": True}
        if req.state is RequestState.CANCELLED:
            return {"skipped": "cancelled"}
        channel = req.channel_id
        channel, ts = await self._post_top(item, req, channel, self._parent(req))
        await self.ctx.requests.set_messages(req.id, parent_channel=channel, parent_ts=ts)
        await self._refresh(req, EffectKind.EDIT_PARENT, channel, ts)
        return {"ts": ts}

    async def post_card(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """The approval card, in the approvals channel (or the requester's)."""
        if req.card_ts:
            return {"ts": req.card_ts, "recovered": True}
        if req.state is RequestState.CANCELLED:
            return {"skipped": "cancelled"}
        channel = self.approval_channel or req.channel_id
        channel, ts = await self._post_top(item, req, channel, await self._card(req))
        await self.ctx.requests.set_messages(req.id, card_channel=channel, card_ts=ts)
        await self._refresh(req, EffectKind.EDIT_CARD, channel, ts)
        return {"ts": ts}

    async def edit_parent(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """Edit the parent to show the request's current state."""
        if not (req.parent_channel and req.parent_ts):
            return {"skipped": "no parent yet; its post renders the current state"}
        if await self.ctx.outbox.superseded(item):
            return {"skipped": SUPERSEDED}
        r = self._parent(req)
        await self.slack.chat_update(
            channel=req.parent_channel, ts=req.parent_ts, text=r.text, blocks=r.blocks
        )
        return {"ts": req.parent_ts}

    async def edit_card(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """Edit the card to show the request's current state (buttons only while open)."""
        if not (req.card_channel and req.card_ts):
            return {"skipped": "no card yet; its post renders the current state"}
        if await self.ctx.outbox.superseded(item):
            return {"skipped": SUPERSEDED}
        r = await self._card(req)
        await self.slack.chat_update(
            channel=req.card_channel, ts=req.card_ts, text=r.text, blocks=r.blocks
        )
        return {"ts": req.card_ts}

    async def thread_note(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """A note in the request's thread."""
        assert item.effect.note is not None
        r = self.render.note(item.effect.note, item.effect.facts, req)
        return await self.post_in_thread(item, req, r.text, r.blocks)

    async def thread_status(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """A command's new status in the thread."""
        r = self.render.thread_status(item.effect.facts)
        blocks = list(r.blocks)
        facts = item.effect.facts
        if facts.get("status") == "FAILED" and self.insight is not None:
            why = self.render.failure(await self.insight.why_failed(req, str(facts["command_id"])))
            blocks += why.blocks
        result = await self.post_in_thread(item, req, r.text, blocks)
        if self.metrics is not None and item.created_at is not None and "ts" in result:
            delay = (self.ctx.clock() - item.created_at).total_seconds()
            self.metrics.observe_thread_post(delay)
        return result

    async def relay(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """The artifact into the thread (``bot.worker.artifacts``)."""
        if self.upload is None:
            raise RuntimeError("no uploader configured")
        try:
            await self.thread_of(req, item)
        except _NoThread:
            return {"skipped": "no thread"}
        return await self.upload(item, req)

    async def summary(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """What the artifact says, in the thread next to it (the upload happens anyway)."""
        if self.insight is None:
            return {"skipped": "no insight configured"}
        try:
            await self.thread_of(req, item)
        except _NoThread:
            return {"skipped": "no thread"}
        if item.interrupted:  # don't download again for a summary already posted
            channel, thread_ts = await self.thread_of(req, item)
            if ts := await self.find_posted(channel, thread_ts, item.key):
                return {"ts": ts, "recovered": True}
        f = item.effect.facts
        kind = str(f.get("command_type") or req.command_type)
        made = await self.insight.summary(kind, str(f["command_id"]), f.get("filename"))
        if self.metrics is not None:
            self.metrics.observe_summary(kind, ok=type(made).__name__ != "Unreadable")
        r = self.render.summary(made, label=f.get("device"))
        return await self.post_in_thread(item, req, r.text, r.blocks)

    async def status_after(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """Each device's live status now, and what changed since the request was made."""
        if self.insight is None:
            return {"skipped": "no insight configured"}
        changes = [(d.name, await self.insight.status_change(d)) for d in req.devices[:10]]
        r = self.render.status_after(changes)
        return await self.post_in_thread(item, req, r.text, r.blocks)

    async def tell_requester(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """A direct message to the requester. At most once: an interrupted attempt is not
        repeated, since finding it again would need DM history the app cannot read."""
        if item.interrupted:
            return {"skipped": "interrupted; not repeated"}
        note = item.effect.note
        assert note is not None
        facts = dict(item.effect.facts)
        if note in OUTCOME_NOTES:
            if not self.ctx.policy.tell_requester:
                return {"skipped": "turned off by the policy"}
            if req.requester_id in (facts.get("decider"), facts.get("approver")):
                return {"skipped": "their own decision"}
            facts["link"] = await self._thread_link(req)
        r = self.render.requester(note, facts, req)
        resp = await self.slack.chat_postMessage(
            channel=req.requester_id, text=r.text, blocks=r.blocks
        )
        return {"ts": resp.get("ts")}

    # -- helpers ---------------------------------------------------------------------------

    async def _thread_link(self, req: CaptureRequest) -> str | None:
        if not (req.parent_channel and req.parent_ts):
            return None
        try:
            resp = await self.slack.chat_getPermalink(
                channel=req.parent_channel, message_ts=req.parent_ts
            )
        except SlackApiError:
            return None  # the message says what happened without the link
        return str(resp.get("permalink") or "") or None

    def _parent(self, req: CaptureRequest) -> RenderedLike:
        return self.render.parent(req, now=self.ctx.clock(), approval_channel=self.approval_channel)

    async def _card(self, req: CaptureRequest) -> RenderedLike:
        return self.render.card(req, await self._forecast(req), now=self.ctx.clock())

    async def _refresh(
        self, before: CaptureRequest, kind: EffectKind, channel: str, ts: str
    ) -> None:
        """After a post landed: edit it if the request moved on while it was in flight."""
        now = await self.ctx.requests.get(before.id)
        if now is None or now.state is before.state:
            return
        r = self._parent(now) if kind is EffectKind.EDIT_PARENT else await self._card(now)
        await self.slack.chat_update(channel=channel, ts=ts, text=r.text, blocks=r.blocks)

    async def _post_top(
        self, item: OutboxItem, req: CaptureRequest, channel: str, r: RenderedLike
    ) -> tuple[str, str]:
        """Post a top-level message once (looking it up first after an interruption); the
        channel id Slack answered with (a user id posts into the DM, ``D…``) and the ts."""
        if item.interrupted:
            found = await self.find_top_level(channel, item.key, req.created_at)
            if found is not None:
                return channel, found
        meta = {"event_type": METADATA_EVENT, "event_payload": {"key": item.key}}
        try:
            resp = await self.slack.chat_postMessage(
                channel=channel, text=r.text, blocks=r.blocks, metadata=meta
            )
        except SlackApiError as exc:
            if slack_error(exc) != "not_in_channel":
                raise
            await self.slack.conversations_join(channel=channel)  # public channels only
            resp = await self.slack.chat_postMessage(
                channel=channel, text=r.text, blocks=r.blocks, metadata=meta
            )
        return str(resp.get("channel") or channel), str(resp["ts"])

    async def thread_of(self, req: CaptureRequest, item: OutboxItem) -> tuple[str, str]:
        """The request's thread; ``Deferred`` while its parent is still being posted."""
        if req.parent_channel and req.parent_ts:
            return req.parent_channel, req.parent_ts
        parent = await self.ctx.outbox.get(
            Effect(EffectKind.POST_PARENT, req.id, Event.REQUESTED).key
        )
        if parent is not None and parent.state not in (DONE, FAILED):
            raise Deferred()
        raise _NoThread()

    async def post_in_thread(
        self, item: OutboxItem, req: CaptureRequest, text: str, blocks: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Post once into the request's thread (checking first after an interruption)."""
        try:
            channel, thread_ts = await self.thread_of(req, item)
        except _NoThread:
            return {"skipped": "no thread"}
        if item.interrupted:
            ts = await self.find_posted(channel, thread_ts, item.key)
            if ts is not None:
                return {"ts": ts, "recovered": True}
        resp = await self.slack.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            blocks=blocks,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": item.key}},
        )
        return {"ts": resp.get("ts")}

    async def find_posted(self, channel: str, thread_ts: str, key: str) -> str | None:
        """The ts of a reply in the thread that carries ``key`` in its metadata, if any."""

        async def page(cursor: str | None) -> Any:
            return await self.slack.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=200, cursor=cursor
            )

        return await self._find(page, key)

    async def find_top_level(self, channel: str, key: str, since: datetime) -> str | None:
        """The ts of a top-level message carrying ``key``, posted since ``since``."""
        oldest = f"{since.timestamp() - 60:.6f}"

        async def page(cursor: str | None) -> Any:
            return await self.slack.conversations_history(
                channel=channel, oldest=oldest, include_all_metadata=True, limit=200, cursor=cursor
            )

        return await self._find(page, key)

    async def _find(self, page: Callable[[str | None], Awaitable[Any]], key: str) -> str | None:
        cursor: str | None = None
        for _ in range(20):  # a request's messages are few and recent; bound the scan anyway
            resp = await page(cursor)
            for msg in resp.get("messages") or []:
                meta = msg.get("metadata") or {}
                if (meta.get("event_payload") or {}).get("key") == key:
                    return str(msg.get("ts"))
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None

    async def _forecast(self, req: CaptureRequest) -> Forecast | None:
        if not req.state.is_open:
            return None
        try:
            return await CaptureService(self.ctx).forecast(req.units)
        except Exception:  # a card without a forecast beats no card
            log.warning("no quota forecast for the card of %s", req.short_id, exc_info=True)
            return None


class _NoThread(Exception):
    """The request has no thread and never will (its parent could not be posted)."""


async def _remind(d: Deliverer, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
    """The escalation reminder, under the card and broadcast to the approvals channel;
    skipped once the request is decided."""
    if req.state is not RequestState.PENDING_APPROVAL:
        return {"skipped": "decided meanwhile"}
    if not (req.card_channel and req.card_ts):
        return {"skipped": "no card"}
    if item.interrupted:
        ts = await d.find_posted(req.card_channel, req.card_ts, item.key)
        if ts is not None:
            return {"ts": ts, "recovered": True}
    assert item.effect.note is not None
    r = d.render.note(item.effect.note, item.effect.facts, req)
    resp = await d.slack.chat_postMessage(
        channel=req.card_channel,
        thread_ts=req.card_ts,
        reply_broadcast=True,
        text=r.text,
        blocks=r.blocks,
        metadata={"event_type": METADATA_EVENT, "event_payload": {"key": item.key}},
    )
    return {"ts": resp.get("ts")}


async def _ask_owner(d: Deliverer, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
    """Ask the device's owner for their OK, once (an interrupted attempt is not repeated: the
    request expires, with its quota released, if the owner never sees it)."""
    if item.interrupted:
        return {"skipped": "interrupted; not repeated"}
    if req.state is not RequestState.AWAITING_OWNER or not req.target_user_id:
        return {"skipped": "no longer waiting for the owner"}
    r = d.render.owner_ask(req)
    resp = await d.slack.chat_postMessage(channel=req.target_user_id, text=r.text, blocks=r.blocks)
    return {"ts": resp.get("ts")}


async def _tell_owner(d: Deliverer, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
    """Tell the device's owner (``device_owner: notify``), at most once."""
    if item.interrupted:
        return {"skipped": "interrupted; not repeated"}
    if not req.target_user_id or item.effect.note is None:
        return {"skipped": "no owner to tell"}
    r = d.render.owner_note(item.effect.note, item.effect.facts, req)
    resp = await d.slack.chat_postMessage(channel=req.target_user_id, text=r.text, blocks=r.blocks)
    return {"ts": resp.get("ts")}


#: Every kind but ``REFRESH_HOME``, which belongs to a person, not a request (``_refresh_home``).
PERFORMERS: dict[EffectKind, Performer] = {
    EffectKind.ASK_OWNER: _ask_owner,
    EffectKind.TELL_OWNER: _tell_owner,
    EffectKind.REMIND: _remind,
    EffectKind.POST_PARENT: Deliverer.post_parent,
    EffectKind.POST_CARD: Deliverer.post_card,
    EffectKind.EDIT_PARENT: Deliverer.edit_parent,
    EffectKind.EDIT_CARD: Deliverer.edit_card,
    EffectKind.THREAD_NOTE: Deliverer.thread_note,
    EffectKind.THREAD_STATUS: Deliverer.thread_status,
    EffectKind.UPLOAD: Deliverer.relay,
    EffectKind.TELL_REQUESTER: Deliverer.tell_requester,
    EffectKind.SUMMARY: Deliverer.summary,
    EffectKind.STATUS_AFTER: Deliverer.status_after,
}
