"""Capture requests end to end over HTTP: slash command -> parent message and approval card ->
signed button click -> exactly one command in the simulator, with the thread and the card
telling the story. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.sim.people import (
    ANN,
    APPROVALS_CHANNEL,
    BOB,
    CAROL,
    MAX,
    MIA,
    PRIVATE_CHANNEL_WITHOUT_BOT,
    PUBLIC_CHANNEL_WITHOUT_BOT,
    SAM,
    SUE,
    SUPPORT_CHANNEL,
    Person,
)
from bot.sim.slack.model import Message
from handlers.ids import ActionId
from tests.plugins.bot import BotHarness, blocks_text, click_answers

PCAP_ANN = f'capture <@{ANN.user_id}> pcap 5m --device ann-macbook --reason "VPN drops"'
engines = pytest.mark.parametrize(
    "bot",
    [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)


def buttons(msg: Message) -> list[dict[str, Any]]:
    return [el for b in msg.blocks or [] if b.get("type") == "actions" for el in b["elements"]]


async def click_approve(bot: BotHarness, card: Message, who: Person) -> None:
    """Press Approve on ``card`` as ``who`` (a signed block_actions request)."""
    resp = await bot.click(
        ActionId.APPROVE,
        buttons(card)[0]["value"],
        user=who,
        channel=APPROVALS_CHANNEL,
        message_ts=card.ts,
    )
    assert resp.status_code == 200


async def request_capture(bot: BotHarness, text: str = PCAP_ANN) -> tuple[Message, Message]:
    """Type the request as Sam; returns (parent message, approval card)."""
    reply = await bot.slash(text, user=SAM)
    assert reply is not None and "waiting for approval" in reply.text.lower(), reply.text
    parent = bot.slack.messages(SUPPORT_CHANNEL)[-1]
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    return parent, card


async def thread_texts(bot: BotHarness, parent: Message) -> list[str]:
    return [m.text for m in bot.slack.messages(SUPPORT_CHANNEL, thread_ts=parent.ts)[1:]]


async def wait_thread(bot: BotHarness, parent: Message, needle: str) -> None:
    await bot.slack.wait_for(
        lambda c: (
            c.method == "chat.postMessage"
            and c.args.get("thread_ts") == parent.ts
            and needle in str(c.args.get("text"))
        ),
        timeout=10,
    )


@engines
async def test_request_approve_dispatch_once(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    assert "ann-macbook" in blocks_text(parent.blocks or [])
    approve = [b for b in buttons(card) if b["action_id"] == ActionId.APPROVE]
    assert approve and approve[0].get("confirm")
    request_id = approve[0]["value"]
    assert await bot.sim.requests("POST") == []  # nothing spent before approval

    resp = await bot.click(
        ActionId.APPROVE, request_id, user=MAX, channel=APPROVALS_CHANNEL, message_ts=card.ts
    )
    assert resp.status_code == 200
    await wait_thread(bot, parent, "Sent to ann-macbook")

    posts = bot.cloudflare_posts(await bot.sim.requests("POST"))
    assert len(posts) == 1
    sent = posts[0]["json"]["commands"]
    assert sent[0].pop("registration_id")  # Ann's registration on her laptop
    assert sent == [
        {
            "device_id": bot.sim.device("ann-macbook").device_id,
            "user_email": "ann@example.com",
            "type": "pcap",
            "args": {"time-limit-min": 5},
        }
    ]
    commands = await bot.sim.commands()
    assert len(commands) == 1 and commands[0]["type"] == "pcap"
    texts = await thread_texts(bot, parent)
    assert any("Approved by" in t for t in texts)
    assert any(commands[0]["id"] in t for t in texts)
    card_now = next(m for m in bot.slack.messages(APPROVALS_CHANNEL) if m.ts == card.ts)
    assert buttons(card_now) == []
    assert "Approved by" in blocks_text(card_now.blocks or [])
    trail = await bot.dexbot.services.requests.audit_trail(request_id)
    assert [(a.action, a.actor) for a in trail][:4] == [
        ("requested", SAM.user_id),
        ("approved", MAX.user_id),
        ("dispatch_started", MAX.user_id),
        ("dispatched", MAX.user_id),
    ]


@engines
async def test_two_concurrent_approvals_send_one_command(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    request_id = buttons(card)[0]["value"]
    clicks = await asyncio.gather(
        *(
            bot.click(
                ActionId.APPROVE,
                request_id,
                user=who,
                channel=APPROVALS_CHANNEL,
                message_ts=card.ts,
            )
            for who in (MAX, MIA, MAX, MIA)
        )
    )
    assert all(c.status_code == 200 for c in clicks)
    await wait_thread(bot, parent, "Sent to")
    await bot.slack.wait_for(click_answers(bot.slack), count=3, timeout=10)
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1
    losers = [str(c.args.get("text")) for c in bot.slack.calls(click_answers(bot.slack))]
    assert len(losers) == 3 and all("already approved" in t for t in losers), losers
    texts = await thread_texts(bot, parent)
    assert sum("Approved by" in t for t in texts) == 1
    assert sum("Sent to" in t for t in texts) == 1


async def test_self_approval_is_refused(bot: BotHarness) -> None:
    # Max is both a requester (approvers may ask) and an approver: not for his own request.
    reply = await bot.slash(PCAP_ANN, user=MAX)
    assert reply is not None
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    await click_approve(bot, card, MAX)
    await bot.slack.wait_for(click_answers(bot.slack), timeout=10)
    assert "can't approve your own request" in bot.slack.ephemerals(MAX.user_id)[-1].text
    assert await bot.sim.requests("POST") == []


async def test_non_approver_is_refused(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    await click_approve(bot, card, SUE)
    await bot.slack.wait_for(click_answers(bot.slack), timeout=10)
    assert bot.slack.ephemerals(SUE.user_id)[-1].text.endswith(
        "You are not an approver for this request."
    )
    assert await bot.sim.requests("POST") == []
    card_now = next(m for m in bot.slack.messages(APPROVALS_CHANNEL) if m.ts == card.ts)
    assert buttons(card_now)  # unchanged


async def test_forged_button_value_changes_nothing(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    for forged in ("0" * 32, "'; DROP TABLE capture_requests; --", ""):
        await bot.click(
            ActionId.APPROVE, forged, user=MAX, channel=APPROVALS_CHANNEL, message_ts=card.ts
        )
    await bot.slack.wait_for(click_answers(bot.slack), count=3, timeout=10)
    assert all("don't know that request" in e.text for e in bot.slack.ephemerals(MAX.user_id))
    assert await bot.sim.requests("POST") == []


@pytest.mark.botenv(dex_approval_ttl_seconds=60)
async def test_click_on_an_expired_card(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    # Move the bot's clock past the expiry rather than waiting.
    svc = bot.dexbot.services
    real = svc.clock
    svc.clock = lambda: real() + timedelta(minutes=2)
    await click_approve(bot, card, MAX)
    await bot.slack.wait_for(click_answers(bot.slack), timeout=10)
    assert "expired" in bot.slack.ephemerals(MAX.user_id)[-1].text
    await svc.deliverer.run_once()
    card_now = next(m for m in bot.slack.messages(APPROVALS_CHANNEL) if m.ts == card.ts)
    assert buttons(card_now) == [] and "xpired" in blocks_text(card_now.blocks or [])
    assert any("expired" in t for t in await thread_texts(bot, parent))
    assert await bot.sim.requests("POST") == []


async def test_quota_exhausted_refuses_the_request(bot: BotHarness) -> None:
    await bot.sim.set_quota(quota=5, quota_usage=5)
    reply = await bot.slash(PCAP_ANN, user=SAM)
    assert reply is not None and "quota" in reply.text.lower()
    assert bot.slack.messages(APPROVALS_CHANNEL) == []
    assert await bot.sim.requests("POST") == []


async def test_quota_used_elsewhere_before_approval(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    await bot.sim.set_quota(quota=25, quota_usage=25)  # someone used the dashboard
    await click_approve(bot, card, MAX)
    await bot.slack.wait_for(click_answers(bot.slack), timeout=10)
    assert "quota" in bot.slack.ephemerals(MAX.user_id)[-1].text.lower()
    assert await bot.sim.requests("POST") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('capture <@U0NOBODY1> pcap 5m --reason "x"', "can't find that person"),
        (f'capture <@{CAROL.user_id}> pcap 5m --reason "x"', "devices can run remote commands"),
        (f'capture <@{ANN.user_id}> pcap 0m --reason "x"', "at least 1 minute"),
        (f'capture <@{ANN.user_id}> pcap 5m --size -3MB --reason "x"', "size"),
    ],
)
async def test_bad_requests_write_nothing(bot: BotHarness, text: str, expected: str) -> None:
    reply = await bot.slash(text, user=SAM)
    assert reply is not None and expected in reply.text.lower()
    assert await bot.sim.requests("POST") == []
    assert bot.slack.messages(APPROVALS_CHANNEL) == []


async def test_identical_pending_request_points_to_the_thread(bot: BotHarness) -> None:
    await request_capture(bot)
    reply = await bot.slash(PCAP_ANN, user=SUE)
    assert reply is not None and "already a pcap request" in reply.text
    assert len(bot.slack.messages(APPROVALS_CHANNEL)) == 1


async def test_bot_joins_a_public_channel_and_explains_a_private_one(bot: BotHarness) -> None:
    reply = await bot.slash(PCAP_ANN, user=SAM, channel=PUBLIC_CHANNEL_WITHOUT_BOT)
    assert reply is not None and "waiting for approval" in reply.text.lower()
    assert bot.slack.count("conversations.join") == 1
    reply = await bot.slash(
        f'capture <@{BOB.user_id}> pcap 5m --reason "x"',
        user=SAM,
        channel=PRIVATE_CHANNEL_WITHOUT_BOT,
    )
    assert reply is not None and "/invite @dexbot" in reply.text


async def test_deny_with_a_reason(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    request_id = buttons(card)[0]["value"]
    await bot.click(
        ActionId.DENY, request_id, user=MIA, channel=APPROVALS_CHANNEL, message_ts=card.ts
    )
    await bot.slack.wait_for("views.open", timeout=10)
    from handlers.ids import BlockId, CallbackId

    state = {
        BlockId.REASON.value: {"reason": {"type": "plain_text_input", "value": "use the dashboard"}}
    }
    resp = await bot.submit_view(
        CallbackId.DENY_REASON, state, user=MIA, private_metadata=request_id
    )
    assert resp.status_code == 200
    await wait_thread(bot, parent, "Denied by")
    card_now = next(m for m in bot.slack.messages(APPROVALS_CHANNEL) if m.ts == card.ts)
    assert buttons(card_now) == []
    assert "use the dashboard" in blocks_text(card_now.blocks or [])
    assert await bot.sim.requests("POST") == []


@pytest.mark.botenv(dex_allow_self_approval=True)
async def test_break_glass_self_approval_is_allowed_and_audited(bot: BotHarness) -> None:
    await bot.slash(PCAP_ANN, user=MAX)
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    parent = bot.slack.messages(SUPPORT_CHANNEL)[-1]
    request_id = buttons(card)[0]["value"]
    await bot.click(
        ActionId.APPROVE, request_id, user=MAX, channel=APPROVALS_CHANNEL, message_ts=card.ts
    )
    await wait_thread(bot, parent, "Sent to")
    trail = await bot.dexbot.services.requests.audit_trail(request_id)
    approved = next(a for a in trail if a.action == "approved")
    assert approved.actor == MAX.user_id and approved.detail["break_glass"] is True
