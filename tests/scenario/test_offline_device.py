"""No quota spent on a device that isn't there: pre-flight reads the device's live status
(free), flags a disconnected device to the requester and on the card, and asks for --anyway."""

from __future__ import annotations

from bot.domain.model import RequestState
from bot.sim.people import ANN, GRACE, SAM
from tests.plugins.bot import BotHarness, blocks_text
from tests.plugins.chat import Chat

ASK = f'/dex pcap <@{GRACE.user_id}> 2m --device grace-laptop --reason "slow VPN"'


async def test_a_disconnected_device_needs_anyway_and_nothing_is_stored(bot: BotHarness) -> None:
    chat = Chat(bot)
    answer = await chat.as_(SAM).types(ASK)
    assert answer.text.startswith(":warning: grace-laptop is disconnected"), answer.text
    assert "Cloudflare waits up to 10 min, then fails, and the command still counts" in answer.text
    assert "ask again with `--anyway`" in answer.text
    assert bot.slack.count("chat.postMessage") == 0  # no parent, no card
    assert bot.cloudflare_posts(await bot.sim.requests("POST")) == []
    assert await bot.dexbot.services.requests.in_state(list(RequestState)) == []


async def test_with_anyway_the_card_warns_the_approver(bot: BotHarness) -> None:
    chat = Chat(bot)
    await chat.as_(SAM).types(ASK + " --anyway")
    card = blocks_text(chat.card().blocks or [])
    assert ":warning: grace-laptop is disconnected" in card
    assert "still counts against the quota" in card


async def test_a_connected_device_shows_its_live_status_on_the_card(bot: BotHarness) -> None:
    chat = Chat(bot)
    await chat.as_(SAM).types(
        f'/dex pcap <@{ANN.user_id}> 2m --device ann-macbook --reason "VPN drops"'
    )
    card = blocks_text(chat.card().blocks or [])
    assert ":signal_strength: ann-macbook: connected · mode" in card
    assert "colo " in card and "WARP " in card and "round trip" in card


async def test_a_rate_limited_status_read_is_not_taken_for_a_silent_device(
    bot: BotHarness,
) -> None:
    await bot.sim.fault("block", method="GET", path="/fleet-status/live")
    chat = Chat(bot)
    answer = await chat.as_(SAM).types(
        f'/dex pcap <@{ANN.user_id}> 2m --device ann-macbook --reason "VPN drops"'
    )
    assert "rate-limiting" in answer.text, answer.text
    assert "not reporting" not in answer.text and "disconnected" not in answer.text
    assert bot.slack.count("chat.postMessage") == 0
    assert await bot.dexbot.services.requests.in_state(list(RequestState)) == []
