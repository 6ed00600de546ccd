"""The request form never dead-ends: it refreshes when the person or the type changes, shows only
the chosen type's fields, says why a person has nothing to offer (and lets them pick someone
else), takes the "go ahead even if offline" box, and names only fields that are in the view."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from bot.blockkit import input_block_ids
from bot.sim.people import APPROVALS_CHANNEL, CAROL, GRACE, HEIDI, SAM, SUPPORT_CHANNEL
from bot.sim.slack.payloads import block_actions_payload, view_submission_body
from handlers.ids import ActionId, BlockId, CallbackId
from tests.plugins.bot import BotHarness, blocks_text
from tests.scenario.test_modal import open_views, option, state, text

META = json.dumps({"channel_id": SUPPORT_CHANNEL})
TYPE_FIELDS = {BlockId.DURATION, BlockId.SIZE, BlockId.SNAPLEN, BlockId.ALL_ROUTES}
TYPE_FIELDS |= {BlockId.INTERFACES}


def user(person_id: str) -> dict[str, Any]:
    return {"type": "users_select", "selected_user": person_id}


async def open_form(bot: BotHarness) -> str:
    """``/dex`` alone; the id of the form it opened."""
    await bot.slash("", user=SAM, wait=False)
    await open_views(bot)
    return bot.slack.views()[-1].id


async def change(
    bot: BotHarness, view_id: str, action: ActionId, values: dict[str, Any]
) -> dict[str, Any]:
    """The person changes a dispatching field (``action``); the view the bot updated to."""
    before = bot.slack.count("views.update")
    block = BlockId.USER if action is ActionId.MODAL_USER else BlockId.TYPE
    payload = block_actions_payload(
        action, "", SAM.user_id, SUPPORT_CHANNEL, "1.1", bot.slack.new_response_url(), "trig"
    )
    payload["actions"][0] |= {"block_id": block.value, **values[block.value]["el"]}
    payload["view"] = {"id": view_id, "private_metadata": META, "state": {"values": values}}
    payload["container"] = {"type": "view", "view_id": view_id}
    resp = await bot.post_signed(urlencode({"payload": json.dumps(payload)}).encode())
    assert resp.status_code == 200
    calls = await bot.slack.wait_for("views.update", count=before + 1, timeout=10)
    return dict(calls[-1].args["view"])


def fields(view: dict[str, Any]) -> set[str]:
    return input_block_ids(view)


def form(**values: dict[str, Any]) -> dict[str, Any]:
    return {block: {"el": value} for block, value in values.items()}


async def submit(bot: BotHarness, view: dict[str, Any], values: dict[str, Any]) -> Any:
    body = view_submission_body(
        CallbackId.REQUEST, values, SAM.user_id, META, blocks=view["blocks"]
    )
    return await bot.post_signed(body)


async def test_a_person_without_devices_gets_the_reason_and_can_pick_again(
    bot: BotHarness,
) -> None:
    view_id = await open_form(bot)
    view = await change(bot, view_id, ActionId.MODAL_USER, form(user=user(HEIDI.user_id)))
    shown = blocks_text(view["blocks"])
    assert "This person has no WARP devices that Cloudflare knows of. Pick someone else." in shown
    # Only the person is asked for: nothing the bot could not accept for them.
    assert fields(view) == {BlockId.USER}
    resp = await submit(bot, view, form(user=user(HEIDI.user_id)))
    assert resp.json() == {
        "response_action": "errors",
        "errors": {"user": "None of this person's devices can run it; pick someone else."},
    }
    assert await bot.sim.requests("POST") == []
    # Picking someone else brings the rest of the form back.
    view = await change(bot, view_id, ActionId.MODAL_USER, form(user=user(GRACE.user_id)))
    assert {BlockId.USER, BlockId.DEVICE, BlockId.TYPE, BlockId.REASON} <= fields(view)


async def test_ineligible_devices_show_why(bot: BotHarness) -> None:
    view_id = await open_form(bot)
    view = await change(bot, view_id, ActionId.MODAL_USER, form(user=user(CAROL.user_id)))
    shown = blocks_text(view["blocks"])
    assert "None of this person's devices can take remote commands now" in shown
    assert "carol-pc" in shown and "Not eligible" in shown
    assert fields(view) == {BlockId.USER}


async def test_the_form_shows_only_the_chosen_types_fields(bot: BotHarness) -> None:
    view_id = await open_form(bot)
    blank = bot.slack.views()[-1]
    assert not fields(blank.view) & TYPE_FIELDS  # no type yet: none of them
    chosen = {
        "speed-test": {BlockId.INTERFACES},
        "warp-diag": {BlockId.ALL_ROUTES},
        "pcap": {BlockId.DURATION, BlockId.SIZE, BlockId.SNAPLEN},
    }
    for kind, expected in chosen.items():
        values = form(user=user(GRACE.user_id), type=option(kind, "radio_buttons"))
        view = await change(bot, view_id, ActionId.MODAL_TYPE, values)
        assert fields(view) & TYPE_FIELDS == expected, kind
        assert "grace-laptop" in json.dumps(view)  # the person and their device stay


async def test_an_offline_device_needs_the_box_ticked(bot: BotHarness) -> None:
    view_id = await open_form(bot)
    values = form(user=user(GRACE.user_id), type=option("pcap", "radio_buttons"))
    view = await change(bot, view_id, ActionId.MODAL_TYPE, values)
    assert "Go ahead even if the device looks offline" in json.dumps(view)
    grace = bot.sim.device("grace-laptop").device_id
    values |= form(device=option(grace), duration=text("2m"), reason=text("slow VPN"))
    body = (await submit(bot, view, values)).json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {BlockId.ANYWAY}
    assert body["errors"][BlockId.ANYWAY].startswith("grace-laptop is disconnected")
    assert "Tick “Go ahead even if the device looks offline”" in body["errors"][BlockId.ANYWAY]
    assert bot.cloudflare_posts(await bot.sim.requests("POST")) == []
    assert bot.slack.messages(APPROVALS_CHANNEL) == []

    ticked = {"type": "checkboxes", "selected_options": [{"value": "anyway"}]}
    resp = await submit(bot, view, values | form(anyway=ticked))
    assert resp.status_code == 200 and not resp.content  # accepted: the modal closes
    await bot.slack.wait_for("chat.postEphemeral", timeout=10)
    card = blocks_text(bot.slack.messages(APPROVALS_CHANNEL)[-1].blocks or [])
    assert ":warning: grace-laptop is disconnected" in card


async def test_the_reason_from_the_form_is_cleaned(bot: BotHarness) -> None:
    ann_desktop = bot.sim.device("ann-desktop").device_id
    hidden = "calls\u202e drop\u200b  again"
    values = state(
        user={"type": "users_select", "selected_user": "U0ANN0001"},
        device=option(ann_desktop),
        type=option("speed-test", "radio_buttons"),
        reason=text(hidden),
    )
    resp = await bot.submit_view(CallbackId.REQUEST, values, user=SAM, private_metadata=META)
    assert resp.status_code == 200 and not resp.content
    await bot.slack.wait_for("chat.postEphemeral", timeout=10)
    card = blocks_text(bot.slack.messages(APPROVALS_CHANNEL)[-1].blocks or [])
    assert "calls drop again" in card
    assert "\u202e" not in card and "\u200b" not in card


async def test_errors_for_fields_not_in_the_view_go_on_the_person(bot: BotHarness) -> None:
    # Submitted before the form caught up (no device select, no length field yet): Slack
    # refuses errors naming blocks it does not show, so they are shown on the person.
    await open_form(bot)
    blank = bot.slack.views()[-1].view
    assert not {BlockId.DEVICE, BlockId.DURATION} & fields(blank)
    values = form(
        user=user(GRACE.user_id),
        type=option("pcap", "radio_buttons"),
        duration=text("5x"),
        reason=text("slow VPN"),
    )
    body = (await submit(bot, blank, values)).json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {BlockId.USER}
    assert body["errors"][BlockId.USER].startswith("Pick a device. ")
    assert '"5x"' in body["errors"][BlockId.USER]
    assert await bot.sim.requests("POST") == []
