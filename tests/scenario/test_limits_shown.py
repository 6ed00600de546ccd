"""One rule for limits, shown publicly: every over-limit value is held to its maximum, and the
card and the request message say what was asked, so the approver sees it."""

from __future__ import annotations

from bot.sim.people import ANN, APPROVALS_CHANNEL, MAX, SAM
from tests.plugins.bot import BotHarness, blocks_text
from tests.plugins.chat import Chat


async def test_over_limit_values_are_held_and_the_approver_sees_what_was_asked(
    bot: BotHarness,
) -> None:
    chat = Chat(bot)
    await chat.as_(SAM).types(
        f'/dex pcap <@{ANN.user_id}> 90m --size 500MB --device ann-macbook --reason "VPN drops"'
    )
    card, parent = blocks_text(chat.card().blocks or []), blocks_text(chat.parent().blocks or [])
    for shown in (card, parent):
        assert "10 min (asked 90; the maximum is 10)" in shown
        assert "up to 50 MB (asked 500; the maximum is 50)" in shown
    await chat.as_(MAX, APPROVALS_CHANNEL).presses("Approve", on=chat.card())
    [post] = bot.cloudflare_posts(await bot.sim.requests("POST"))
    assert post["json"]["commands"][0]["args"] == {"time-limit-min": 10, "max-file-size-mb": 50}
