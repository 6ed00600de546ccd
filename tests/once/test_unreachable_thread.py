"""Issue 16, item 4: the bot is removed from the requester's channel after approval. The
requester is told by direct message, once, what happened and where the result can be found;
nothing is dropped: once the bot is invited back, every reply and the artifact are posted.
A thread that stays unreachable past the setting is given up, and the requester told so."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.sim.people import SAM, SUPPORT_CHANNEL
from bot.store.tables import OutboxRow
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

# Only the unreachable-thread messages are counted here: the outcome DMs (approved,
# finished) are the requester-DM tests' business.
pytestmark = [pytest.mark.botclock("sim"), pytest.mark.botenv(dex_tell_requester=False)]


def dms(bot: BotHarness) -> list[str]:
    return [
        str(c.args.get("text"))
        for c in bot.slack.calls("chat.postMessage")
        if c.args.get("channel") == SAM.user_id and c.ok
    ]


async def test_the_requester_is_told_and_the_thread_is_filled_in_later(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    before = len(thread(bot.slack, story.parent))
    bot.slack.set_member(SUPPORT_CHANNEL, False)  # someone removed the bot from #support
    worker = worker_for(bot)
    await advance_and_tick(bot, worker, 20)
    await advance_and_tick(bot, worker, 20)
    for wait in (2, 4, 8, 16, 32, 64):  # the ordinary back-off would have given up by now
        await advance_and_tick(bot, worker, wait)
    assert len(thread(bot.slack, story.parent)) == before
    assert shared_files(bot.slack) == []
    [told] = dms(bot)
    assert "can't post in your request's thread" in told and "not_in_channel" in told
    assert "/invite @dexbot" in told and "/dex history" in told and "24 hours" in told

    bot.slack.set_member(SUPPORT_CHANNEL, True)  # invited back
    await advance_and_tick(bot, worker, 15 * 60)
    await advance_and_tick(bot, worker, 5)
    replies = texts(thread(bot.slack, story.parent))
    assert any("uploading the capture" in t for t in replies), replies
    assert any("finished" in t for t in replies), replies
    [shared] = shared_files(bot.slack)
    assert shared.shares[0].thread_ts == story.parent.ts
    assert len(dms(bot)) == 1
    assert duplicates(bot.slack) == {}
    async with bot.dexbot.services.outbox.sessions() as s:
        states = set(
            await s.scalars(select(OutboxRow.state).where(OutboxRow.request_id == story.request_id))
        )
    assert states == {"done"}  # nothing given up: the summary and status notes too


@pytest.mark.botenv(dex_undeliverable_keep_seconds=3600, dex_tell_requester=False)
async def test_a_thread_unreachable_past_the_setting_is_given_up_and_said(
    bot: BotHarness,
) -> None:
    story = await approved_capture(bot)
    bot.slack.set_member(SUPPORT_CHANNEL, False)
    worker = worker_for(bot)
    await advance_and_tick(bot, worker, 40)
    for _ in range(6):
        await advance_and_tick(bot, worker, 15 * 60)
    told = dms(bot)
    assert len(told) == 2, told
    assert "an hour" in told[0]
    assert "stopped trying" in told[1] and "Cloudflare dashboard" in told[1]
    upload = await bot.dexbot.services.outbox.get(
        next(k for k in await upload_keys(bot, story.request_id))
    )
    assert upload is not None and upload.state == "failed"


async def upload_keys(bot: BotHarness, request_id: str) -> list[str]:
    async with bot.dexbot.services.outbox.sessions() as s:
        rows = await s.scalars(
            select(OutboxRow.key).where(
                OutboxRow.request_id == request_id, OutboxRow.kind == "upload"
            )
        )
        return list(rows)
