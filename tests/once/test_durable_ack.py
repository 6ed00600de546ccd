"""Issue 16, item 7, over a real ``dexbot serve`` process: a slash command is written down
before its ack. Killed after the ack and before anything else was stored, the command is not
lost silently: the worker tells the requester, once. An answered command leaves nothing."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

from bot.domain.model import RequestState
from bot.sim.people import ANN, SAM, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_SIGNING_SECRET
from bot.sim.slack.payloads import signed_headers, slash_command_body
from bot.worker.intents import LEFT_BEHIND_AFTER
from tests.once.procs import logs, serve_process, wait_ready
from tests.plugins.bot import BotHarness
from tests.worker.story import worker_for

PCAP = f'capture <@{ANN.user_id}> pcap 5m --device ann-macbook --reason "VPN drops"'


def dms(bot: BotHarness) -> list[str]:
    return [
        str(c.args.get("text"))
        for c in bot.slack.calls("chat.postMessage")
        if c.args.get("channel") == SAM.user_id and c.ok
    ]


def later(bot: BotHarness, by: timedelta) -> None:
    svc = bot.dexbot.services
    real = svc.clock
    svc.clock = lambda: real() + by


async def send(bot: BotHarness, url: str, text: str) -> str:
    response_url = bot.slack.new_response_url(channel=SUPPORT_CHANNEL, user=SAM.user_id)
    trigger = bot.slack.new_trigger_id(user=SAM.user_id)
    body = slash_command_body(text, SAM.user_id, SUPPORT_CHANNEL, response_url, trigger)
    resp = await bot.http.post(
        f"{url}/slack/events", content=body, headers=signed_headers(FAKE_SIGNING_SECRET, body)
    )
    assert resp.status_code == 200  # acknowledged
    return response_url


async def test_killed_after_the_ack_the_requester_is_told(bot: BotHarness, tmp_path: Path) -> None:
    hold = bot.slack.hold("users.info")  # pre-flight looks Ann up: Slack answers, slowly
    with serve_process(bot, tmp_path, "serve") as (proc, url):
        await wait_ready(url, proc)
        await send(bot, url, PCAP)
        await bot.slack.wait_for("users.info", timeout=30)
        proc.send_signal(signal.SIGKILL)  # after the ack, before the request row
        assert proc.wait(timeout=10) == -signal.SIGKILL
    hold.release()

    worker = worker_for(bot)
    await worker.tick()
    assert dms(bot) == []  # not yet: a live listener could still be answering
    later(bot, LEFT_BEHIND_AFTER + timedelta(seconds=1))
    await worker.tick()
    await worker.tick()
    told = dms(bot)
    assert len(told) == 1, logs(tmp_path)
    assert "I lost your command" in told[0] and "ann-macbook" in told[0]
    assert "send it again" in told[0]
    assert await bot.sim.requests("POST") == []
    assert await bot.dexbot.services.requests.in_state(list(RequestState)) == []


async def test_an_answered_command_leaves_nothing_to_tell(bot: BotHarness, tmp_path: Path) -> None:
    with serve_process(bot, tmp_path, "serve") as (proc, url):
        await wait_ready(url, proc)
        response_url = await send(bot, url, PCAP)
        await bot.answer(response_url, wait_s=30)
        await bot.slack.wait_for(lambda c: c.method == "chat.postMessage", count=2, timeout=30)
    later(bot, LEFT_BEHIND_AFTER * 3)
    await worker_for(bot).tick()
    assert dms(bot) == []
