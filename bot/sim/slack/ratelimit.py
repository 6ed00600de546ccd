"""Slack's per-method rate limits, on the fake's clock.

``chat.postMessage`` allows about one message a second per channel with short bursts (a
token bucket); other methods follow their tier, counted per method over a sliding minute:
Tier 2 about 20 a minute, Tier 3 about 50, Tier 4 about 100. Over the limit the fake answers
HTTP 429 with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``.

Off unless switched on (``FakeSlack(rate_limits=True)``): most tests and the shell want speed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

TIER_PER_MINUTE = {2: 20, 3: 50, 4: 100}
#: Slack's published tier of each method the fake answers; unlisted methods are Tier 4.
TIERS: dict[str, int] = {
    "usergroups.users.list": 2,
    "conversations.info": 3,
    "conversations.join": 3,
    "conversations.open": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "chat.update": 3,
    "chat.delete": 3,
    "users.lookupByEmail": 3,
}
#: chat.postMessage: one a second per channel, with bursts of this many.
POST_BURST = 5
POST_PER_SECOND = 1.0
WINDOW_S = 60.0


class RateLimits:
    """Decides whether a call is over its method's limit; the Retry-After in seconds if so."""

    def __init__(self, clock: Callable[[], float], *, enabled: bool = False) -> None:
        self.clock = clock
        self.enabled = enabled
        self._calls: dict[str, deque[float]] = {}
        #: channel -> (tokens left, when last refilled)
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, method: str, args: dict[str, Any]) -> int | None:
        """Count this call; None when allowed, else the seconds to wait (at least 1)."""
        if not self.enabled:
            return None
        now = self.clock()
        if method == "chat.postMessage":
            return self._post(str(args.get("channel") or ""), now)
        limit = TIER_PER_MINUTE[TIERS.get(method, 4)]
        calls = self._calls.setdefault(method, deque())
        while calls and now - calls[0] >= WINDOW_S:
            calls.popleft()
        if len(calls) >= limit:
            return max(1, math.ceil(calls[0] + WINDOW_S - now))
        calls.append(now)
        return None

    def _post(self, channel: str, now: float) -> int | None:
        tokens, last = self._buckets.get(channel, (float(POST_BURST), now))
        tokens = min(float(POST_BURST), tokens + (now - last) * POST_PER_SECOND)
        if tokens < 1.0:
            self._buckets[channel] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / POST_PER_SECOND))
        self._buckets[channel] = (tokens - 1.0, now)
        return None
