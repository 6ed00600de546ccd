"""Typos get an answer, not the help page (issue 11 item 1), through the real app: the
ephemeral a person reads, and nothing asked of Cloudflare."""

from __future__ import annotations

import pytest

from bot.sim.people import OUTSIDER, SAM
from tests.plugins.bot import BotHarness

TOPICS = (
    "There's no help topic `foo`. Topics: `capture`, `diag`, `speedtest`, `status`,"
    " `devices`, `quota`, `history`."
)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("captur <@U0BOB0003> pcap 5m", "I don't know `captur`. Did you mean `capture`?"),
        ("stauts <@U0ANN0001>", "I don't know `stauts`. Did you mean `status`?"),
        ("devcies", "I don't know `devcies`. Did you mean `devices`?"),
        ("\U0001f4a5 <@U0ANN0001>", "I don't know `\U0001f4a5`. Commands: `pcap`, `diag`,"),
        ("help foo", TOPICS),
        ("speedtest <@U0BOB0003> tunel", 'interface "tunel": use default, tunnel or both.'),
    ],
)
async def test_each_typo_gets_its_own_answer(bot: BotHarness, text: str, answer: str) -> None:
    reply = await bot.slash(text, user=SAM)
    assert reply is not None
    assert reply.text.startswith(":warning: ")
    assert answer in reply.text
    assert "How to use /dex" not in reply.text
    assert await bot.sim.requests() == []


async def test_anyone_may_learn_the_help_topics(bot: BotHarness) -> None:
    reply = await bot.slash("help foo", user=OUTSIDER)
    assert reply is not None and reply.text == f":warning: {TOPICS}"
