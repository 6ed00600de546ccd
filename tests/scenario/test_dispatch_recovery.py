"""Exactly one command even when the POST's outcome is unknown: the connection drops after
Cloudflare created the command, or the bot dies between the POST and its commit. Recovery
reconciles against Cloudflare's list before anything is sent again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.dex.models import CommandSpec
from bot.domain.model import RequestState
from bot.services.dispatch import DISPATCH_GRACE, claim, dispatch, recover, specs_for
from bot.sim.people import APPROVALS_CHANNEL, MAX
from handlers.ids import ActionId
from tests.plugins.bot import BotHarness
from tests.scenario.test_capture import buttons, request_capture, wait_thread


async def approved_request(bot: BotHarness) -> str:
    """A request approved in the store but not yet sent (as if the bot died right after)."""
    await request_capture(bot)
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    request_id = buttons(card)[0]["value"]
    svc = bot.dexbot.services
    await svc.captures.approve(request_id, MAX.user_id)
    return request_id


def later(bot: BotHarness, by: timedelta) -> None:
    """Move the bot's clock forward (the worker's grace periods are measured on it)."""
    svc = bot.dexbot.services
    real = svc.clock
    svc.clock = lambda: real() + by


async def test_dropped_connection_after_create_is_reconciled(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    await bot.sim.fault("drop_after", method="POST", path="/dex/commands")
    await bot.click(
        ActionId.APPROVE,
        buttons(card)[0]["value"],
        user=MAX,
        channel=APPROVALS_CHANNEL,
        message_ts=card.ts,
    )
    parent = bot.slack.messages("C0SUPPORT")[-1]
    await wait_thread(bot, parent, "Sent to ann-macbook")
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1
    assert len(await bot.sim.commands()) == 1


async def test_crash_after_post_before_commit_adopts_the_command(bot: BotHarness) -> None:
    request_id = await approved_request(bot)
    svc = bot.dexbot.services
    # The bot recorded its intent and POSTed, then died before recording the answer.
    owned = await claim(svc, request_id, actor="w1")
    assert owned is not None
    created = await svc.dex.create_commands(await specs_for_request(bot, request_id))
    later(bot, DISPATCH_GRACE + timedelta(seconds=1))
    assert await recover(svc, actor="dexbot") == 1
    req = await svc.requests.get(request_id)
    assert req is not None and req.state is RequestState.DISPATCHED
    assert [c.command_id for c in req.commands] == [created[0].id]
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1


async def test_crash_before_post_sends_once_after_the_grace(bot: BotHarness) -> None:
    request_id = await approved_request(bot)
    svc = bot.dexbot.services
    owned = await claim(svc, request_id, actor="w1")
    assert owned is not None  # ... and died before the POST left
    assert await recover(svc, actor="dexbot") == 0  # within the grace: leave it alone
    later(bot, DISPATCH_GRACE + timedelta(seconds=1))
    await recover(svc, actor="dexbot")  # nothing at Cloudflare: back to APPROVED
    later(bot, DISPATCH_GRACE * 2)
    await recover(svc, actor="dexbot")  # ... and sent, once
    req = await svc.requests.get(request_id)
    assert req is not None and req.state is RequestState.DISPATCHED
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1
    trail = [a.action for a in await svc.requests.audit_trail(request_id)]
    assert trail.count("dispatch_started") == 2 and trail.count("dispatched") == 1


async def test_dispatch_twice_sends_once(bot: BotHarness) -> None:
    request_id = await approved_request(bot)
    svc = bot.dexbot.services
    first = await dispatch(svc, request_id, actor="a")
    second = await dispatch(svc, request_id, actor="b")
    assert first is not None and first.state is RequestState.DISPATCHED
    assert second is None
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1


@pytest.mark.parametrize("fault", ["500", "502"])
async def test_cloudflare_error_on_create_is_not_a_second_command(
    bot: BotHarness, fault: str
) -> None:
    request_id = await approved_request(bot)
    svc = bot.dexbot.services
    await bot.sim.fault(fault, method="POST", path="/dex/commands", count=10)
    await dispatch(svc, request_id, actor="a")  # outcome unknown: left DISPATCHING
    await bot.sim.clear_faults()
    for _ in range(2):  # a worker tick reconciles (nothing there), a later one sends
        later(bot, DISPATCH_GRACE * 3)
        await recover(svc, actor="dexbot")
    req = await svc.requests.get(request_id)
    assert req is not None and req.state is RequestState.DISPATCHED
    assert len(await bot.sim.commands()) == 1


async def specs_for_request(bot: BotHarness, request_id: str) -> list[CommandSpec]:
    req = await bot.dexbot.services.requests.get(request_id)
    assert req is not None
    return specs_for(req)
