"""The App Home over signed HTTP: the fake Slack delivers ``app_home_opened`` to the bot's
events URL and the tests read the Home the bot published with ``views.publish``, as the
person would see it; a click in the Home goes through the card's own listener."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot.sim.people import ANN, MAX, SAM, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_SIGNING_SECRET
from bot.sim.slack.apphome import (
    app_home_opened_body,
    home_click_body,
    post_event,
    url_verification_body,
)
from bot.sim.slack.model import View
from bot.sim.world import Cloudflare, LocalBot
from handlers.ids import ActionId
from tests.plugins.bot import BotHarness, blocks_text
from tests.scenario.test_capture import buttons, request_capture, wait_thread

PUBLISH = "views.publish"


def home_buttons(home: View) -> list[dict[str, Any]]:
    blocks = home.view["blocks"]
    return [el for b in blocks if b.get("type") == "actions" for el in b["elements"]]


async def open_home(bot: BotHarness, user: str, **kwargs: Any) -> View:
    """``user`` opens the Home tab; the Home the bot published for them."""
    before = bot.slack.count(PUBLISH)
    sent = await bot.slack.open_home(user, events_url=bot.local.events_url, **kwargs)
    assert set(sent["deliveries"]) == {200}
    await bot.slack.wait_for(PUBLISH, count=before + 1, timeout=10)
    await bot.local.idle()
    home = bot.slack.home(user)
    assert home is not None
    return home


async def test_requester_sees_their_requests_with_state_and_thread_link(bot: BotHarness) -> None:
    parent, _ = await request_capture(bot)
    home = await open_home(bot, SAM.user_id)
    text = blocks_text(home.view["blocks"])
    assert home.view["type"] == "home"
    assert "Your recent requests" in text
    assert "packet capture, 5 min" in text and "Waiting for approval" in text
    link = f"archives/{SUPPORT_CHANNEL}/p{parent.ts.replace('.', '')}"
    assert link in text  # the thread, one click away
    assert "commands left until" in text  # the quota gauge with its reset time
    # Sam does not approve: no approvals section, no buttons.
    assert "Waiting for your approval" not in text
    assert home_buttons(home) == []


async def test_approver_sees_what_waits_for_them_with_the_cards_buttons(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    request_id = buttons(card)[0]["value"]
    home = await open_home(bot, MAX.user_id)
    text = blocks_text(home.view["blocks"])
    assert "Waiting for your approval" in text
    assert f"<@{SAM.user_id}>" in text and "packet capture" in text
    [approve, deny] = home_buttons(home)
    assert (approve["action_id"], approve["value"]) == (ActionId.APPROVE, request_id)
    assert (deny["action_id"], deny["value"]) == (ActionId.DENY, request_id)
    assert approve["confirm"]  # the same confirm dialog as on the card


async def test_approve_from_the_home_sends_one_command(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    request_id = buttons(card)[0]["value"]
    await open_home(bot, MAX.user_id)
    body = home_click_body(
        bot.slack.workspace,
        MAX.user_id,
        ActionId.APPROVE,
        request_id,
        bot.slack.new_trigger_id(MAX.user_id),
    )
    resp = await bot.post_signed(body)
    assert resp.status_code == 200
    await wait_thread(bot, parent, "Sent to ann-macbook")
    await bot.local.idle()
    # A second click (a stale Home) is refused like a second click on the card.
    again = home_click_body(
        bot.slack.workspace,
        MAX.user_id,
        ActionId.APPROVE,
        request_id,
        bot.slack.new_trigger_id(MAX.user_id),
    )
    assert (await bot.post_signed(again)).status_code == 200
    await bot.slack.wait_for(
        lambda c: c.method == "chat.postMessage" and c.args.get("channel") == MAX.user_id,
        timeout=10,
    )
    await bot.local.idle()
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1
    card_now = next(m for m in bot.slack.messages(card.channel) if m.ts == card.ts)
    assert "Approved by" in blocks_text(card_now.blocks or [])


async def test_a_retried_event_publishes_once(bot: BotHarness) -> None:
    sent = await bot.slack.open_home(ANN.user_id, events_url=bot.local.events_url, retries=3)
    assert sent["deliveries"] == [200, 200, 200, 200]  # every delivery acknowledged
    await bot.slack.wait_for(PUBLISH, timeout=10)
    await bot.local.idle()
    assert bot.slack.count(PUBLISH) == 1
    # A new opening (a new event id) publishes again.
    await open_home(bot, ANN.user_id)
    assert bot.slack.count(PUBLISH) == 2


async def test_the_messages_tab_publishes_nothing(bot: BotHarness) -> None:
    sent = await bot.slack.open_home(SAM.user_id, events_url=bot.local.events_url, tab="messages")
    assert sent["deliveries"] == [200]
    await bot.local.idle()
    assert bot.slack.count(PUBLISH) == 0


async def test_url_verification_answers_the_challenge(bot: BotHarness) -> None:
    body = url_verification_body("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    resp = await post_event(bot.http, bot.local.events_url, body, FAKE_SIGNING_SECRET)
    assert resp.status_code == 200
    assert json.loads(resp.text)["challenge"] == body["challenge"]


@pytest.mark.botclock("sim")
async def test_the_home_refreshes_after_a_state_change(bot: BotHarness) -> None:
    bot.sim.sim.clock.set_speed(0)  # time moves only when the test says
    parent, card = await request_capture(bot)
    home = await open_home(bot, SAM.user_id)
    assert "Waiting for approval" in blocks_text(home.view["blocks"])
    published = bot.slack.count(PUBLISH)
    resp = await bot.click(
        ActionId.APPROVE,
        buttons(card)[0]["value"],
        user=MAX,
        channel=card.channel,
        message_ts=card.ts,
    )
    assert resp.status_code == 200
    await wait_thread(bot, parent, "Sent to ann-macbook")
    await bot.local.idle()
    deliverer = bot.dexbot.services.deliverer
    await deliverer.run_once()
    assert bot.slack.count(PUBLISH) == published  # paced: too soon after the last publish
    await bot.sim.advance(3)
    assert await deliverer.run_once() >= 1
    assert bot.slack.count(PUBLISH) == published + 1  # several changes, one refresh
    text = blocks_text(bot.slack.home(SAM.user_id).view["blocks"])  # type: ignore[union-attr]
    assert "Waiting for approval" not in text and "sent to Cloudflare" in text


@pytest.mark.postgres
@pytest.mark.botdb("postgres")
async def test_retries_spread_over_two_replicas_publish_once(bot: BotHarness) -> None:
    other = await LocalBot.start(
        slack=bot.slack,
        cloudflare=Cloudflare(bot.sim.base_url, bot.sim.token, bot.sim.account_id),
        database_url=bot.settings.database_url,
    )
    try:
        body = app_home_opened_body(bot.slack.workspace, MAX.user_id)
        urls = [bot.local.events_url, other.events_url] * 2
        answers = await asyncio.gather(
            *(
                post_event(bot.http, url, body, FAKE_SIGNING_SECRET, retry_num=n)
                for n, url in enumerate(urls)
            )
        )
        assert [a.status_code for a in answers] == [200] * 4
        await bot.slack.wait_for(PUBLISH, timeout=10)
        await asyncio.gather(bot.local.idle(), other.idle())
        assert bot.slack.count(PUBLISH) == 1
    finally:
        await other.stop()


async def test_someone_without_access_sees_only_that(bot: BotHarness) -> None:
    home = await open_home(bot, ANN.user_id)  # Ann is in neither list
    text = blocks_text(home.view["blocks"])
    assert "not on dexbot's list" in text
    assert "commands left" not in text and "Your recent requests" not in text


async def test_deny_from_the_home_asks_for_a_reason_like_the_card(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    request_id = buttons(card)[0]["value"]
    await open_home(bot, MAX.user_id)
    trigger = bot.slack.new_trigger_id(MAX.user_id)
    body = home_click_body(bot.slack.workspace, MAX.user_id, ActionId.DENY, request_id, trigger)
    assert (await bot.post_signed(body)).status_code == 200
    [opened] = await bot.slack.wait_for("views.open", timeout=10)
    assert opened.args["trigger_id"] == trigger
    assert opened.args["view"]["private_metadata"]  # the request the reason is for
    await bot.local.idle()
    assert bot.cloudflare_posts(await bot.sim.requests("POST")) == []


@pytest.mark.botclock("sim")
async def test_an_approvers_home_gains_a_new_request(bot: BotHarness) -> None:
    bot.sim.sim.clock.set_speed(0)
    home = await open_home(bot, MAX.user_id)
    assert "Nothing waits for your approval" in blocks_text(home.view["blocks"])
    await bot.sim.advance(3)
    _, card = await request_capture(bot)
    await request_capture(
        bot, f'capture <@{ANN.user_id}> warp-diag --device ann-desktop --reason "logs"'
    )
    published = bot.slack.count(PUBLISH)
    assert await bot.dexbot.services.deliverer.run_once() >= 1
    assert bot.slack.count(PUBLISH) == published + 1  # two new requests, one redraw
    home = bot.slack.home(MAX.user_id)
    assert home is not None
    values = {b["value"] for b in home_buttons(home)}
    assert buttons(card)[0]["value"] in values and len(values) == 2
