"""Performs outbox rows: thread replies, edits of the parent message and approval card, and
(through ``bot.worker.artifacts``) uploads. Exactly once:

- a row is claimed with a lease before anything is sent, and the lease is renewed while the
  effect runs (an upload can take minutes), so a live deliverer never loses its row while a
  dead one's rows come back after one short lease;
- thread replies carry the row's key in Slack message metadata; a row that may have reached
  Slack before (found ``sending`` with an expired lease because its deliverer died mid-flight,
  or failed earlier with a timeout) is checked against the thread (``conversations.replies``)
  before it is posted again;
- edits (``chat.update``) render the request's current state, so repeating one is harmless;
- when an upload is given up, the note saying so is an outbox row of its own, enqueued with
  the failure, so it too is posted exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.dex.errors import DexError
from bot.domain.errors import inert
from bot.domain.model import CaptureRequest
from bot.domain.quota import Forecast
from bot.services.context import Context
from bot.store.outbox import OutboxItem
from bot.worker.artifacts import METADATA_EVENT, UploadFailed

log = logging.getLogger("dexbot.deliver")

#: The longest a row's lease may be; it is four poll intervals within [MIN_LEASE, LEASE].
LEASE = timedelta(seconds=120)
MIN_LEASE = timedelta(seconds=2)
MAX_ATTEMPTS = 6


def lease_for(poll_interval_seconds: float) -> timedelta:
    """How long a claimed row stays ours without renewal: long enough to ride out a stalled
    event loop, short enough that a replacement takes over soon after a crash."""
    return max(MIN_LEASE, min(LEASE, timedelta(seconds=4 * poll_interval_seconds)))


def plain_words(exc: BaseException) -> str:
    """What went wrong, for people reading the thread."""
    if isinstance(exc, UploadFailed):
        return f"Slack did not accept the file ({exc})"
    if isinstance(exc, SlackApiError):
        return f"Slack refused it: {exc.response.get('error') or 'unknown error'}"
    if isinstance(exc, DexError):
        return "the download from Cloudflare kept failing"
    if isinstance(exc, TimeoutError | OSError):
        return "the connection kept failing"
    return f"an unexpected error ({type(exc).__name__})"


class RenderedLike(Protocol):
    """What renderers return: fallback text and blocks."""

    @property
    def text(self) -> str: ...
    @property
    def blocks(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Renderers:
    """Pure renderers injected by the wiring (they live with the Slack transport)."""

    parent: Callable[..., RenderedLike]
    card: Callable[..., RenderedLike]
    thread_status: Callable[..., RenderedLike]
    thread_note: Callable[[str], RenderedLike]


Upload = Callable[[OutboxItem, CaptureRequest], Awaitable[dict[str, Any]]]


class Deliverer:
    """Claims due outbox rows and performs them against Slack."""

    def __init__(
        self,
        ctx: Context,
        slack: AsyncWebClient,
        renderers: Renderers,
        *,
        upload: Upload | None = None,
    ) -> None:
        self.ctx = ctx
        self.slack = slack
        self.render = renderers
        self.upload = upload
        self.lease = lease_for(ctx.settings.dex_poll_interval_seconds)

    async def run_once(self, *, request_id: str | None = None, limit: int = 50) -> int:
        """Deliver what is due (optionally only one request's rows); returns how many were done."""
        done = 0
        for key in await self.ctx.outbox.due(self.ctx.clock(), limit=limit):
            if request_id is not None and not key.startswith(request_id):
                continue
            item = await self.ctx.outbox.claim(key, self.ctx.clock(), self.lease)
            if item is None:
                continue
            done += await self._deliver(item)
        return done

    async def _deliver(self, item: OutboxItem) -> int:
        req = await self.ctx.requests.get(item.request_id)
        now = self.ctx.clock()
        if req is None:
            await self.ctx.outbox.fail(item.key, now, "request gone")
            return 0
        try:
            async with self._holding(item.key):
                result = await self._perform(item, req)
        except SlackApiError as exc:
            error = exc.response.get("error") or "slack_error"
            log.warning("outbox %s: Slack answered %s", item.key, error)
            return await self._failed(item, error, plain_words(exc))
        except Exception as exc:  # one bad row must not stop the others
            log.exception("outbox %s failed", item.key)
            return await self._failed(item, f"{type(exc).__name__}: {exc}", plain_words(exc))
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

    async def _failed(self, item: OutboxItem, error: str, words: str) -> int:
        now = self.ctx.clock()
        if item.attempts >= MAX_ATTEMPTS:
            then: list[tuple[str, str, str, dict[str, Any]]] = []
            if item.kind == "upload":
                text = (
                    f"I couldn't upload the result into this thread after {item.attempts} "
                    f"tries: {inert(words, 200)}. It is still in the Cloudflare dashboard."
                )
                then.append((f"{item.key}:gave-up", item.request_id, "note", {"text": text}))
            await self.ctx.outbox.fail(item.key, now, error, then=then)
            log.error("outbox %s gave up after %d attempts: %s", item.key, item.attempts, error)
            return 0
        delay = timedelta(seconds=min(300, 2**item.attempts))
        await self.ctx.outbox.retry(item.key, now, now + delay, error)
        return 0

    async def _perform(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        now = self.ctx.clock()
        if item.kind == "card":
            if not (req.card_channel and req.card_ts):
                return {"skipped": "no card"}
            forecast = await self._forecast(req)
            r = self.render.card(req, forecast, now=now)
            await self.slack.chat_update(
                channel=req.card_channel, ts=req.card_ts, text=r.text, blocks=r.blocks
            )
            return {"ts": req.card_ts}
        if item.kind == "parent":
            if not (req.parent_channel and req.parent_ts):
                return {"skipped": "no parent"}
            r = self.render.parent(
                req, now=now, approval_channel=self.ctx.settings.dex_approval_channel
            )
            await self.slack.chat_update(
                channel=req.parent_channel, ts=req.parent_ts, text=r.text, blocks=r.blocks
            )
            return {"ts": req.parent_ts}
        if item.kind == "upload":
            if self.upload is None:
                raise RuntimeError("no uploader configured")
            return await self.upload(item, req)
        if item.kind == "status":
            p = item.payload
            r = self.render.thread_status(
                p["device_name"], p["command_id"], p["status"], detail=p.get("detail")
            )
        else:
            r = self.render.thread_note(item.payload["text"])
        return await self.post_in_thread(item, req, r.text, r.blocks)

    async def post_in_thread(
        self, item: OutboxItem, req: CaptureRequest, text: str, blocks: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Post once into the request's thread (checking first after an interruption)."""
        if not (req.parent_channel and req.parent_ts):
            return {"skipped": "no thread"}
        if item.interrupted:
            ts = await self.find_posted(req.parent_channel, req.parent_ts, item.key)
            if ts is not None:
                return {"ts": ts, "recovered": True}
        resp = await self.slack.chat_postMessage(
            channel=req.parent_channel,
            thread_ts=req.parent_ts,
            text=text,
            blocks=blocks,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": item.key}},
        )
        return {"ts": resp.get("ts")}

    async def find_posted(self, channel: str, thread_ts: str, key: str) -> str | None:
        """The ts of a reply in the thread that carries ``key`` in its metadata, if any."""
        cursor: str | None = None
        for _ in range(20):  # threads of a request are short; bound the scan anyway
            resp = await self.slack.conversations_replies(
                channel=channel,
                ts=thread_ts,
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
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
        from bot.services.capture import CaptureService

        try:
            return await CaptureService(self.ctx).forecast(req.units)
        except Exception:  # a card without a forecast beats no card
            log.warning("no quota forecast for the card of %s", req.short_id, exc_info=True)
            return None
