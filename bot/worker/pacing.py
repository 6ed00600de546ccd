"""Slack's rate limits, remembered between outbox rows.

Slack limits each method per workspace, and ``chat.postMessage`` also per channel (about one
a second, with short bursts). A 429 means Slack did nothing, so the row is simply due again
once ``Retry-After`` has passed, without using up an attempt: a post is never given up for
being rate-limited. And the wait applies to the place, not only to the row: every other row
bound for the same method (and channel, for posts) waits too, instead of each discovering
the limit with a call of its own, while rows for other channels and methods go on.

The deliverer's Slack client therefore does not wait out 429s in line
(``without_rate_limit_waits``): one sleeping call would hold up the whole pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.lifecycle import EffectKind
from bot.domain.model import CaptureRequest

#: (method, channel): the channel only for chat.postMessage, whose limit is per channel.
Scope = tuple[str, str]
POST = "chat.postMessage"
#: Kinds posted into the request's thread (or its channel) with chat.postMessage.
_IN_THREAD = frozenset(
    {EffectKind.THREAD_NOTE, EffectKind.THREAD_STATUS, EffectKind.SUMMARY, EffectKind.STATUS_AFTER}
)
_EDITS = frozenset({EffectKind.EDIT_CARD, EffectKind.EDIT_PARENT})


def scope_of(method: str, args: dict[str, Any]) -> Scope:
    """Where a call's rate limit applies."""
    return (method, str(args.get("channel") or "")) if method == POST else (method, "")


def retry_after(exc: SlackApiError) -> timedelta:
    """Slack's ``Retry-After`` (seconds), at least one second."""
    headers = exc.response.headers or {}
    raw = headers.get("Retry-After") or headers.get("retry-after")
    seconds = float(raw) if raw is not None and str(raw).isdigit() else 1.0
    return timedelta(seconds=max(1.0, seconds))


@dataclass
class Holds:
    """Until when each rate-limited place is off limits (in this process)."""

    until: dict[Scope, datetime] = field(default_factory=dict)

    def note(self, exc: SlackApiError, now: datetime) -> datetime:
        """Remember a 429: its place waits until ``now + Retry-After``; returns that time."""
        response = exc.response
        method = str(response.api_url or "").rstrip("/").rsplit("/", 1)[-1]
        args = _call_args(response.req_args)
        at = now + retry_after(exc)
        scope = scope_of(method, args)
        self.until[scope] = max(at, self.until.get(scope, at))
        return at

    def held(self, scopes: Iterable[Scope], now: datetime) -> datetime | None:
        """The latest time any of ``scopes`` is held until, or None when all are free."""
        found = [self.until[s] for s in scopes if s in self.until and self.until[s] > now]
        for s in [s for s, t in self.until.items() if t <= now]:
            del self.until[s]  # expired holds are forgotten
        return max(found) if found else None


def scopes_for(kind: EffectKind, req: CaptureRequest, approval_channel: str | None) -> list[Scope]:
    """The places a row of ``kind`` will call first (an unlisted kind just tries)."""
    if kind is EffectKind.POST_PARENT:
        return [(POST, req.channel_id)]
    if kind is EffectKind.POST_CARD:
        return [(POST, approval_channel or req.channel_id)]
    if kind in _IN_THREAD:
        return [(POST, req.parent_channel or req.channel_id)]
    if kind in _EDITS:
        return [("chat.update", "")]
    if kind is EffectKind.TELL_REQUESTER:  # a direct message: posted to the user's id
        return [(POST, req.requester_id)]
    if kind in (EffectKind.TELL_OWNER, EffectKind.ASK_OWNER) and req.target_user_id:
        return [(POST, req.target_user_id)]
    return []


def without_rate_limit_waits(client: AsyncWebClient) -> AsyncWebClient:
    """A client like ``client`` (same token, URL, session and timeout) whose 429s surface at
    once instead of being slept through in line."""
    twin = AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        session=client.session,
        headers=dict(client.headers),
    )
    twin.retry_handlers[:] = [
        h for h in client.retry_handlers if not isinstance(h, AsyncRateLimitErrorRetryHandler)
    ]
    return twin


def _call_args(req_args: Any) -> dict[str, Any]:
    """The arguments a Web API call sent, whichever way slack_sdk encoded them."""
    if not isinstance(req_args, dict):
        return {}
    for part in ("json", "data", "params"):
        value = req_args.get(part)
        if isinstance(value, dict) and value:
            return value
    return {}
