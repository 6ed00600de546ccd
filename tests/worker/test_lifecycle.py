"""A capture's life after approval, as the people in the thread see it: one reply per status
change, the parent message and the approval card edited to the final state, the artifact
shared once into the thread, stuck commands flagged once, and nothing more on later ticks.

The worker is ticked by hand after moving the simulator's clock (the bot runs on the same
clock), so every step is deterministic and nothing sleeps."""

from __future__ import annotations

import math

import pytest

from bot.sim.people import BOB, GRACE, SUPPORT_CHANNEL
from bot.worker.poller import PER_PAGE
from tests.plugins.bot import BotHarness, blocks_text
from tests.worker.story import (
    advance_and_tick,
    approved_capture,
    current,
    duplicates,
    keyed,
    sha256_of,
    shared_files,
    sim_artifact,
    texts,
    thread,
    worker_for,
)

pytestmark = pytest.mark.botclock("sim")


async def test_an_approved_capture_ends_with_one_reply_per_status_and_the_file(
    bot: BotHarness,
) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    [command] = await bot.sim.commands()

    first = await advance_and_tick(bot, worker, 20)  # the device picked it up
    assert first.leader and first.poll is not None and first.poll.changes == 1
    assert "uploading the capture" in thread(bot.slack, story.parent)[-1].text

    second = await advance_and_tick(bot, worker, 20)  # uploaded to Cloudflare
    assert second.poll is not None and second.poll.changes == 1

    replies = thread(bot.slack, story.parent)
    status_keys = [k for k in keyed(replies) if ":thread_status:" in k]
    assert status_keys == [
        f"{story.request_id}:thread_status:command_status:{command['id']}:PENDING_UPLOAD",
        f"{story.request_id}:thread_status:command_status:{command['id']}:SUCCESS",
    ]
    parent = current(bot.slack, story.parent)
    assert "Finished: 1 succeeded" in parent.text
    assert "finished" in blocks_text(parent.blocks or [])
    card = current(bot.slack, story.card)
    assert "Finished: 1 succeeded" in blocks_text(card.blocks or [])

    [shared] = shared_files(bot.slack)
    [share] = shared.shares
    assert (share.channel, share.thread_ts) == (SUPPORT_CHANNEL, story.parent.ts)
    expected = sha256_of(sim_artifact(bot, command["id"]))
    assert shared.sha256 == expected  # the bytes Slack received are Cloudflare's file
    comment = bot.slack.workspace.message(share.channel, share.ts)
    assert comment is not None and f"sha256 {expected}" in comment.text
    assert f"{shared.size:,} bytes" in comment.text
    assert "Captured: default, tunnel" in comment.text

    before = len(bot.slack.calls())
    for _ in range(3):  # nothing left to say: more ticks post, edit and upload nothing
        again = await advance_and_tick(bot, worker, 60)
        assert again.poll is not None and again.poll.in_flight == 0
    slack_calls = [c.method for c in bot.slack.calls()[before:]]
    assert slack_calls == []
    assert duplicates(bot.slack) == {}
    assert await bot.sim.requests(path_contains="/downloads/") != []
    # One download relays the file, one feeds its summary; more ticks add none.
    assert len(await bot.sim.requests(path_contains="/downloads/")) == 2


@pytest.mark.dexsim(config={"partial_success": True})
async def test_a_partial_capture_says_which_interface_failed(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    await advance_and_tick(bot, worker, 40)

    [shared] = shared_files(bot.slack)
    comment = bot.slack.workspace.message(SUPPORT_CHANNEL, shared.shares[0].ts)
    assert comment is not None
    assert "Partial success: captured default; tunnel failed" in comment.text
    # The command still ends SUCCESS, as Cloudflare reports it.
    assert any("finished" in m.text for m in thread(bot.slack, story.parent))


@pytest.mark.dexsim(config={"device_outcomes": {"ann-macbook": "FAILED"}})
async def test_a_failed_command_is_told_and_nothing_is_uploaded(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    report = await advance_and_tick(bot, worker, 20)
    assert report.poll is not None and report.poll.changes == 1

    replies = texts(thread(bot.slack, story.parent))
    assert sum("failed" in t for t in replies) == 1
    assert "Finished: 0 succeeded, 1 failed" in current(bot.slack, story.parent).text
    assert bot.slack.files() == []
    assert await bot.sim.requests(path_contains="/downloads/") == []
    await advance_and_tick(bot, worker, 60)
    assert texts(thread(bot.slack, story.parent)) == replies


async def test_a_disconnected_device_is_flagged_once_then_times_out(bot: BotHarness) -> None:
    story = await approved_capture(
        bot,
        f'capture <@{GRACE.user_id}> pcap 5m --device grace-laptop --reason "slow VPN" --anyway',
    )
    worker = worker_for(bot)
    quiet = await advance_and_tick(bot, worker, 60)
    assert quiet.poll is not None and (quiet.poll.changes, quiet.poll.flagged) == (0, 0)

    flagged = await advance_and_tick(bot, worker, 150)  # 3.5 min in PENDING_EXEC
    assert flagged.poll is not None and flagged.poll.flagged == 1
    note = thread(bot.slack, story.parent)[-1].text
    assert "grace-laptop hasn't picked up the command in 3 min" in note
    assert "may be offline" in note

    for _ in range(3):
        again = await advance_and_tick(bot, worker, 60)
        assert again.poll is not None and again.poll.flagged == 0
    assert sum("hasn't picked up" in t for t in texts(thread(bot.slack, story.parent))) == 1

    await advance_and_tick(bot, worker, 600)  # Cloudflare gives up after 10 minutes
    statuses = [k for k in keyed(thread(bot.slack, story.parent)) if ":thread_status:" in k]
    assert len(statuses) == 1 and statuses[0].endswith(":FAILED")
    assert any(":x: *grace-laptop*: failed" in m.text for m in thread(bot.slack, story.parent))
    assert "Finished: 0 succeeded, 1 failed" in current(bot.slack, story.parent).text
    assert duplicates(bot.slack) == {}


@pytest.mark.dexsim(config={"exec_seconds": 400})
async def test_a_slow_device_is_flagged_then_carries_on(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    await advance_and_tick(bot, worker, 200)
    assert "hasn't picked up the command" in thread(bot.slack, story.parent)[-1].text
    await advance_and_tick(bot, worker, 200)  # picked up at last
    await advance_and_tick(bot, worker, 20)
    replies = texts(thread(bot.slack, story.parent))
    assert sum("hasn't picked up" in t for t in replies) == 1
    assert len(shared_files(bot.slack)) == 1
    assert duplicates(bot.slack) == {}


async def test_a_cycle_costs_at_most_a_page_per_fifty_commands_plus_two(
    bot: BotHarness,
) -> None:
    await approved_capture(bot)
    await approved_capture(
        bot, f'capture <@{BOB.user_id}> warp-diag --device bob-thinkpad --reason "logs"'
    )
    worker = worker_for(bot)
    await bot.sim.clear_requests()
    report = await worker.tick()
    assert report.poll is not None and report.poll.in_flight == 2
    lists = [
        r
        for r in await bot.sim.requests("GET")
        if r["path"].endswith("/dex/commands") and r["query"].get("per_page") == str(PER_PAGE)
    ]
    assert 1 <= len(lists) <= math.ceil(2 / PER_PAGE) + 2
    assert len(await bot.sim.requests()) <= math.ceil(2 / PER_PAGE) + 2
