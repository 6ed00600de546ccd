"""The App Home in Socket Mode: ``app_home_opened`` arrives as an ``events_api`` envelope,
the bot acks it and publishes the Home; Slack's retry of the same event (``retry_attempt``)
is acked too. (That a retry publishes nothing is checked over HTTP, where the test can wait
for the bot to be idle: tests/scenario/test_home.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.runners import run_socket_mode
from bot.sim.people import MAX
from bot.sim.slack import FakeSlack
from bot.sim.world import free_port
from tests.app.test_socket_mode import socket_settings
from tests.plugins.bot import blocks_text
from tests.plugins.dexsim import SimHandle


async def test_home_opened_over_socket_mode_publishes_once(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    settings = socket_settings(dex_sim, fake_slack, tmp_path, free_port())
    bot = asyncio.create_task(run_socket_mode(settings, worker=False))
    try:
        await fake_slack.wait_socket_connected(timeout=15)
        sent = await fake_slack.open_home(MAX.user_id, retries=1)
        assert [set(ack) for ack in sent["deliveries"]] == [{"envelope_id"}] * 2
        [call] = await fake_slack.wait_for("views.publish", timeout=10)
        assert call.args["user_id"] == MAX.user_id
        home = fake_slack.home(MAX.user_id)
        assert home is not None
        text = blocks_text(home.view["blocks"])
        assert "Waiting for your approval" in text and "Nothing waits" in text
        await fake_slack.open_home(MAX.user_id)  # a later opening: a new event id
        await fake_slack.wait_for("views.publish", count=2, timeout=10)
    finally:
        bot.cancel()
        await asyncio.gather(bot, return_exceptions=True)
