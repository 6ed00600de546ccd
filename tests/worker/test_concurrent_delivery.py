"""A slow upload runs in its request's delivery lane: while one request's artifact is still
on its way into Slack, another request's thread news goes out, and the slow request's own
messages keep their order (its status, its file, its summary, its end)."""

from __future__ import annotations

import asyncio

import pytest

from bot.sim.people import BOB
from tests.plugins.bot import BotHarness
from tests.worker.story import (
    advance_and_tick,
    approved_capture,
    duplicates,
    keyed,
    shared_files,
    thread,
    worker_for,
)

pytestmark = pytest.mark.botclock("sim")
WARP_BOB = f'capture <@{BOB.user_id}> warp-diag --device bob-thinkpad --reason "logs"'


async def test_a_held_upload_does_not_hold_up_another_requests_thread(bot: BotHarness) -> None:
    slow = await approved_capture(bot)
    worker = worker_for(bot)
    await advance_and_tick(bot, worker, 20)  # PENDING_UPLOAD
    hold = bot.slack.hold("files.getUploadURLExternal")
    await bot.sim.advance(20)  # SUCCESS: its file is ready
    # The tick comes back while the upload is held: the upload runs in a lane beside it.
    await asyncio.wait_for(worker.tick(), timeout=30)
    await asyncio.wait_for(hold.reached.wait(), timeout=30)

    other = await approved_capture(bot, WARP_BOB)
    await asyncio.wait_for(advance_and_tick_unsettled(bot, worker, 20), timeout=30)
    other_keys = keyed(thread(bot.slack, other.parent))
    assert any(k.endswith(":PENDING_UPLOAD") for k in other_keys if ":thread_status:" in k)
    assert shared_files(bot.slack) == []  # the first request's file is still held

    hold.release()
    await worker.deliverer.settle()
    await advance_and_tick(bot, worker, 0)
    [shared] = shared_files(bot.slack)
    assert [s.thread_ts for s in shared.shares] == [slow.parent.ts]
    kinds = [k.split(":")[1] for k in keyed(thread(bot.slack, slow.parent))]
    # The slow request's thread still reads in order: sent, statuses, summary, then the end.
    assert kinds.index("thread_status") < kinds.index("summary") < kinds.index("status_after")
    assert duplicates(bot.slack) == {}


async def advance_and_tick_unsettled(bot: BotHarness, worker, seconds: float):  # type: ignore[no-untyped-def]
    """A tick that does not wait for the lanes (one of them is held)."""
    await bot.sim.advance(seconds)
    return await worker.tick()
