"""Slack's own payload shapes, and malformed requests, over signed HTTP (issue 10).

The payloads in ``tests/payloads/`` carry every field Slack documents, even those dexbot
ignores (``enterprise_id``, ``is_enterprise_install``, ``channel_name: directmessage``, …).
Malformed requests must answer 400 or 401 and leave nothing stored, sent or posted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.sim.people import ANN, APPROVALS_CHANNEL, MAX, SAM, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_SIGNING_SECRET
from bot.sim.slack.conversations import im_channel_id
from bot.sim.slack.payloads import signed_headers, slash_command_body
from tests.plugins.bot import BotHarness, blocks_text

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"


def fixture(name: str, **values: str) -> dict[str, Any]:
    text = (PAYLOADS / name).read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return json.loads(text)


def interactive(payload: Any) -> bytes:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return urlencode({"payload": raw}).encode()


# -- Slack's documented shapes -----------------------------------------------------------
async def test_a_slash_command_from_an_enterprise_dm_with_every_field(bot: BotHarness) -> None:
    url = bot.slack.new_response_url(channel=im_channel_id(SAM.user_id), user=SAM.user_id)
    payload = fixture(
        "slash_command_dm.json",
        dm=im_channel_id(SAM.user_id),
        user=SAM.user_id,
        response_url=url,
        trigger_id=bot.slack.new_trigger_id(SAM.user_id),
    )
    resp = await bot.post_signed(urlencode(payload).encode())
    assert resp.status_code == 200
    reply = await bot.answer(url)
    assert "left" in (reply.text + blocks_text(reply.blocks)).lower()


async def test_block_actions_from_a_message_in_slacks_shape(bot: BotHarness) -> None:
    posted = await bot.dexbot.services.slack.chat_postMessage(channel=APPROVALS_CHANNEL, text="x")
    url = bot.slack.new_response_url(
        channel=APPROVALS_CHANNEL, user=MAX.user_id, message_ts=posted["ts"]
    )
    payload = fixture(
        "block_actions_message.json",
        user=MAX.user_id,
        channel=APPROVALS_CHANNEL,
        message_ts=posted["ts"],
        response_url=url,
        trigger_id=bot.slack.new_trigger_id(MAX.user_id),
    )
    resp = await bot.post_signed(interactive(payload))
    assert resp.status_code == 200
    assert bot.cloudflare_posts(await bot.sim.requests()) == []  # an unknown request: no spend


async def test_block_actions_from_a_modal_in_slacks_shape(bot: BotHarness) -> None:
    payload = fixture(
        "block_actions_modal.json",
        user=SAM.user_id,
        view_id="V0NOTOPEN1",
        trigger_id=bot.slack.new_trigger_id(SAM.user_id),
    )
    resp = await bot.post_signed(interactive(payload))
    assert resp.status_code == 200
    assert bot.cloudflare_posts(await bot.sim.requests()) == []


async def test_view_submission_in_slacks_shape(bot: BotHarness) -> None:
    payload = fixture(
        "view_submission.json",
        user=MAX.user_id,
        view_id="V0NOTOPEN2",
        trigger_id=bot.slack.new_trigger_id(MAX.user_id),
    )
    resp = await bot.post_signed(interactive(payload))
    assert resp.status_code == 200
    assert bot.cloudflare_posts(await bot.sim.requests()) == []


async def test_view_closed_is_acknowledged_and_nothing_else(bot: BotHarness) -> None:
    payload = fixture("view_closed.json", user=SAM.user_id, view_id="V0NOTOPEN3")
    resp = await bot.post_signed(interactive(payload))
    assert resp.status_code == 200
    assert bot.slack.calls() == [] and await bot.sim.requests() == []


# -- malformed requests ------------------------------------------------------------------
def click(actions: list[dict[str, Any]]) -> dict[str, Any]:
    payload = fixture(
        "block_actions_message.json",
        user=MAX.user_id, channel=APPROVALS_CHANNEL, message_ts="1700000000.000100",
        response_url="https://hooks.invalid/x", trigger_id="t",
    )  # fmt: skip
    payload["actions"] = actions
    return payload


def submission(callback_id: str) -> dict[str, Any]:
    payload = fixture("view_submission.json", user=MAX.user_id, view_id="V1", trigger_id="t")
    payload["view"]["callback_id"] = callback_id
    return payload


MALFORMED_BODIES: dict[str, Any] = {
    "payload not JSON": "{not json",
    "payload a JSON array": "[1, 2, 3]",
    "payload a string": '"block_actions"',
    "no actions": click([]),
    "unknown action_id": click([{"action_id": "dex.launch_missiles", "type": "button"}]),
    "callback_id never issued": submission("dex.not_ours"),
    "no type": {"user": {"id": SAM.user_id}},
}


@pytest.mark.parametrize("payload", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
async def test_a_malformed_interaction_is_refused_and_nothing_done(
    bot: BotHarness, payload: Any
) -> None:
    await bot.sim.clear_requests()
    resp = await bot.post_signed(interactive(payload))
    assert resp.status_code == 400
    assert bot.slack.calls() == [] and await bot.sim.requests() == []


@pytest.mark.parametrize("timestamp", ["", "soon", "17e8", "-1"])
async def test_a_missing_or_non_numeric_timestamp_is_refused(
    bot: BotHarness, timestamp: str
) -> None:
    await bot.sim.clear_requests()
    url = bot.slack.new_response_url(channel=SUPPORT_CHANNEL, user=SAM.user_id)
    body = slash_command_body("quota", SAM.user_id, SUPPORT_CHANNEL, url, "t")
    headers = signed_headers(FAKE_SIGNING_SECRET, body)
    if timestamp:
        headers["X-Slack-Request-Timestamp"] = timestamp
    else:
        del headers["X-Slack-Request-Timestamp"]
    resp = await bot.post_signed(body, headers=headers)
    assert resp.status_code == 401
    assert bot.slack.calls() == [] and await bot.sim.requests() == []


# -- live status per device --------------------------------------------------------------
@pytest.mark.parametrize("mode", ["404", "empty"])
async def test_status_answers_for_every_device_when_one_has_no_data(
    bot: BotHarness, mode: str
) -> None:
    await bot.sim.configure(live_no_data=mode, device_status={"ann-desktop": "disconnected"})
    reply = await bot.slash(f"status <@{ANN.user_id}>", user=SAM)
    assert reply is not None
    shown = blocks_text(reply.blocks)
    assert "ann-macbook" in shown and "connected" in shown
    assert "ann-desktop" in shown and "no live status in the last 10 min" in shown
