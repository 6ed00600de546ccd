"""The worker under fire: Cloudflare rate limits (a short 429 and the five-minute block), 5xx
and timeouts while polling; Slack rate limits on posts and edits; upload URLs that fail; an
artifact too large for the configured limit or for the workspace. Each time the worker backs
off or retries, nothing is lost once the trouble passes, and when it gives up the thread says
so in plain words."""

from __future__ import annotations

import pytest

from bot.sim.people import SUPPORT_CHANNEL
from bot.sim.slack.model import Message
from tests.plugins.bot import BotHarness
from tests.worker.story import (
    advance_and_tick,
    approved_capture,
    duplicates,
    keyed,
    shared_files,
    texts,
    thread,
    worker_for,
)

pytestmark = pytest.mark.botclock("sim")
LIST = "/dex/commands"


def last_with(messages: list[Message], needle: str) -> str:
    """The newest reply in a thread that contains ``needle`` (summaries follow the notes)."""
    return next((m.text for m in reversed(messages) if needle in m.text), "")


def statuses(bot: BotHarness, parent: object) -> list[str]:
    return [k.rsplit(":", 1)[1] for k in keyed(thread(bot.slack, parent)) if ":thread_status:" in k]  # type: ignore[arg-type]


async def test_a_short_429_is_waited_out_within_the_cycle(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    await bot.sim.fault("429", method="GET", path=LIST, retry_after=2)
    report = await advance_and_tick(bot, worker, 40)
    assert report.poll is not None and report.poll.changes == 1
    answers = [r["status"] for r in await bot.sim.requests("GET", LIST) if r["path"].endswith(LIST)]
    assert answers[-2:] == [429, 200]
    assert statuses(bot, story.parent) == ["SUCCESS"]


async def test_the_five_minute_block_is_waited_out_then_nothing_is_lost(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    await bot.sim.fault("block", method="GET", path=LIST)
    blocked = await advance_and_tick(bot, worker, 20)
    assert blocked.poll is None and blocked.wait_seconds == pytest.approx(300, abs=1)
    again = await worker.tick()  # our own limiter knows: no request is spent on a 429
    calls = len(await bot.sim.requests())
    assert again.poll is None and again.wait_seconds > 250
    assert len(await bot.sim.requests()) == calls
    assert statuses(bot, story.parent) == []

    recovered = await advance_and_tick(bot, worker, 300)
    assert recovered.poll is not None and recovered.poll.changes == 1
    assert recovered.wait_seconds == bot.settings.dex_poll_interval_seconds
    assert statuses(bot, story.parent) == ["SUCCESS"]
    assert len(shared_files(bot.slack)) == 1


async def test_server_errors_back_off_and_recover(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    base = bot.settings.dex_poll_interval_seconds
    await bot.sim.fault("500", method="GET", path=LIST, count=5)  # every retry of a cycle
    first = await advance_and_tick(bot, worker, 20)
    assert first.poll is None and first.wait_seconds == 2 * base
    await bot.sim.fault("502", method="GET", path=LIST, count=5)
    second = await worker.tick()
    assert second.poll is None and second.wait_seconds == 4 * base

    ok = await advance_and_tick(bot, worker, 40)
    assert ok.poll is not None and ok.wait_seconds == base
    assert statuses(bot, story.parent) == ["SUCCESS"]
    assert len(shared_files(bot.slack)) == 1


@pytest.mark.botenv(cloudflare_timeout_seconds=0.2)
async def test_timeouts_while_polling_are_retried(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    await bot.sim.fault("slow", method="GET", path=LIST, delay=1.0, count=2)
    report = await advance_and_tick(bot, worker, 20)
    assert report.poll is not None and report.poll.changes == 1
    assert statuses(bot, story.parent) == ["PENDING_UPLOAD"]


async def test_slack_rate_limits_on_posts_and_edits_are_waited_out(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    bot.slack.rate_limit("chat.postMessage", count=1, retry_after=3)
    bot.slack.rate_limit("chat.update", count=1, retry_after=3)
    await advance_and_tick(bot, worker, 20)
    limited = [c for c in bot.slack.calls() if c.status == 429]
    assert sorted(c.method for c in limited) == ["chat.postMessage", "chat.update"]
    assert statuses(bot, story.parent) == []  # due again once Slack's Retry-After has passed
    calls = len(bot.slack.calls())
    await worker.deliverer.run_once()
    assert len(bot.slack.calls()) == calls  # nobody asks Slack again before then
    await bot.sim.advance(3)
    await worker.deliverer.run_once()
    assert statuses(bot, story.parent) == ["PENDING_UPLOAD"]
    assert duplicates(bot.slack) == {}


async def test_a_failed_upload_is_retried_from_the_saved_copy_with_a_fresh_url(
    bot: BotHarness,
) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    bot.slack.fail_upload(1)
    await advance_and_tick(bot, worker, 40)
    [shared] = shared_files(bot.slack)
    urls = bot.slack.calls("files.getUploadURLExternal")
    assert len(urls) == 2 and urls[1].response["file_id"] == shared.id  # type: ignore[index]
    assert shared.shares[0].thread_ts == story.parent.ts
    # The retry came from the temporary copy: Cloudflare was asked for the bytes once.
    # One download for the relay (retried from its saved copy), one for the summary.
    assert len(await bot.sim.requests(path_contains="/downloads/")) == 2
    assert not any("couldn't upload" in t for t in texts(thread(bot.slack, story.parent)))


async def test_an_upload_that_keeps_failing_is_explained_once(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    bot.slack.fail_upload(20)
    await advance_and_tick(bot, worker, 40)
    for wait in (2, 4, 8, 16, 32, 64, 128):
        await advance_and_tick(bot, worker, wait)
    assert shared_files(bot.slack) == []
    # Each of the 6 tries streams once, then sends the saved copy once, each with a new URL.
    assert bot.slack.count("files.getUploadURLExternal") == 12
    assert bot.slack.count("files.completeUploadExternal") == 0
    told = [t for t in texts(thread(bot.slack, story.parent)) if "couldn't upload" in t]
    assert told == [
        "I couldn't upload the result into this thread after 6 tries: Slack did not accept "
        "the file (HTTP 500). It is still in the Cloudflare dashboard."
    ]


@pytest.mark.botenv(dex_artifact_max_bytes=100_000)
async def test_an_artifact_over_the_limit_gets_a_message_instead(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    await advance_and_tick(bot, worker, 40)
    assert bot.slack.files() == []
    note = last_with(thread(bot.slack, story.parent), "Cloudflare dashboard")
    assert "larger than the 100 KB I may upload to Slack" in note
    assert "Cloudflare dashboard" in note
    await advance_and_tick(bot, worker, 60)
    assert sum("larger than" in t for t in texts(thread(bot.slack, story.parent))) == 1


async def test_a_workspace_size_restriction_gets_a_message_instead(bot: BotHarness) -> None:
    story = await approved_capture(bot)
    worker = worker_for(bot)
    bot.slack.restrict_file_size(100_000)
    await advance_and_tick(bot, worker, 40)
    assert shared_files(bot.slack) == []
    note = last_with(thread(bot.slack, story.parent), "Cloudflare dashboard")
    assert "This workspace doesn't allow uploads of" in note
    assert "sha256" in note
    assert bot.slack.workspace.message(SUPPORT_CHANNEL, story.parent.ts) is not None
