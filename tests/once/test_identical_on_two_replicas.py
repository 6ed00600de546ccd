"""Issue 16, item 2, across two real replicas on PostgreSQL: Sam and Sue send the same
``/dex pcap`` to two ``dexbot serve`` processes at the same instant. One request, one card;
the other person is pointed to its thread. (One process per engine is the faults helper's.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.domain.model import RequestState
from bot.sim.people import ANN, APPROVALS_CHANNEL, SAM, SUE, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_SIGNING_SECRET
from bot.sim.slack.payloads import signed_headers, slash_command_body
from tests.once.procs import logs, serve_process, wait_ready
from tests.plugins.bot import BotHarness

PCAP = f'pcap <@{ANN.user_id}> 1m --device ann-macbook --reason "VPN drops"'


@pytest.mark.postgres
@pytest.mark.botdb("postgres")
@pytest.mark.parametrize("round_", range(3))
async def test_identical_requests_on_two_replicas_give_one(
    bot: BotHarness, tmp_path: Path, round_: int
) -> None:
    with (
        serve_process(bot, tmp_path, "a") as (a, url_a),
        serve_process(bot, tmp_path, "b") as (b, url_b),
    ):
        await asyncio.gather(wait_ready(url_a, a), wait_ready(url_b, b))
        sends = []
        urls = []
        for who, url in ((SAM, url_a), (SUE, url_b)):
            response_url = bot.slack.new_response_url(channel=SUPPORT_CHANNEL, user=who.user_id)
            trigger = bot.slack.new_trigger_id(user=who.user_id)
            body = slash_command_body(PCAP, who.user_id, SUPPORT_CHANNEL, response_url, trigger)
            headers = signed_headers(FAKE_SIGNING_SECRET, body)
            sends.append(bot.http.post(f"{url}/slack/events", content=body, headers=headers))
            urls.append(response_url)
        answers = await asyncio.gather(*sends)
        assert all(r.status_code == 200 for r in answers)
        replies = [await bot.answer(u, wait_s=30) for u in urls]
    texts = [r.text for r in replies]
    assert sum("waiting for approval" in t.lower() for t in texts) == 1, (texts, logs(tmp_path))
    assert sum("already a pcap request" in t for t in texts) == 1, texts
    assert len(bot.slack.messages(APPROVALS_CHANNEL)) == 1
    active = await bot.dexbot.services.requests.in_state([RequestState.PENDING_APPROVAL])
    assert len(active) == 1
