"""Issue 16, item 10 (mutant: the artifact relay's "was it already shared?" checks after an
interruption, ``_already_shared`` and ``find_posted`` in ``bot/worker/artifacts.py``). The
worker is cut off (its tick cancelled, as a kill would) while Slack holds the answer to a call
it already carried out; a fresh worker takes the row over after its lease and must not share
the file, or post the note that replaced it, a second time."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from bot.sim.slack.model import Event as SlackEvent
from tests.plugins.bot import BotHarness
from tests.worker.story import (
    advance_and_tick,
    approved_capture,
    duplicates,
    shared_files,
    texts,
    thread,
    worker_for,
)

pytestmark = pytest.mark.botclock("sim")


async def cut_off_while_held(bot: BotHarness, seconds: float, hold: Any) -> None:
    """Tick the worker after ``seconds``; kill the tick once Slack has acted on the held call."""
    tick = asyncio.create_task(advance_and_tick(bot, worker_for(bot), seconds))
    await asyncio.wait_for(hold.reached.wait(), 10)
    tick.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tick
    hold.release()


async def test_an_interrupted_upload_whose_file_was_shared_is_not_shared_again(
    bot: BotHarness,
) -> None:
    story = await approved_capture(bot)
    hold = bot.slack.hold("files.completeUploadExternal")
    await cut_off_while_held(bot, 40, hold)
    [shared] = shared_files(bot.slack)  # Slack did share it; the worker never heard back

    await advance_and_tick(bot, worker_for(bot), 180)  # past the dead worker's lease
    await advance_and_tick(bot, worker_for(bot), 60)
    assert shared_files(bot.slack) == [shared]
    assert bot.slack.count("files.getUploadURLExternal") == 1
    assert not any("couldn't upload" in t for t in texts(thread(bot.slack, story.parent)))
    assert duplicates(bot.slack) == {}


@pytest.mark.botenv(dex_artifact_max_bytes=100_000)
async def test_an_interrupted_note_instead_of_the_file_is_not_posted_again(
    bot: BotHarness,
) -> None:
    story = await approved_capture(bot)
    await advance_and_tick(bot, worker_for(bot), 20)  # PENDING_UPLOAD, told in the thread
    holds: list[Any] = []

    def after_the_reply(event: SlackEvent) -> None:
        # The edits and the "finished" reply go first; the upload's note is the next post.
        if event.kind == "message_posted" and "finished (command" in event.item.text:
            # This call itself takes the first hold (it is checked right after this event),
            # released at once; the second holds the next post: the note.
            first, second = bot.slack.hold("chat.postMessage"), bot.slack.hold("chat.postMessage")
            first.release()
            holds.append(second)

    unsubscribe = bot.slack.subscribe(after_the_reply)
    tick = asyncio.create_task(advance_and_tick(bot, worker_for(bot), 20))
    await bot.slack.wait_for(
        lambda c: c.method == "chat.postMessage" and "larger than" in str(c.args.get("text")),
        timeout=10,
    )
    unsubscribe()
    assert len(holds) == 1
    await asyncio.wait_for(holds[0].reached.wait(), 10)
    tick.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tick
    for hold in holds:
        hold.release()

    await advance_and_tick(bot, worker_for(bot), 180)
    await advance_and_tick(bot, worker_for(bot), 60)
    notes = [t for t in texts(thread(bot.slack, story.parent)) if "larger than" in t]
    assert len(notes) == 1
    assert bot.slack.files() == []
    assert duplicates(bot.slack) == {}
