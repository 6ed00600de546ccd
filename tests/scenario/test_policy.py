"""The approval policy file end to end over signed HTTP: presets, grants, a 2-of-N quorum
(exactly one dispatch however the clicks race), a deny after one approval, and a rule that
approves speed tests by itself up to its cap and only while the quota reserve holds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.sim.people import ANN, APPROVALS_CHANNEL, MAX, MIA, SAM, SUE, SUPPORT_CHANNEL, Person
from bot.sim.slack.model import Message
from handlers.ids import ActionId, BlockId, CallbackId
from tests.plugins.bot import BotHarness, blocks_text, click_answers
from tests.scenario.test_capture import buttons, click_approve, wait_thread
from tests.scenario.test_modal import ann_form, option
from tests.worker.story import advance_and_tick, worker_for

POLICIES = Path(__file__).parent / "policies"
team = pytest.mark.botenv(dex_policy_file=str(POLICIES / "team.yaml"))
engines = pytest.mark.parametrize(
    "bot",
    [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
LONG_PCAP = f'pcap <@{ANN.user_id}> 8m --device ann-macbook --reason "drops all day"'


def card_now(bot: BotHarness, card: Message) -> Message:
    return next(m for m in bot.slack.messages(APPROVALS_CHANNEL) if m.ts == card.ts)


async def wait_card(bot: BotHarness, card: Message, needle: str) -> None:
    """Until the card has been edited to show ``needle``."""
    await bot.slack.wait_for(
        lambda c: (
            c.method == "chat.update"
            and c.args.get("ts") == card.ts
            and needle in blocks_text(c.args.get("blocks") or [])
        ),
        timeout=10,
    )


async def ask(bot: BotHarness, text: str, who: Person = SAM) -> tuple[str, Message, Message]:
    """Type ``/dex text`` as ``who``; (the answer, the parent, the card)."""
    before = len(bot.slack.messages(APPROVALS_CHANNEL))
    reply = await bot.slash(text, user=who)
    assert reply is not None
    cards = bot.slack.messages(APPROVALS_CHANNEL)
    assert len(cards) == before + 1, reply.text
    return reply.text, bot.slack.messages(SUPPORT_CHANNEL)[-1], cards[-1]


async def posts(bot: BotHarness) -> list[dict]:  # type: ignore[type-arg]
    return bot.cloudflare_posts(await bot.sim.requests("POST"))


@team
async def test_a_preset_request(bot: BotHarness) -> None:
    listed = await bot.slash("presets", user=SAM)
    assert listed is not None and "vpn-drops" in listed.text and "quick-speed" in listed.text

    _, parent, card = await ask(bot, f"capture <@{ANN.user_id}> vpn-drops --device ann-macbook")
    shown = blocks_text(card.blocks or [])
    assert "Packet capture, 5 min, up to 20 MB" in shown
    assert "VPN keeps dropping" in shown  # the preset's reason, as none was given
    await click_approve(bot, card, MAX)
    await wait_thread(bot, parent, "Sent to ann-macbook")
    sent = (await posts(bot))[0]["json"]["commands"][0]
    assert sent["args"] == {"time-limit-min": 5, "max-file-size-mb": 20}


@team
async def test_the_policy_says_who_may_request_what(bot: BotHarness) -> None:
    refused = await bot.slash(f'diag <@{ANN.user_id}> --reason "wiki"', user=SAM)
    assert refused is not None and "doesn't let you request" in refused.text
    assert bot.slack.messages(APPROVALS_CHANNEL) == []
    _, _, card = await ask(bot, f'diag <@{ANN.user_id}> --device ann-macbook --reason "wiki"', SUE)
    assert buttons(card)
    assert await posts(bot) == []


@team
@engines
async def test_two_of_n_quorum_dispatches_once_at_the_second_approver(bot: BotHarness) -> None:
    _, parent, card = await ask(bot, LONG_PCAP)
    assert "needs 2 distinct approvals" in blocks_text(card.blocks or [])

    await click_approve(bot, card, MAX)
    await wait_card(bot, card, "1 of 2 approvals")
    shown = blocks_text(card_now(bot, card).blocks or [])
    assert f"1 of 2 approvals: <@{MAX.user_id}>" in shown
    assert buttons(card_now(bot, card))  # still open
    assert card_now(bot, card).ts == card.ts  # edited in place, not a new card
    assert await posts(bot) == []

    # The same approver again counts once.
    await click_approve(bot, card, MAX)
    await bot.slack.wait_for(click_answers(bot.slack), timeout=10)
    assert "already counted (1 of 2)" in bot.slack.ephemerals(MAX.user_id)[-1].text
    assert await posts(bot) == []

    await click_approve(bot, card, MIA)
    await wait_thread(bot, parent, "Sent to ann-macbook")
    assert len(await posts(bot)) == 1
    request_id = _request_id(card)
    trail = await bot.dexbot.services.requests.audit_trail(request_id)
    assert [(a.action, a.actor) for a in trail][:3] == [
        ("requested", SAM.user_id),
        ("approval_recorded", MAX.user_id),
        ("approved", MIA.user_id),
    ]
    assert trail[2].detail["rule"] == "long-capture"
    assert isinstance(trail[2].detail["forecast_after"], int)


@team
@engines
async def test_racing_quorum_clicks_give_one_dispatch(bot: BotHarness) -> None:
    _, parent, card = await ask(bot, LONG_PCAP)
    request_id = _request_id(card)
    clicks = await asyncio.gather(
        *(
            bot.click(
                ActionId.APPROVE,
                request_id,
                user=who,
                channel=APPROVALS_CHANNEL,
                message_ts=card.ts,
            )
            for who in (MAX, MIA, MAX, MIA, MAX, MIA)
        )
    )
    assert all(c.status_code == 200 for c in clicks)
    await wait_thread(bot, parent, "Sent to")
    await bot.local.idle(10)
    assert len(await posts(bot)) == 1
    texts = [m.text for m in bot.slack.messages(SUPPORT_CHANNEL, thread_ts=parent.ts)[1:]]
    assert sum("Approved by" in t for t in texts) == 1
    req = await bot.dexbot.services.requests.get(request_id)
    assert req is not None and sorted(req.approvals) == sorted([MAX.user_id, MIA.user_id])


@team
async def test_a_deny_after_one_approval_ends_it(bot: BotHarness) -> None:
    _, parent, card = await ask(bot, LONG_PCAP)
    await click_approve(bot, card, MAX)
    await wait_card(bot, card, "1 of 2 approvals")
    request_id = _request_id(card)
    await bot.click(
        ActionId.DENY, request_id, user=MIA, channel=APPROVALS_CHANNEL, message_ts=card.ts
    )
    await bot.slack.wait_for("views.open", timeout=10)
    state = {BlockId.REASON.value: {"reason": {"type": "plain_text_input", "value": "not today"}}}
    resp = await bot.submit_view(
        CallbackId.DENY_REASON, state, user=MIA, private_metadata=request_id
    )
    assert resp.status_code == 200
    await wait_thread(bot, parent, "Denied by")
    assert buttons(card_now(bot, card)) == []
    await bot.click(  # too late: it is over
        ActionId.APPROVE, request_id, user=MIA, channel=APPROVALS_CHANNEL, message_ts=card.ts
    )
    await bot.slack.wait_for(click_answers(bot.slack), timeout=10)
    assert "already denied" in bot.slack.ephemerals(MIA.user_id)[-1].text
    assert await posts(bot) == []


@team
async def test_the_requester_never_counts(bot: BotHarness) -> None:
    _, _, card = await ask(bot, LONG_PCAP, who=MAX)  # an approver asking for himself
    await click_approve(bot, card, MAX)
    await bot.slack.wait_for(click_answers(bot.slack), timeout=10)
    assert "can't approve your own request" in bot.slack.ephemerals(MAX.user_id)[-1].text
    req = await bot.dexbot.services.requests.get(_request_id(card))
    assert req is not None and req.approvals == ()


@team
async def test_auto_approval_up_to_its_cap_then_people(bot: BotHarness) -> None:
    for device in ("ann-macbook", "ann-desktop"):
        _, parent, card = await ask(bot, f'speedtest --device {device} --reason "slow calls"')
        await wait_thread(bot, parent, f"Sent to {device}")
        shown = blocks_text(card_now(bot, card).blocks or [])
        assert "Approved by rule `speedtest-auto`" in shown
        assert buttons(card_now(bot, card)) == []
    assert len(await posts(bot)) == 2
    trail = await bot.dexbot.services.requests.audit_trail(_request_id(card))
    assert ("approved", "rule:speedtest-auto") in [(a.action, a.actor) for a in trail]

    _, _, third = await ask(bot, 'speedtest --device kiosk-lobby-01 --reason "slow calls"')
    shown = blocks_text(third.blocks or [])
    assert "cap of 2 per 60 min is used up" in shown
    assert buttons(third)  # people decide now
    assert len(await posts(bot)) == 2
    await click_approve(bot, third, MAX)
    await bot.local.idle(10)
    assert len(await posts(bot)) == 3
    assert "Approved by <@" in blocks_text(card_now(bot, third).blocks or [])


def _request_id(card: Message) -> str:
    """The request a card belongs to, from the outbox key in its metadata."""
    assert card.metadata is not None
    return str(card.metadata["event_payload"]["key"]).split(":")[0]


@pytest.mark.botenv(dex_policy_file=str(POLICIES / "reserve.yaml"))
async def test_auto_approval_refused_when_it_would_break_the_reserve(bot: BotHarness) -> None:
    await bot.sim.set_quota(quota=25, quota_usage=5)  # 19 left after it: under the 20 kept
    _, _, card = await ask(bot, 'speedtest --device ann-macbook --reason "slow calls"')
    assert "fewer than 20 commands of quota in reserve" in blocks_text(card.blocks or [])
    assert buttons(card)
    await bot.local.idle(10)
    assert await posts(bot) == []


@team
@pytest.mark.botclock("sim")
async def test_an_escalation_after_t_on_the_simulators_clock(bot: BotHarness) -> None:
    _, _, card = await ask(bot, f'pcap <@{ANN.user_id}> 5m --device ann-macbook --reason "x"')
    worker = worker_for(bot)
    await advance_and_tick(bot, worker, 9 * 60)  # not yet: the rule says 10 minutes
    under_card = bot.slack.messages(APPROVALS_CHANNEL, thread_ts=card.ts)[1:]
    assert under_card == []
    await advance_and_tick(bot, worker, 2 * 60)
    await advance_and_tick(bot, worker, 60)  # a later tick never reminds twice
    under_card = bot.slack.messages(APPROVALS_CHANNEL, thread_ts=card.ts)[1:]
    assert len(under_card) == 1, [m.text for m in under_card]
    assert "Still waiting for approval after 10 min" in under_card[0].text
    assert "<!subteam^S0ONCALL>" in under_card[0].text
    reminder = next(c for c in bot.slack.calls("chat.postMessage") if c.args.get("thread_ts"))
    assert reminder.args.get("reply_broadcast") in (True, "true", "1")
    assert buttons(card_now(bot, card))  # still open for a decision
    trail = await bot.dexbot.services.requests.audit_trail(_request_id(card))
    assert [a.action for a in trail].count("escalated") == 1


@team
@engines
async def test_a_racing_approve_and_deny_after_one_approval(bot: BotHarness) -> None:
    _, _, card = await ask(bot, LONG_PCAP)
    await click_approve(bot, card, MAX)
    await wait_card(bot, card, "1 of 2 approvals")
    request_id = _request_id(card)
    services = bot.dexbot.services
    results = await asyncio.gather(
        services.flows.approve(request_id, MIA.user_id),
        services.flows.deny(request_id, MAX.user_id, "changed my mind"),
        return_exceptions=True,
    )
    await bot.local.idle(10)
    req = await services.requests.get(request_id)
    assert req is not None
    sent = len(await posts(bot))
    if req.state.value == "denied":
        assert sent == 0 and any(isinstance(r, Exception) for r in results)
    else:
        assert sent == 1 and req.state.value in ("dispatched", "completed")
    held = await services.requests.held_units()
    assert held == 0  # nothing left reserved either way


@team
@pytest.mark.botclock("sim")
async def test_the_deciding_click_at_the_moment_of_expiry(bot: BotHarness) -> None:
    _, _, card = await ask(bot, LONG_PCAP)  # the default TTL of 30 min applies to this rule
    await click_approve(bot, card, MAX)
    await wait_card(bot, card, "1 of 2 approvals")
    await bot.sim.advance(30 * 60)  # exactly at expires_at: too late
    await click_approve(bot, card, MIA)
    await bot.slack.wait_for(click_answers(bot.slack), timeout=10)
    assert "expired" in bot.slack.ephemerals(MIA.user_id)[-1].text
    await bot.local.idle(10)
    assert await posts(bot) == []
    assert await bot.dexbot.services.requests.held_units() == 0


@team
async def test_the_form_offers_the_presets(bot: BotHarness) -> None:
    await bot.slash("", user=SAM, wait=False)
    (call,) = await bot.slack.wait_for("views.open", timeout=10)
    offered = blocks_text(call.args["view"]["blocks"])
    assert "Preset vpn-drops: VPN drops, a short capture" in offered
    assert "preset:vpn-drops" in offered

    form = ann_form(
        bot,
        **{
            BlockId.TYPE.value: option("preset:vpn-drops", "radio_buttons"),
            BlockId.REASON.value: {"type": "plain_text_input", "value": None},
        },
    )
    resp = await bot.submit_view(
        CallbackId.REQUEST,
        form,
        user=SAM,
        private_metadata=json.dumps({"channel_id": SUPPORT_CHANNEL}),
    )
    assert resp.status_code == 200 and not resp.content
    await bot.slack.wait_for(click_answers(bot.slack), timeout=10)
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    shown = blocks_text(card.blocks or [])
    assert "Packet capture, 5 min, up to 20 MB" in shown and "VPN keeps dropping" in shown


@team
@engines
async def test_racing_requests_never_pass_the_auto_approval_cap(bot: BotHarness) -> None:
    devices = ("ann-macbook", "ann-desktop", "kiosk-lobby-01")
    await asyncio.gather(
        *(bot.slash(f'speedtest --device {d} --reason "slow calls"', user=SAM) for d in devices)
    )
    await bot.local.idle(10)
    cards = bot.slack.messages(APPROVALS_CHANNEL)
    assert len(cards) == 3
    assert len(await posts(bot)) == 2  # the cap is 2, however the requests raced
    shown = [blocks_text(c.blocks or []) for c in cards]
    assert sum("Approved by rule `speedtest-auto`" in t for t in shown) == 2
    waiting = [c for c in cards if buttons(c)]
    assert len(waiting) == 1
    assert "cap of 2 per 60 min is used up" in blocks_text(waiting[0].blocks or [])
