"""Slack's rate limits, paced: a 429 is waited out without using up an attempt (a post is
never given up for it), holds only the place Slack limited (one channel's posts, or one
method), and queued edits of one message collapse into the latest. The delivery loop sends
a held row as soon as its Retry-After has passed, without waiting for the next poll."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.sim.people import APPROVALS_CHANNEL, SAM, SUPPORT_CHANNEL
from bot.store.outbox import DONE
from bot.store.tables import OutboxRow
from tests.plugins.bot import BotHarness
from tests.worker.story import (
    PCAP_ANN,
    advance_and_tick,
    approved_capture,
    duplicates,
    keyed,
    thread,
    worker_for,
)

pytestmark = pytest.mark.botclock("sim")


async def outbox_rows(bot: BotHarness, request_id: str) -> list[OutboxRow]:
    """The request's outbox rows, as the database holds them."""
    async with bot.dexbot.services.requests.sessions() as s:
        rows = await s.scalars(select(OutboxRow).where(OutboxRow.request_id == request_id))
        return list(rows.all())


def statuses(bot: BotHarness, parent: object) -> list[str]:
    return [k.rsplit(":", 1)[1] for k in keyed(thread(bot.slack, parent)) if ":thread_status:" in k]  # type: ignore[arg-type]


async def test_a_post_limited_more_often_than_the_attempt_limit_still_goes_out_once(
    bot: BotHarness,
) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    tries = worker.deliverer.policy.max_attempts + 3
    bot.slack.rate_limit("chat.postMessage", count=tries, retry_after=1)
    await advance_and_tick(bot, worker, 20)
    for _ in range(tries + 2):
        await bot.sim.advance(1)
        await worker.deliverer.run_once()
    assert statuses(bot, story.parent) == ["PENDING_UPLOAD"]
    assert duplicates(bot.slack) == {}
    rows = [r for r in await outbox_rows(bot, story.request_id) if r.kind == "thread_status"]
    assert [(r.state, r.attempts) for r in rows] == [(DONE, 1)]  # the 429s used none


async def test_a_limited_channel_holds_its_own_posts_only(bot: BotHarness) -> None:
    bot.slack.rate_limit(
        "chat.postMessage", retry_after=30, where=lambda a: a.get("channel") == SUPPORT_CHANNEL
    )
    reply = await bot.slash(PCAP_ANN, user=SAM)
    await bot.local.idle()
    assert reply is not None and "saved; posting it" in reply.text, reply.text  # no error
    assert bot.slack.messages(SUPPORT_CHANNEL) == []  # the parent waits out its channel
    assert len(bot.slack.messages(APPROVALS_CHANNEL)) == 1  # the card's channel was free
    worker = worker_for(bot)
    await worker.deliverer.run_once()
    posts = [c for c in bot.slack.calls("chat.postMessage") if c.args["channel"] == SUPPORT_CHANNEL]
    assert len(posts) == 1  # asked once, then held: no call to find out again
    await bot.sim.advance(30)
    await worker.deliverer.run_once()
    [parent] = bot.slack.messages(SUPPORT_CHANNEL)
    assert parent.text.startswith("Packet capture") and "<#C0APPROVE>" in parent.text
    assert duplicates(bot.slack) == {}


async def test_queued_edits_of_one_message_collapse_into_the_latest(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    bot.slack.rate_limit("chat.update", retry_after=60)
    await advance_and_tick(bot, worker, 20)  # PENDING_UPLOAD: the card's edit is held
    await advance_and_tick(bot, worker, 20)  # SUCCESS, completed: two more edits queued
    card_edits = lambda: [  # noqa: E731
        c for c in bot.slack.calls("chat.update") if c.args.get("ts") == story.card.ts and c.ok
    ]
    before = len(card_edits())
    await bot.sim.advance(60)
    await worker.deliverer.run_once()
    assert len(card_edits()) == before + 1  # one edit, of the latest state
    card = bot.slack.workspace.message(APPROVALS_CHANNEL, story.card.ts)
    assert card is not None and "Finished: Packet capture" in str(card.blocks)
    rows = await outbox_rows(bot, story.request_id)
    skipped = [
        r
        for r in rows
        if (r.result or {}).get("skipped") == "a later edit of this message is queued"
    ]
    assert skipped and all(r.kind in ("edit_card", "edit_parent") for r in skipped)


async def test_the_delivery_loop_sends_a_held_post_once_its_wait_is_over(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    bot.slack.rate_limit("chat.postMessage", retry_after=2)
    await advance_and_tick(bot, worker, 20)
    assert statuses(bot, story.parent) == []
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.deliver_loop(stop))
    try:
        await bot.sim.advance(2)  # Slack's wait is over; no tick, no poll
        key = f"{story.request_id}:thread_status:"
        await bot.slack.wait_for(lambda c: c.ok and key in str(c.args.get("metadata")), timeout=5)
    finally:
        stop.set()
        await loop
    assert statuses(bot, story.parent) == ["PENDING_UPLOAD"]
