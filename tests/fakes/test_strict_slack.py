"""The fake Slack refuses what Slack refuses (issue 10). Each test here passed against the
lax fake it replaced only by accident: the old fake accepted every call shown failing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.blockkit import LIMITS
from bot.sim.people import ANN, APPROVALS_CHANNEL, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_BOT_TOKEN, FakeSlack, Workspace
from bot.sim.slack.conversations import im_channel_id
from tests.fakes.test_fake_slack import Clock, slack_error

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {FAKE_BOT_TOKEN}"}


def section(text: str = "x", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def button(**over: Any) -> dict[str, Any]:
    return {"type": "button", "text": plain("Go"), "action_id": "go", "value": "v", **over}


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def confirm(**over: Any) -> dict[str, Any]:
    base = {"title": plain("Sure?"), "text": plain("Really"), "confirm": plain("Yes")}
    return {**base, "deny": plain("No"), **over}


def select(option_text: str = "a", value: str = "a", **over: Any) -> dict[str, Any]:
    option = {"text": plain(option_text), "value": value}
    return {"type": "static_select", "action_id": "pick", "options": [option], **over}


def input_block(**over: Any) -> dict[str, Any]:
    element = {"type": "plain_text_input", "action_id": "reason"}
    return {"type": "input", "block_id": "reason", "label": plain("Reason"),
            "element": element, **over}  # fmt: skip


def modal(**over: Any) -> dict[str, Any]:
    return {"type": "modal", "callback_id": "dex.request", "title": plain("Request"),
            "submit": plain("Send"), "close": plain("Cancel"),
            "blocks": [input_block()], **over}  # fmt: skip


# -- scopes ------------------------------------------------------------------------------
def test_the_fake_has_exactly_the_manifests_scopes(fake_slack: FakeSlack) -> None:
    manifest = yaml.safe_load((ROOT / "app_manifest.yml").read_text())
    assert fake_slack.workspace.scopes == set(manifest["oauth_config"]["scopes"]["bot"])


async def test_a_method_outside_the_scopes_answers_missing_scope(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    # dexbot never asks for im:write, so it may not open a DM by itself.
    with pytest.raises(Exception) as info:
        await slack_client.conversations_open(users=ANN.user_id)
    body = info.value.response.data  # type: ignore[attr-defined]
    assert body["error"] == "missing_scope" and body["needed"] == "im:write"
    assert "chat:write" in body["provided"].split(",")
    assert fake_slack.last("conversations.open").error == "missing_scope"


async def test_history_scopes_follow_the_channel_type(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    posted = await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="parent")
    await slack_client.conversations_replies(channel=SUPPORT_CHANNEL, ts=posted["ts"])
    fake_slack.workspace.scopes.discard("channels:history")
    assert (
        await slack_error(
            slack_client.conversations_replies(channel=SUPPORT_CHANNEL, ts=posted["ts"])
        )
        == "missing_scope"
    )
    dm = await slack_client.chat_postMessage(channel=ANN.user_id, text="in the DM")
    fake_slack.workspace.scopes.discard("im:history")
    assert (
        await slack_error(slack_client.conversations_replies(channel=dm["channel"], ts=dm["ts"]))
        == "missing_scope"
    )
    assert fake_slack.last("conversations.replies").response["needed"] == "im:history"  # type: ignore[index]


# -- Block Kit limits --------------------------------------------------------------------
def over(name: str) -> str:
    return "x" * (LIMITS[name] + 1)


BAD_BLOCKS: dict[str, list[dict[str, Any]]] = {
    "header 150": [{"type": "header", "text": plain(over("header_text"))}],
    "section 3000": [section(over("section_text"))],
    "11 fields": [section(fields=[plain("f")] * 11)],
    "field 2000": [section(fields=[plain(over("field_text"))])],
    "button text 75": [actions(button(text=plain(over("button_text"))))],
    "button value 2000": [actions(button(value=over("button_value")))],
    "action_id 255": [actions(button(action_id=over("action_id")))],
    "block_id 255": [section(block_id=over("block_id"))],
    "confirm title 100": [actions(button(confirm=confirm(title=plain(over("confirm_title")))))],
    "confirm text 300": [actions(button(confirm=confirm(text=plain(over("confirm_text")))))],
    "confirm button 30": [actions(button(confirm=confirm(confirm=plain(over("confirm_button")))))],
    "deny button 30": [actions(button(confirm=confirm(deny=plain(over("confirm_button")))))],
    "option text 75": [actions(select(option_text=over("option_text")))],
    "option value 150": [actions(select(value=over("option_value")))],
    "placeholder 150": [actions(select(placeholder=plain(over("placeholder"))))],
    "accessory button": [section(accessory=button(text=plain(over("button_text"))))],
    "51 blocks": [section()] * 51,
}


@pytest.mark.parametrize("blocks", BAD_BLOCKS.values(), ids=BAD_BLOCKS.keys())
async def test_every_message_method_refuses_blocks_over_slacks_limits(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, blocks: list[dict[str, Any]]
) -> None:
    posted = await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="ok")
    calls = [
        slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="t", blocks=blocks),
        slack_client.chat_update(channel=SUPPORT_CHANNEL, ts=posted["ts"], text="t", blocks=blocks),
        slack_client.chat_postEphemeral(
            channel=SUPPORT_CHANNEL, user=ANN.user_id, text="t", blocks=blocks
        ),
    ]
    for call in calls:
        assert await slack_error(call) == "invalid_blocks"
    url = fake_slack.new_response_url(channel=SUPPORT_CHANNEL, user=ANN.user_id)
    async with httpx.AsyncClient() as http:
        answer = await http.post(url, json={"text": "t", "blocks": blocks})
    assert answer.status_code == 400 and answer.text == "invalid_blocks"
    assert [m.text for m in fake_slack.messages(SUPPORT_CHANNEL)] == ["ok"]
    assert fake_slack.ephemerals() == []


async def test_blocks_at_the_limits_are_accepted(slack_client: AsyncWebClient) -> None:
    at = {name: "x" * limit for name, limit in LIMITS.items()}
    blocks = [
        {"type": "header", "text": plain(at["header_text"])},
        section(at["section_text"], block_id=at["block_id"]),
        section(fields=[plain(at["field_text"])] * 10),
        actions(
            button(
                text=plain(at["button_text"]),
                value=at["button_value"],
                confirm=confirm(title=plain(at["confirm_title"])),
            ),
            select(option_text=at["option_text"], value=at["option_value"]),
        ),
    ]
    await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="t", blocks=blocks)


BAD_VIEWS: dict[str, dict[str, Any]] = {
    "title 24": modal(title=plain(over("view_title"))),
    "submit 24": modal(submit=plain(over("view_submit"))),
    "close 24": modal(close=plain(over("view_close"))),
    "private_metadata 3000": modal(private_metadata=over("private_metadata")),
    "label 2000": modal(blocks=[input_block(label=plain(over("input_label")))]),
    "hint 2000": modal(blocks=[input_block(hint=plain(over("input_hint")))]),
    "101 blocks": modal(blocks=[section()] * 101),
    "bad block inside": modal(blocks=[{"type": "header", "text": plain(over("header_text"))}]),
}


@pytest.mark.parametrize("view", BAD_VIEWS.values(), ids=BAD_VIEWS.keys())
async def test_views_over_slacks_limits_are_refused(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, view: dict[str, Any]
) -> None:
    trigger = fake_slack.new_trigger_id(ANN.user_id)
    assert await slack_error(slack_client.views_open(trigger_id=trigger, view=view)) == (
        "invalid_arguments"
    )
    opened = await slack_client.views_open(trigger_id=trigger, view=modal())
    assert (
        await slack_error(slack_client.views_update(view_id=opened["view"]["id"], view=view))
        == "invalid_arguments"
    )
    assert [v.view for v in fake_slack.views()] == [modal()]


# -- edits and channels ------------------------------------------------------------------
async def test_chat_update_without_blocks_keeps_the_old_blocks(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    card = [section("*Approve?*")]
    posted = await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="a", blocks=card)
    answer = await slack_client.chat_update(channel=SUPPORT_CHANNEL, ts=posted["ts"], text="b")
    (msg,) = fake_slack.messages(SUPPORT_CHANNEL)
    assert msg.text == "b" and msg.blocks == card
    assert answer["message"]["blocks"] == card


async def test_a_user_id_is_a_channel_only_for_chat_post_message(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    posted = await slack_client.chat_postMessage(channel=ANN.user_id, text="hello")
    assert posted["channel"] == im_channel_id(ANN.user_id)
    assert (
        await slack_error(
            slack_client.chat_update(channel=ANN.user_id, ts=posted["ts"], text="edited")
        )
        == "channel_not_found"
    )
    assert (
        await slack_error(
            slack_client.chat_postEphemeral(channel=ANN.user_id, user=ANN.user_id, text="psst")
        )
        == "channel_not_found"
    )
    await slack_client.chat_update(channel=posted["channel"], ts=posted["ts"], text="edited")
    up = await slack_client.files_getUploadURLExternal(filename="a.zip", length=3)
    async with httpx.AsyncClient() as http:
        await http.post(up["upload_url"], content=b"zip")
    assert (
        await slack_error(
            slack_client.files_completeUploadExternal(
                files=[{"id": up["file_id"]}], channel_id=ANN.user_id
            )
        )
        == "channel_not_found"
    )
    assert [m.text for m in fake_slack.messages(posted["channel"])] == ["edited"]
    assert fake_slack.ephemerals() == []


# -- modal errors ------------------------------------------------------------------------
async def test_modal_errors_must_name_input_blocks_of_the_submitted_view(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    view = modal(blocks=[section("Who?"), input_block()])
    trigger = fake_slack.new_trigger_id(ANN.user_id)
    view_id = (await slack_client.views_open(trigger_id=trigger, view=view))["view"]["id"]
    ok = {"response_action": "errors", "errors": {"reason": "Say why"}}
    assert await fake_slack.check_view_answer(view_id, ok) is None
    for wrong in ({"device": "No such device"}, {}):
        refused = await fake_slack.check_view_answer(
            view_id, {"response_action": "errors", "errors": wrong}
        )
        assert refused == "invalid_arguments"
    bad_update = {"response_action": "update", "view": modal(title=plain(over("view_title")))}
    assert await fake_slack.check_view_answer(view_id, bad_update) == "invalid_arguments"
    assert [c.ok for c in fake_slack.calls("view_answer")] == [True, False, False, False]


# -- single-use windows ------------------------------------------------------------------
async def test_a_trigger_id_slack_never_issued_is_refused(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    assert await slack_error(slack_client.views_open(trigger_id="12345.made.up", view=modal())) == (
        "invalid_trigger_id"
    )
    assert fake_slack.views() == []


# -- rate limits -------------------------------------------------------------------------
@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def limited(clock: Clock, tmp_path: Path) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(Workspace.demo(clock=clock), tmp_path, rate_limits=True) as fake:
        yield fake


async def call(fake: FakeSlack, method: str, **args: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(fake.api_url + method, data=args, headers=AUTH)


async def test_post_message_allows_a_short_burst_then_one_a_second_per_channel(
    limited: FakeSlack, clock: Clock
) -> None:
    answers = [await call(limited, "chat.postMessage", channel=SUPPORT_CHANNEL, text=str(i))
               for i in range(6)]  # fmt: skip
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[5].headers["Retry-After"] == "1" and answers[5].json()["error"] == "ratelimited"
    other = await call(limited, "chat.postMessage", channel=APPROVALS_CHANNEL, text="card")
    assert other.status_code == 200  # the limit is per channel
    clock.now += 1.0
    assert (await call(limited, "chat.postMessage", channel=SUPPORT_CHANNEL, text="6")).is_success
    assert len(limited.messages(SUPPORT_CHANNEL)) == 6


@pytest.mark.parametrize(
    ("method", "args", "per_minute"),
    [
        ("usergroups.users.list", {"usergroup": "S0SUPPORT"}, 20),  # Tier 2
        ("conversations.join", {"channel": SUPPORT_CHANNEL}, 50),  # Tier 3
    ],
)
async def test_tiers_allow_so_many_calls_a_minute(
    limited: FakeSlack, clock: Clock, method: str, args: dict[str, str], per_minute: int
) -> None:
    for _ in range(per_minute):
        assert (await call(limited, method, **args)).status_code == 200
        clock.now += 0.5
    refused = await call(limited, method, **args)
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 60
    clock.now += wait
    assert (await call(limited, method, **args)).status_code == 200


async def test_rate_limits_are_off_unless_asked(fake_slack: FakeSlack) -> None:
    answers = [await call(fake_slack, "chat.postMessage", channel=SUPPORT_CHANNEL, text="x")
               for _ in range(12)]  # fmt: skip
    assert {a.status_code for a in answers} == {200}
    fake_slack.limits.enabled = True
    statuses = [
        (await call(fake_slack, "chat.postMessage", channel=SUPPORT_CHANNEL, text="x")).status_code
        for _ in range(6)
    ]
    assert statuses[-1] == 429
