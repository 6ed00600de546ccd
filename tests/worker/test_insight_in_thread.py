"""What the thread says when a command finishes: the artifact's summary next to the file (a
capture, a WARP diagnostic bundle, a speed test), the device's status afterwards and what
changed, and why a command failed."""

from __future__ import annotations

import pytest

from bot.sim.people import ANN, BOB, GRACE
from tests.plugins.bot import BotHarness, blocks_text
from tests.worker.story import advance_and_tick, approved_capture, shared_files, thread, worker_for

pytestmark = pytest.mark.botclock("sim")


async def finished_thread(bot: BotHarness, ask: str) -> str:
    story = await approved_capture(bot, ask)
    worker = worker_for(bot)
    for _ in range(8):  # long enough for every command type to finish and be summarised
        await advance_and_tick(bot, worker, 40)
    return "\n".join(
        f"{m.text}\n{blocks_text(m.blocks or [])}" for m in thread(bot.slack, story.parent)
    )


async def test_a_capture_ends_with_its_summary_beside_the_file(bot: BotHarness) -> None:
    said = await finished_thread(
        bot, f'capture <@{ANN.user_id}> pcap 1m --device ann-macbook --reason "VPN drops"'
    )
    assert len(shared_files(bot.slack)) == 1  # the file is still attached
    assert "Packet capture" in said and "ann-macbook" in said
    assert "DNS" in said and "packets" in said
    assert "Device status now:" in said  # and how the device is doing afterwards


async def test_a_speed_test_posts_its_numbers(bot: BotHarness) -> None:
    said = await finished_thread(
        bot, f'speedtest <@{ANN.user_id}> both --device ann-macbook --reason "slow"'
    )
    assert "Mbps" in said
    assert "tunnel" in said and "default" in said


async def test_a_warp_diagnostic_bundle_posts_its_findings(bot: BotHarness) -> None:
    said = await finished_thread(
        bot, f'diag <@{BOB.user_id}> --device bob-thinkpad --reason "can\'t connect"'
    )
    assert "WARP diagnostic" in said


async def test_a_failed_command_says_why(bot: BotHarness) -> None:
    story = await approved_capture(
        bot,
        f'capture <@{GRACE.user_id}> pcap 5m --device grace-laptop --reason "slow VPN" --anyway',
    )
    worker = worker_for(bot)
    for _ in range(4):
        await advance_and_tick(bot, worker, 300)
    said = "\n".join(blocks_text(m.blocks or []) for m in thread(bot.slack, story.parent))
    assert ":x: *grace-laptop*: failed" in said
    assert "disconnected" in said
