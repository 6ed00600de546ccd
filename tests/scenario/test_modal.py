"""The request form: `/dex` alone, or an incomplete or ambiguous request, opens the modal;
invalid fields come back inline (`response_action: errors`) and nothing is stored or sent."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from bot.sim.people import ANN, APPROVALS_CHANNEL, SAM, SUPPORT_CHANNEL
from bot.sim.slack.payloads import block_actions_payload
from handlers.ids import ActionId, BlockId, CallbackId
from tests.plugins.bot import BotHarness


def state(**fields: dict[str, Any]) -> dict[str, Any]:
    """``view.state.values`` in Slack's shape, one element per block."""
    return {block: {f"el-{block}": value} for block, value in fields.items()}


def text(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def option(value: str, kind: str = "static_select") -> dict[str, Any]:
    return {
        "type": kind,
        "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
    }


def ann_form(bot: BotHarness, **overrides: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, dict[str, Any]] = {
        BlockId.USER.value: {"type": "users_select", "selected_user": ANN.user_id},
        BlockId.DEVICE.value: option(bot.sim.device("ann-desktop").device_id),
        BlockId.TYPE.value: option("pcap", "radio_buttons"),
        BlockId.DURATION.value: text("3m"),
        BlockId.REASON.value: text("Teams calls drop"),
    }
    fields.update(overrides)
    return state(**fields)


async def open_views(bot: BotHarness, count: int = 1) -> list[dict[str, Any]]:
    calls = await bot.slack.wait_for("views.open", count=count, timeout=10)
    return [c.args["view"] for c in calls]


async def test_dex_alone_opens_the_form(bot: BotHarness) -> None:
    await bot.slash("", user=SAM, wait=False)
    (view,) = await open_views(bot)
    assert view["callback_id"] == CallbackId.REQUEST
    assert json.loads(view["private_metadata"]) == {"channel_id": SUPPORT_CHANNEL}
    assert await bot.sim.requests() == []


async def test_several_devices_and_none_named_opens_the_form_prefilled(bot: BotHarness) -> None:
    await bot.slash(f'pcap <@{ANN.user_id}> 5m --reason "calls drop"', user=SAM, wait=False)
    (view,) = await open_views(bot)
    shown = json.dumps(view)
    assert "ann-macbook" in shown and "ann-desktop" in shown and "calls drop" in shown
    assert await bot.sim.requests("POST") == []


async def test_missing_reason_opens_the_form(bot: BotHarness) -> None:
    await bot.slash(f"pcap <@{ANN.user_id}> 5m --device ann-macbook", user=SAM, wait=False)
    (view,) = await open_views(bot)
    assert view["callback_id"] == CallbackId.REQUEST


async def test_invalid_fields_are_reported_inline(bot: BotHarness) -> None:
    form = ann_form(
        bot,
        **{
            BlockId.DURATION.value: text("5x"),
            BlockId.SIZE.value: text("-3MB"),
            BlockId.REASON.value: text("  "),
        },
    )
    resp = await bot.submit_view(
        CallbackId.REQUEST,
        form,
        user=SAM,
        private_metadata=json.dumps({"channel_id": SUPPORT_CHANNEL}),
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {BlockId.DURATION, BlockId.SIZE, BlockId.REASON}
    assert "5x" in body["errors"][BlockId.DURATION]
    assert bot.slack.messages(APPROVALS_CHANNEL) == []
    assert await bot.sim.requests() == []


async def test_preflight_problem_is_shown_on_the_device_field(bot: BotHarness) -> None:
    await bot.sim.set_quota(quota=3, quota_usage=3)
    resp = await bot.submit_view(
        CallbackId.REQUEST,
        ann_form(bot),
        user=SAM,
        private_metadata=json.dumps({"channel_id": SUPPORT_CHANNEL}),
    )
    body = resp.json()
    assert body["response_action"] == "errors"
    assert "quota" in body["errors"][BlockId.DEVICE].lower()
    assert await bot.sim.requests("POST") == []


async def test_valid_form_posts_the_request(bot: BotHarness) -> None:
    resp = await bot.submit_view(
        CallbackId.REQUEST,
        ann_form(bot),
        user=SAM,
        private_metadata=json.dumps({"channel_id": SUPPORT_CHANNEL}),
    )
    assert resp.status_code == 200 and not resp.content  # plain ack: the modal closes
    await bot.slack.wait_for("chat.postEphemeral", timeout=10)
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    shown = json.dumps(card.blocks)
    assert "ann-desktop" in shown and "Teams calls drop" in shown and "3 min" in shown
    assert "waiting for approval" in bot.slack.ephemerals(SAM.user_id)[-1].text.lower()


async def test_choosing_a_person_refreshes_the_devices(bot: BotHarness) -> None:
    await bot.slash("", user=SAM, wait=False)
    (view,) = await open_views(bot)
    opened = bot.slack.views()[-1]
    payload = block_actions_payload(
        ActionId.MODAL_USER,
        "",
        SAM.user_id,
        SUPPORT_CHANNEL,
        "1.1",
        bot.slack.new_response_url(),
        "trig",
    )
    payload["actions"][0]["selected_user"] = ANN.user_id
    payload["view"] = {"id": opened.id, "private_metadata": view["private_metadata"]}
    payload["container"] = {"type": "view", "view_id": opened.id}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    resp = await bot.post_signed(body)
    assert resp.status_code == 200
    (update,) = await bot.slack.wait_for("views.update", timeout=10)
    assert "ann-macbook" in json.dumps(update.args["view"])
