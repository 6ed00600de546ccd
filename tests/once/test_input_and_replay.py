"""Issue 16, items 6 and 8 over signed HTTP: a replayed request does nothing; modal input is
held to the slash command's checks; malformed ``private_metadata`` is a 400 and nothing else."""

from __future__ import annotations

import json

import pytest

from bot.sim.people import ANN, APPROVALS_CHANNEL, MIA, SAM, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_SIGNING_SECRET
from bot.sim.slack.payloads import block_actions_body, signed_headers, slash_command_body
from handlers.ids import ActionId, BlockId, CallbackId
from tests.plugins.bot import BotHarness
from tests.scenario.test_capture import buttons, engines, wait_thread
from tests.scenario.test_modal import ann_form, text

PCAP = f'capture <@{ANN.user_id}> pcap 5m --device ann-macbook --reason "VPN drops"'
META = json.dumps({"channel_id": SUPPORT_CHANNEL})


@engines
async def test_a_replayed_slash_command_after_a_denial_does_nothing(bot: BotHarness) -> None:
    url = bot.slack.new_response_url(channel=SUPPORT_CHANNEL, user=SAM.user_id)
    trigger = bot.slack.new_trigger_id(user=SAM.user_id)
    body = slash_command_body(PCAP, SAM.user_id, SUPPORT_CHANNEL, url, trigger)
    headers = signed_headers(FAKE_SIGNING_SECRET, body)
    assert (await bot.post_signed(body, headers=headers)).status_code == 200
    await bot.answer(url)
    parent = bot.slack.messages(SUPPORT_CHANNEL)[-1]
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    rid = buttons(card)[0]["value"]
    await bot.click(ActionId.DENY, rid, user=MIA, channel=APPROVALS_CHANNEL, message_ts=card.ts)
    await bot.slack.wait_for("views.open", timeout=10)
    deny = {BlockId.REASON.value: {"r": {"type": "plain_text_input", "value": "no"}}}
    await bot.submit_view(CallbackId.DENY_REASON, deny, user=MIA, private_metadata=rid)
    await wait_thread(bot, parent, "Denied by")
    cards = len(bot.slack.messages(APPROVALS_CHANNEL))

    replay = await bot.post_signed(body, headers=headers)  # same bytes, same signature
    assert replay.status_code == 200 and replay.text == ""
    await bot.local.idle(10)
    await bot.dexbot.services.deliverer.run_once()
    assert len(bot.slack.messages(APPROVALS_CHANNEL)) == cards
    assert len(bot.slack.responses(url)) == 1  # answered once, for the first copy
    assert await bot.sim.requests("POST") == []


async def test_a_replayed_click_is_ignored(bot: BotHarness) -> None:
    await bot.slash(PCAP, user=SAM)
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    rid = buttons(card)[1]["value"]
    url = bot.slack.new_response_url(channel=APPROVALS_CHANNEL, user=MIA.user_id)
    trigger = bot.slack.new_trigger_id(user=MIA.user_id)
    body = block_actions_body(
        ActionId.DENY, rid, MIA.user_id, APPROVALS_CHANNEL, card.ts, url, trigger
    )
    headers = signed_headers(FAKE_SIGNING_SECRET, body)
    await bot.post_signed(body, headers=headers)
    await bot.post_signed(body, headers=headers)
    await bot.slack.wait_for("views.open", timeout=10)
    await bot.local.idle(10)
    assert len(bot.slack.calls("views.open")) == 1


@pytest.mark.parametrize(
    "metadata",
    ["not json", "[1, 2]", '"C0SUPPORT"', json.dumps({"channel_id": ["C0SUPPORT"]}), "{"],
)
async def test_malformed_request_form_metadata_is_a_400(bot: BotHarness, metadata: str) -> None:
    resp = await bot.submit_view(
        CallbackId.REQUEST, ann_form(bot), user=SAM, private_metadata=metadata
    )
    assert resp.status_code == 400
    await bot.local.idle(10)
    assert [c for c in bot.slack.calls() if c.method.startswith(("chat.", "views."))] == []
    assert bot.slack.messages(APPROVALS_CHANNEL) == []
    assert await bot.sim.requests() == []


@pytest.mark.parametrize("metadata", ["", "x" * 32, "0" * 31, json.dumps({"id": "0" * 32})])
async def test_malformed_deny_form_metadata_is_a_400(bot: BotHarness, metadata: str) -> None:
    deny = {BlockId.REASON.value: {"r": {"type": "plain_text_input", "value": "no"}}}
    resp = await bot.submit_view(CallbackId.DENY_REASON, deny, user=MIA, private_metadata=metadata)
    assert resp.status_code == 400
    await bot.local.idle(10)
    assert bot.slack.ephemerals() == []


@engines
async def test_a_10000_character_modal_reason_is_refused_inline(bot: BotHarness) -> None:
    form = ann_form(bot, **{BlockId.REASON.value: text("x" * 10_000)})
    resp = await bot.submit_view(CallbackId.REQUEST, form, user=SAM, private_metadata=META)
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_action"] == "errors"
    assert "under 500 characters" in body["errors"][BlockId.REASON]
    assert bot.slack.messages(APPROVALS_CHANNEL) == []
    assert await bot.sim.requests() == []


@engines
async def test_a_nul_byte_in_a_modal_reason_is_stored_without_it(bot: BotHarness) -> None:
    form = ann_form(bot, **{BlockId.REASON.value: text("Teams\x00 calls\x00drop")})
    resp = await bot.submit_view(CallbackId.REQUEST, form, user=SAM, private_metadata=META)
    assert resp.status_code == 200
    await bot.slack.wait_for(lambda c: c.method == "chat.postMessage", count=2, timeout=10)
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    shown = json.dumps(card.blocks)
    assert "Teams callsdrop" in shown and "\\u0000" not in shown
    assert all("went wrong" not in e.text for e in bot.slack.ephemerals())


@engines
async def test_a_nul_byte_and_a_long_deny_note(bot: BotHarness) -> None:
    await bot.slash(PCAP, user=SAM)
    parent = bot.slack.messages(SUPPORT_CHANNEL)[-1]
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    rid = buttons(card)[0]["value"]
    long = {BlockId.REASON.value: {"r": {"type": "plain_text_input", "value": "n" * 10_000}}}
    resp = await bot.submit_view(CallbackId.DENY_REASON, long, user=MIA, private_metadata=rid)
    assert resp.json()["response_action"] == "errors"
    nul = {BlockId.REASON.value: {"r": {"type": "plain_text_input", "value": "use\x00 the web"}}}
    resp = await bot.submit_view(CallbackId.DENY_REASON, nul, user=MIA, private_metadata=rid)
    assert resp.status_code == 200
    await wait_thread(bot, parent, "Denied by")
    card_now = next(m for m in bot.slack.messages(APPROVALS_CHANNEL) if m.ts == card.ts)
    assert "use the web" in json.dumps(card_now.blocks)
