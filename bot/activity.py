"""Counting work in flight, so a caller can wait until the bot has finished answering.

Listeners run after their ack, in tasks Bolt starts: the shell and the tests need to know
when those are done without peeking at asyncio's task list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Activity:
    """A counter of running listeners with a wait-until-idle."""

    def __init__(self) -> None:
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def running(self) -> int:
        """How many listeners are running now."""
        return self._running

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        """Count the enclosed work as in flight."""
        self._running += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._running -= 1
            if self._running == 0:
                self._idle.set()

    async def idle(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (a deadline, not a sleep)
        """Wait until nothing is in flight; TimeoutError after ``timeout`` seconds."""
        await asyncio.wait_for(self._idle.wait(), timeout)
