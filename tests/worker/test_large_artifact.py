"""A 200 MiB capture goes from Cloudflare (the simulator) through the worker into the Slack
thread (the fake) without ever sitting in memory: streamed to a temporary file, streamed up
to the upload URL. Measured with tracemalloc over the relay, every party in this process."""

from __future__ import annotations

import tracemalloc

import pytest

from tests.plugins.bot import BotHarness
from tests.worker.story import (
    advance_and_tick,
    approved_capture,
    sha256_of,
    shared_files,
    sim_artifact,
    worker_for,
)

pytestmark = [pytest.mark.botclock("sim"), pytest.mark.slow]
SIZE = 200 * 1024 * 1024


async def test_a_200_mib_artifact_is_relayed_with_bounded_memory(
    bot: BotHarness, tmp_path: object
) -> None:
    story = await approved_capture(bot)
    await bot.sim.configure(artifact_bytes=SIZE)
    worker = worker_for(bot)
    await advance_and_tick(bot, worker, 20)  # PENDING_UPLOAD: nothing to relay yet
    [command] = await bot.sim.commands()
    sim_command = bot.sim.sim.state.command(command["id"])
    assert sim_command is not None
    # Build the simulator's zip first, so only the relay is measured.
    await bot.sim.sim.artifacts.path_for(sim_command, SIZE, "SJC")

    tracemalloc.start()
    try:
        await advance_and_tick(bot, worker, 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    [shared] = shared_files(bot.slack)
    assert shared.shares[0].thread_ts == story.parent.ts
    assert shared.size is not None and shared.size >= SIZE
    assert shared.sha256 == sha256_of(sim_artifact(bot, command["id"]))
    assert peak < 64 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
