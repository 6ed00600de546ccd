"""Several workers on one database: on PostgreSQL two replicas tick side by side (and even
poll side by side, lease or not) through several requests' lives, and every status reply,
edit and upload still happens once; on SQLite the lease lets one worker poll at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.app import DexBot, assemble, create_worker
from bot.sim.people import ANN, BOB
from tests.plugins.bot import BotHarness, sim_clocked_dex
from tests.worker.story import (
    PCAP_ANN,
    approved_capture,
    duplicates,
    keyed,
    shared_files,
    thread,
    worker_for,
)

pytestmark = pytest.mark.botclock("sim")
REQUESTS = (
    PCAP_ANN,
    f'capture <@{BOB.user_id}> warp-diag --device bob-thinkpad --reason "logs"',
    f'capture <@{ANN.user_id}> warp-diag --device ann-desktop --reason "second laptop"',
)


@pytest.fixture
async def replica(bot: BotHarness) -> AsyncIterator[DexBot]:
    """A second bot process's services on the same database: own engine, clients, owner id."""
    other = assemble(
        bot.settings, clock=bot.sim.sim.clock.now, dex=sim_clocked_dex(bot.settings, bot.sim)
    )
    await other.start()
    try:
        yield other
    finally:
        await other.aclose()


@pytest.mark.postgres
@pytest.mark.botdb("postgres")
async def test_two_workers_on_postgres_post_and_upload_everything_once(
    bot: BotHarness, replica: DexBot
) -> None:
    stories = [await approved_capture(bot, text) for text in REQUESTS]
    assert bot.dexbot.services.owner != replica.services.owner
    workers = [worker_for(bot), create_worker(replica.services)]

    for step in (20, 20, 60):
        await bot.sim.advance(step)
        # Both poll at once (as if the lease had lapsed), then both tick and deliver at once.
        await asyncio.gather(*(w.poller.cycle() for w in workers))
        reports = await asyncio.gather(*(w.tick() for w in workers))
        assert sum(r.leader for r in reports) == 1
        await asyncio.gather(*(w.deliverer.run_once() for w in workers))
        await asyncio.gather(*(w.deliverer.settle() for w in workers))

    assert duplicates(bot.slack) == {}
    for story in stories:
        keys = keyed(thread(bot.slack, story.parent))
        statuses = [k.rsplit(":", 1)[1] for k in keys if ":thread_status:" in k]
        assert [s for s in statuses if s in ("PENDING_UPLOAD", "SUCCESS")] == [
            "PENDING_UPLOAD",
            "SUCCESS",
        ]
    shared = shared_files(bot.slack)
    assert sorted(f.shares[0].thread_ts or "" for f in shared) == sorted(
        s.parent.ts for s in stories
    )
    assert all(len(f.shares) == 1 for f in shared)
    assert bot.slack.count("files.completeUploadExternal") == len(stories)


async def test_on_sqlite_one_worker_polls_at_a_time(bot: BotHarness, replica: DexBot) -> None:
    await approved_capture(bot)
    first, second = worker_for(bot), create_worker(replica.services)
    await bot.sim.advance(20)
    assert (await first.tick()).leader
    refused = await second.tick()
    assert not refused.leader and refused.poll is None
    assert (await first.tick()).leader  # the holder renews
    await bot.sim.advance(bot.settings.dex_poll_interval_seconds * 3 + 1)
    assert (await second.tick()).leader  # the first went quiet: its lease ran out
