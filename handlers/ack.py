"""The 3-second rule: what runs before Slack gets its acknowledgement is bounded.

Two small writes come before the ack: the gate's replay check and the slash command's
intent row. Both are quick on an idle database, but under load (SQLite's one writer, busy
with the worker's batches) either can wait for seconds, and a late ack is an answer lost:
Bolt answers 404 when its listener has not acked within 3 s, and the person sees
"dispatch_failed". So each gets ``ACK_BUDGET_SECONDS``; past it, the ack goes first and the
write finishes right after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

log = logging.getLogger("dexbot.handlers")
T = TypeVar("T")
#: Slack waits 3 s; Bolt's dispatch, the gate and the listener's own ack share them.
ACK_BUDGET_SECONDS = 1.0
_running: set[asyncio.Task[object]] = set()  # late writes still finishing (kept referenced)


async def before_ack(work: Awaitable[T], what: str) -> asyncio.Task[T]:
    """Start ``work`` and wait for it at most ``ACK_BUDGET_SECONDS``; its task, done or not
    (a task still running is awaited later, or left to finish on its own)."""
    task = asyncio.ensure_future(work)
    await asyncio.wait({task}, timeout=ACK_BUDGET_SECONDS)
    if not task.done():
        log.warning("%s took over %.1f s: acknowledging first", what, ACK_BUDGET_SECONDS)
        _running.add(task)
        task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[object]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:  # nobody may await it now
        log.warning("a late write before an ack failed: %r", task.exception())
