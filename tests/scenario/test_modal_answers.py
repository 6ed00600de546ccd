"""Modal ``response_action: errors`` answers, checked by the fake Slack against the view the
bot really opened: Slack refuses errors that name a block which is not an input of it."""

from __future__ import annotations

import json

from bot.domain.model import RequestState
from bot.sim.people import ANN, SAM, SUPPORT_CHANNEL
from bot.sim.slack.conversations import im_channel_id
from bot.sim.slack.payloads import view_submission_body
from handlers.ids import BlockId, CallbackId
from tests.plugins.bot import BotHarness
from tests.scenario.test_modal import ann_form, option, state, text


async def submit_opened(bot: BotHarness, values: dict[str, object]) -> dict[str, object]:
    opened = bot.slack.views()[-1]
    body = view_submission_body(
        CallbackId.REQUEST,
        values,
        SAM.user_id,
        opened.view["private_metadata"],
        opened.id,
        trigger_id=bot.slack.new_trigger_id(SAM.user_id),
        blocks=opened.view["blocks"],
    )
    resp = await bot.post_signed(body)
    assert resp.status_code == 200
    answer = resp.json()
    assert answer["response_action"] == "errors"
    assert await bot.slack.check_view_answer(opened.id, answer) is None, answer
    return answer


async def test_a_device_problem_in_a_form_without_a_device_field_names_the_person(
    bot: BotHarness,
) -> None:
    await bot.slash("", user=SAM, wait=False)
    await bot.slack.wait_for("views.open", timeout=10)
    opened = bot.slack.views()[-1].view
    assert BlockId.DEVICE.value not in json.dumps([b.get("block_id") for b in opened["blocks"]])
    values = state(
        **{
            BlockId.USER.value: {"type": "users_select", "selected_user": ANN.user_id},
            BlockId.TYPE.value: option("warp-diag", "radio_buttons"),
            BlockId.REASON.value: text("VPN drops"),
        }
    )
    answer = await submit_opened(bot, values)
    assert set(answer["errors"]) == {BlockId.USER.value}  # type: ignore[arg-type]
    assert await bot.sim.requests("POST") == []


async def test_a_preflight_problem_in_a_form_with_a_device_field_names_the_device(
    bot: BotHarness,
) -> None:
    await bot.slash(f'pcap <@{ANN.user_id}> 5m --reason "calls drop"', user=SAM, wait=False)
    await bot.slack.wait_for("views.open", timeout=10)
    await bot.sim.set_quota(quota=3, quota_usage=3)
    answer = await submit_opened(bot, ann_form(bot))
    assert set(answer["errors"]) == {BlockId.DEVICE.value}  # type: ignore[arg-type]
    assert json.loads(bot.slack.views()[-1].view["private_metadata"]) == {
        "channel_id": SUPPORT_CHANNEL
    }


async def test_a_form_without_a_channel_posts_in_the_requesters_dm(bot: BotHarness) -> None:
    """The form falls back to the requester's DM; Slack takes a user id as the channel of
    chat.postMessage only, so everything after the first post must use the DM's own id."""
    resp = await bot.submit_view(CallbackId.REQUEST, ann_form(bot), user=SAM)
    assert resp.status_code == 200 and not resp.content
    dm = im_channel_id(SAM.user_id)
    await bot.slack.wait_for("chat.getPermalink", timeout=10)
    await bot.slack.wait_for(lambda c: c.method == "chat.postEphemeral" or (
        c.method == "chat.postMessage" and c.args.get("channel") in (dm, SAM.user_id)
    ), count=2, timeout=10)  # fmt: skip
    refused = [str(c) for c in bot.slack.calls() if not c.ok]
    assert refused == []
    parent, answer = bot.slack.messages(dm)
    assert "ann-desktop" in json.dumps(parent.blocks)
    assert "waiting for approval" in answer.text.lower()
    [stored] = await bot.dexbot.services.requests.in_state([RequestState.PENDING_APPROVAL])
    assert stored.parent_channel == dm  # later edits and thread checks need the D… id
