"""Client-side sliding-window limiter for Cloudflare's API budget.

Cloudflare allows 1,200 requests per 5 minutes per token (all clients together); past that,
every call gets 429 for the next five minutes. Hitting that block stalls every user of the
bot, so the client counts its own requests and waits (briefly) or refuses before sending one
that would cross the line. When Cloudflare answers 429 anyway (someone else shares the
token, or the dashboard), ``block_until`` makes every caller of this limiter back off
together instead of each discovering the block with a request of its own.

The clock and the sleep are injectable so tests can drive time by hand.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bot.dex.errors import DexRateBudgetExceeded

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """At most ``limit`` requests in any ``window`` seconds, plus a shared back-off deadline.

    ``acquire()`` takes a slot, waiting up to ``max_wait`` seconds for one; past that it
    raises ``DexRateBudgetExceeded`` with the number of seconds until a slot frees up.
    """

    def __init__(
        self,
        limit: int = 1200,
        window: float = 300.0,
        *,
        max_wait: float = 10.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1; got {limit}")
        if window <= 0:
            raise ValueError(f"window must be > 0; got {window}")
        self.limit = limit
        self.window = window
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0

    def __repr__(self) -> str:
        return (
            f"RateLimiter(limit={self.limit}, window={self.window}, "
            f"used={self.used()}, blocked_for={self.blocked_for():.0f}s)"
        )

    @property
    def clock(self) -> Clock:
        """The clock this limiter measures time with (seconds, monotonic)."""
        return self._clock

    def _prune(self, now: float) -> None:
        horizon = now - self.window
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def used(self) -> int:
        """Requests sent in the current window."""
        self._prune(self._clock())
        return len(self._sent)

    def remaining(self) -> int:
        """Requests that may still be sent in the current window (0 while blocked)."""
        if self.blocked_for() > 0:
            return 0
        return max(0, self.limit - self.used())

    def blocked_for(self) -> float:
        """Seconds left of a back-off imposed by ``block_until`` (0 when not blocked)."""
        return max(0.0, self._blocked_until - self._clock())

    def would_exceed(self, n: int = 1, *, share: float = 1.0) -> bool:
        """Whether ``n`` more requests now would use more than ``share`` of the budget.

        The background poller calls ``would_exceed(n, share=0.5)`` to stay within half of
        the budget and leave the rest to people waiting in Slack.
        """
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1]; got {share}")
        if self.blocked_for() > 0:
            return True
        return self.used() + n > self.limit * share

    def wait_time(self, n: int = 1) -> float:
        """Seconds until ``n`` requests could be sent without crossing the limit."""
        now = self._clock()
        self._prune(now)
        wait = max(0.0, self._blocked_until - now)
        if n > self.limit:
            return float("inf")
        excess = len(self._sent) + n - self.limit
        if excess > 0:
            # The excess-th oldest request has to leave the window first.
            wait = max(wait, self._sent[excess - 1] + self.window - now)
        return wait

    def block_until(self, t: float) -> None:
        """Refuse every request until time ``t`` on this limiter's clock (never shortens)."""
        self._blocked_until = max(self._blocked_until, t)

    def block_for(self, seconds: float) -> None:
        """Refuse every request for the next ``seconds`` (Cloudflare's ``Retry-After``)."""
        self.block_until(self._clock() + seconds)

    def try_acquire(self) -> bool:
        """Take a slot if one is free now; never waits."""
        if self.wait_time() > 0:
            return False
        self._sent.append(self._clock())
        return True

    async def acquire(self, *, max_wait: float | None = None) -> None:
        """Take a slot, waiting up to ``max_wait`` seconds (default ``self.max_wait``).

        Raises ``DexRateBudgetExceeded(retry_after)`` at once when no slot will be free
        within ``max_wait``: better to tell the user "in 4 minutes" than to hang.
        """
        budget = self.max_wait if max_wait is None else max_wait
        waited = 0.0
        while True:
            wait = self.wait_time()
            if wait <= 0:
                self._sent.append(self._clock())
                return
            if waited + wait > budget:
                raise DexRateBudgetExceeded(wait)
            await self._sleep(wait)
            waited += wait
