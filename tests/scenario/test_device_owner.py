"""The person whose device is targeted: with ``device_owner: acknowledge`` nothing is sent
until they press OK; a decline or no answer within the TTL cancels it with its quota
released. With ``notify`` they are told when it is approved and when it is done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.domain.model import RequestState
from bot.sim.people import ANN, MAX, SAM, SUPPORT_CHANNEL
from bot.sim.slack.conversations import im_channel_id
from bot.sim.slack.model import Message
from handlers.ids import ActionId
from tests.plugins.bot import BotHarness, blocks_text
from tests.scenario.test_capture import click_approve, request_capture, wait_thread
from tests.worker.story import advance_and_tick, worker_for

owner_policy = pytest.mark.botenv(
    dex_policy_file=str(Path(__file__).parent / "policies" / "owner.yaml")
)


def ann_dm(bot: BotHarness) -> list[Message]:
    return bot.slack.messages(im_channel_id(ANN.user_id))


async def asked(bot: BotHarness) -> Message:
    """Until Ann has been asked for her OK; the message with the buttons."""
    await bot.slack.wait_for(
        lambda c: c.method == "chat.postMessage" and c.args.get("channel") == ANN.user_id,
        timeout=10,
    )
    return ann_dm(bot)[-1]


def owner_button(msg: Message, action: ActionId) -> dict[str, Any]:
    return next(
        el
        for b in msg.blocks or []
        if b.get("type") == "actions"
        for el in b["elements"]
        if el["action_id"] == action
    )


async def press(bot: BotHarness, msg: Message, action: ActionId, value: str) -> None:
    """Press OK or Decline on the ask as Ann (``value``: the request id the button carried)."""
    resp = await bot.click(
        action, value, user=ANN, channel=im_channel_id(ANN.user_id), message_ts=msg.ts
    )
    assert resp.status_code == 200
    await bot.local.idle(10)


async def posts(bot: BotHarness) -> int:
    return len(bot.cloudflare_posts(await bot.sim.requests("POST")))


@owner_policy
async def test_acknowledged_then_sent_once(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    await click_approve(bot, card, MAX)
    ask = await asked(bot)
    rid = owner_button(ask, ActionId.OWNER_OK)["value"]
    assert f"<@{SAM.user_id}> asked for a packet capture, 5 min on `ann-macbook`" in ask.text
    assert "Reason: VPN drops" in ask.text and "It runs only if you say OK" in ask.text
    await bot.local.idle(10)
    assert await posts(bot) == 0  # approved, but nothing sent before her OK
    assert "waiting for <@U0ANN0001> to say OK" in blocks_text(card.blocks or [])
    assert await bot.dexbot.services.requests.held_units() == 1  # reserved meanwhile

    await press(bot, ask, ActionId.OWNER_OK, rid)
    await wait_thread(bot, parent, "Sent to ann-macbook")
    assert await posts(bot) == 1
    assert "Thanks: it will run now" in ann_dm(bot)[-1].text  # the ask, answered in place
    await press(bot, ask, ActionId.OWNER_OK, rid)  # a second press sends nothing more
    assert await posts(bot) == 1
    thread = [m.text for m in bot.slack.messages(SUPPORT_CHANNEL, thread_ts=parent.ts)[1:]]
    assert any("said OK" in t for t in thread)


@owner_policy
async def test_declined_cancels_and_releases_the_quota(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    await click_approve(bot, card, MAX)
    ask = await asked(bot)
    rid = owner_button(ask, ActionId.OWNER_OK)["value"]
    await press(bot, ask, ActionId.OWNER_DECLINE, rid)
    await wait_thread(bot, parent, "declined")
    req = await bot.dexbot.services.requests.get(rid)
    assert req is not None and req.state is RequestState.CANCELLED
    assert await bot.dexbot.services.requests.held_units() == 0
    assert await posts(bot) == 0
    assert "the device's owner declined" in blocks_text(card.blocks or [])
    told = [m.text for m in bot.slack.messages(im_channel_id(SAM.user_id))]
    assert any("was declined by <@U0ANN0001>" in t for t in told)


@owner_policy
async def test_only_the_owner_can_answer(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    await click_approve(bot, card, MAX)
    ask = await asked(bot)
    value = owner_button(ask, ActionId.OWNER_OK)["value"]
    await bot.click(
        ActionId.OWNER_OK, value, user=MAX, channel=im_channel_id(ANN.user_id), message_ts=ask.ts
    )
    await bot.local.idle(10)
    assert await posts(bot) == 0
    answers = [e.text for e in bot.slack.ephemerals(MAX.user_id)]
    assert any("Only the person whose device this is can answer" in t for t in answers), answers


@owner_policy
@pytest.mark.botclock("sim")
async def test_no_answer_within_the_ttl_expires_it(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    await click_approve(bot, card, MAX)
    ask = await asked(bot)
    rid = owner_button(ask, ActionId.OWNER_OK)["value"]
    await advance_and_tick(bot, worker_for(bot), 11 * 60)  # the rule's 10 minutes
    await wait_thread(bot, parent, "didn't answer within 10 min")
    assert await bot.dexbot.services.requests.held_units() == 0
    await press(bot, ask, ActionId.OWNER_OK, rid)  # too late
    assert await posts(bot) == 0


@owner_policy
async def test_notify_tells_the_owner_when_approved(bot: BotHarness) -> None:
    text = f'speedtest <@{ANN.user_id}> --device ann-macbook --reason "slow calls"'
    parent, card = await request_capture(bot, text)
    await click_approve(bot, card, MAX)
    await wait_thread(bot, parent, "Sent to ann-macbook")
    told = await bot.slack.wait_for(
        lambda c: c.method == "chat.postMessage" and c.args.get("channel") == ANN.user_id,
        timeout=10,
    )
    words = str(told[0].args["text"])
    assert f"<@{SAM.user_id}> asked for a speed test on `ann-macbook`" in words
    assert "Reason: slow calls" in words and "being sent to your device now" in words
    assert await posts(bot) == 1


@owner_policy
@pytest.mark.botclock("sim")
async def test_notify_tells_the_owner_when_done(bot: BotHarness) -> None:
    text = f'speedtest <@{ANN.user_id}> --device ann-macbook --reason "slow calls"'
    parent, card = await request_capture(bot, text)
    await click_approve(bot, card, MAX)
    await wait_thread(bot, parent, "Sent to ann-macbook")
    worker = worker_for(bot)
    for _ in range(10):  # the simulated device runs it and reports back
        await advance_and_tick(bot, worker, 60)
        if any("has finished" in m.text for m in ann_dm(bot)):
            break
    assert sum("on your device has finished" in m.text for m in ann_dm(bot)) == 1
