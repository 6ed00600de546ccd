"""Read-only `/dex` commands end to end: a signed slash command over HTTP to the `serve` app,
the DEX simulator behind it, the fake Slack Web API in front. Each test asserts what the
person sees and what Cloudflare received."""

from __future__ import annotations

import time

import pytest

from bot.sim.people import ANN, DAVE, HEIDI, NOEMAIL, OUTSIDER, SAM
from bot.sim.slack.payloads import slash_command_body
from tests.plugins.bot import BotHarness, blocks_text


async def test_quota_shows_usage_and_reset(bot: BotHarness) -> None:
    await bot.sim.set_quota(quota=25, quota_usage=18)
    reply = await bot.slash("quota", user=SAM)
    assert reply is not None and reply.response_type == "ephemeral"
    assert "7 of 25" in reply.text + blocks_text(reply.blocks)


async def test_status_of_a_user_shows_one_card_per_device(bot: BotHarness) -> None:
    reply = await bot.slash(f"status <@{ANN.user_id}>", user=SAM)
    assert reply is not None
    shown = blocks_text(reply.blocks)
    assert "ann-macbook" in shown and "ann-desktop" in shown
    lives = await bot.sim.requests("GET", path_contains="fleet-status/live")
    assert len(lives) == 2


async def test_status_of_a_device_by_name(bot: BotHarness) -> None:
    reply = await bot.slash("status bob-thinkpad", user=SAM)
    assert reply is not None and "bob-thinkpad" in blocks_text(reply.blocks)


async def test_devices_lists_ineligible_with_reason(bot: BotHarness) -> None:
    reply = await bot.slash(f"devices <@{DAVE.user_id}>", user=SAM)
    assert reply is not None
    shown = blocks_text(reply.blocks).lower()
    assert "dave-iphone" in shown and "ios" in shown


async def test_history_for_a_user(bot: BotHarness) -> None:
    reply = await bot.slash(f"history <@{ANN.user_id}>", user=SAM)
    assert reply is not None
    listed = await bot.sim.requests("GET", path_contains="/dex/commands")
    assert any(r["query"].get("user_email") == "ann@example.com" for r in listed)


async def test_help_and_unknown_words_get_the_help(bot: BotHarness) -> None:
    for text in ("help", "frobnicate the thing"):
        reply = await bot.slash(text, user=SAM)
        assert reply is not None and "/dex" in reply.text + blocks_text(reply.blocks)
    assert await bot.sim.requests() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status", "whose status"),
        ("capture <@U0NOBODY1> pcap 5x", "5x"),
        ("x" * 5000, "too long"),
        ("status <!channel>", "channel"),
    ],
)
async def test_bad_input_gets_a_clear_answer_and_no_cloudflare_call(
    bot: BotHarness, text: str, expected: str
) -> None:
    reply = await bot.slash(text, user=SAM)
    assert reply is not None and reply.response_type == "ephemeral"
    assert expected.lower() in (reply.text + blocks_text(reply.blocks)).lower()
    assert "Traceback" not in reply.text
    assert await bot.sim.requests() == []


async def test_user_without_email_or_devices(bot: BotHarness) -> None:
    reply = await bot.slash(f"status <@{NOEMAIL.user_id}>", user=SAM)
    assert reply is not None and "no email" in reply.text.lower()
    reply = await bot.slash(f"devices <@{HEIDI.user_id}>", user=SAM)
    assert reply is not None and "no warp device" in reply.text.lower()


async def test_outsider_is_refused_and_nothing_happens(bot: BotHarness) -> None:
    reply = await bot.slash("quota", user=OUTSIDER)
    assert reply is not None and "not on dexbot's list" in reply.text
    assert await bot.sim.requests() == []
    assert bot.slack.count("chat.postMessage") == 0


@pytest.mark.botenv(dex_read_open=True)
async def test_read_open_lets_anyone_look_but_not_capture(bot: BotHarness) -> None:
    reply = await bot.slash("quota", user=OUTSIDER)
    assert reply is not None and "of" in blocks_text(reply.blocks)
    reply = await bot.slash(f'pcap <@{ANN.user_id}> 5m --reason "x"', user=OUTSIDER)
    assert reply is not None and "not on dexbot's list" in reply.text


async def test_cloudflare_rate_limit_is_explained(bot: BotHarness) -> None:
    await bot.sim.fault("block")
    reply = await bot.slash("quota", user=SAM)
    assert reply is not None
    assert "rate-limiting us; try again in 5 min" in reply.text


async def test_cloudflare_outage_is_explained(bot: BotHarness) -> None:
    await bot.sim.fault("500", count=20)
    reply = await bot.slash("quota", user=SAM)
    assert reply is not None and "isn't answering" in reply.text


@pytest.mark.parametrize("how", ["unsigned", "wrong secret", "stale"])
async def test_unsigned_or_stale_requests_are_rejected(bot: BotHarness, how: str) -> None:
    url = bot.slack.new_response_url()
    body = slash_command_body("quota", SAM.user_id, "C0SUPPORT", url, "t1")
    if how == "unsigned":
        resp = await bot.post_signed(
            body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    elif how == "wrong secret":
        resp = await bot.post_signed(body, secret="not-the-secret")
    else:
        resp = await bot.post_signed(body, timestamp=int(time.time()) - 301)
    assert resp.status_code == 401
    assert await bot.sim.requests() == []
    assert bot.slack.responses(url) == []


@pytest.mark.botenv(dex_access_contact="U0MAX0012")
async def test_an_outsider_is_pointed_at_the_person_to_ask(bot: BotHarness) -> None:
    reply = await bot.slash("quota", user=OUTSIDER)
    assert reply is not None
    assert "Ask <@U0MAX0012> to add you (or your team's user group) to DEX_REQUESTERS." in (
        reply.text
    )


async def test_anyone_may_read_the_help(bot: BotHarness) -> None:
    reply = await bot.slash("help", user=OUTSIDER)
    assert reply is not None and "not on dexbot's list" not in reply.text
    assert "/dex" in blocks_text(reply.blocks)
    assert await bot.sim.requests() == []
