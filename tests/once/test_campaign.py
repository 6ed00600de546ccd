"""Issue 16, item 9: the fault campaign's in-process cases, over signed HTTP on SQLite and
PostgreSQL. Every case ends with at most one decision, exactly one command at Cloudflare for
an approved request (tracked by it), nothing stuck, nothing posted twice.

Real-process cases live beside this: ``test_frozen_replica`` (SIGSTOP/SIGCONT, two replicas),
``test_durable_ack`` (SIGKILL after the ack), ``test_identical_on_two_replicas``, the SIGKILL
mid-POST below, and ``tests/worker/test_restart.py`` (SIGKILL while Slack holds each answer).
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.model import RequestState
from bot.services.dispatch import DISPATCH_GRACE, dispatch, recover
from bot.sim.people import APPROVALS_CHANNEL, MAX, MIA
from bot.sim.slack import FAKE_SIGNING_SECRET
from bot.sim.slack.payloads import block_actions_body, signed_headers
from handlers.ids import ActionId, BlockId, CallbackId
from tests.once.procs import logs, serve_process, wait_ready, worker_process
from tests.plugins.bot import BotHarness
from tests.scenario.test_capture import buttons, engines, request_capture
from tests.worker.story import duplicates

pytestmark = pytest.mark.campaign
DENY = {BlockId.REASON.value: {"r": {"type": "plain_text_input", "value": "no"}}}


def later(bot: BotHarness, by: timedelta) -> None:
    svc = bot.dexbot.services
    real = svc.clock
    svc.clock = lambda: real() + by


async def settled(bot: BotHarness, rid: str) -> RequestState:
    await bot.local.idle(30)
    await bot.dexbot.services.deliverer.run_once()
    req = await bot.dexbot.services.requests.get(rid)
    assert req is not None
    return req.state


async def one_command_or_none(bot: BotHarness, rid: str, state: RequestState) -> None:
    """The campaign's invariants for one request."""
    commands = await bot.sim.commands()
    req = await bot.dexbot.services.requests.get(rid)
    assert req is not None
    if state is RequestState.DISPATCHED:
        assert len(commands) == 1 and [c.command_id for c in req.commands] == [commands[0]["id"]]
    else:
        assert commands == []
    decisions = [a.action for a in await bot.dexbot.services.requests.audit_trail(rid)]
    assert (
        decisions.count("approved") + decisions.count("denied") + decisions.count("expired") == 1
    ), decisions
    assert duplicates(bot.slack) == {}


@engines
async def test_ten_racing_clicks_approve_and_deny(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    rid = buttons(card)[0]["value"]
    approvals = [
        bot.click(
            ActionId.APPROVE,
            rid,
            user=(MAX, MIA)[i % 2],
            channel=APPROVALS_CHANNEL,
            message_ts=card.ts,
        )
        for i in range(5)
    ]
    denials = [
        bot.submit_view(CallbackId.DENY_REASON, DENY, user=(MIA, MAX)[i % 2], private_metadata=rid)
        for i in range(5)
    ]
    answers = await asyncio.gather(*approvals, *denials)
    assert all(a.status_code == 200 for a in answers)
    state = await settled(bot, rid)
    assert state in (RequestState.DISPATCHED, RequestState.DENIED)
    await one_command_or_none(bot, rid, state)


@engines
@pytest.mark.botenv(dex_approval_ttl_seconds=60)
async def test_approve_against_expiry(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    rid = buttons(card)[0]["value"]
    later(bot, timedelta(seconds=60))  # exactly at the deadline
    click = bot.click(
        ActionId.APPROVE, rid, user=MAX, channel=APPROVALS_CHANNEL, message_ts=card.ts
    )
    expire = bot.dexbot.services.captures.expire_due()
    answer, _ = await asyncio.gather(click, expire)
    assert answer.status_code == 200
    state = await settled(bot, rid)
    assert state in (RequestState.EXPIRED, RequestState.DISPATCHED)
    await one_command_or_none(bot, rid, state)


@engines
@pytest.mark.botenv(cloudflare_timeout_seconds=0.3)
@pytest.mark.parametrize("fault", ["500", "502", "drop", "drop_after", "timeout"])
async def test_cloudflare_faults_on_create_give_one_command(bot: BotHarness, fault: str) -> None:
    _, card = await request_capture(bot)
    rid = buttons(card)[0]["value"]
    kind, extra = ("slow", {"delay": 1.0}) if fault == "timeout" else (fault, {})
    await bot.sim.fault(kind, method="POST", path="/dex/commands", count=10, **extra)
    await bot.click(ActionId.APPROVE, rid, user=MAX, channel=APPROVALS_CHANNEL, message_ts=card.ts)
    await bot.local.idle(60)
    await bot.sim.clear_faults()
    svc = bot.dexbot.services
    for step in range(1, 4):  # worker ticks after the grace: reconcile, then send if nothing
        later(bot, DISPATCH_GRACE * step)
        await recover(svc, actor="dexbot")
    state = await settled(bot, rid)
    assert state is RequestState.DISPATCHED
    await one_command_or_none(bot, rid, state)


@engines
@pytest.mark.botclock("sim")
async def test_a_five_minute_429_block_delays_but_does_not_fail(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    rid = buttons(card)[0]["value"]
    svc = bot.dexbot.services
    await svc.captures.approve(rid, MAX.user_id)
    await bot.sim.fault("block", retry_after=300)  # Cloudflare blocks us for five minutes
    await dispatch(svc, rid, actor=MAX.user_id)
    assert await bot.sim.commands() == []
    for _ in range(4):
        await bot.sim.advance(120)
        await recover(svc, actor="dexbot")
    state = await settled(bot, rid)
    assert state is RequestState.DISPATCHED
    req = await svc.requests.get(rid)
    assert req is not None and req.error is None
    await one_command_or_none(bot, rid, state)


@pytest.mark.postgres
@pytest.mark.botdb("postgres")
async def test_sigkill_mid_post_is_adopted_by_the_other_replica(
    bot: BotHarness, tmp_path: Path
) -> None:
    """The replica taking the click dies while its POST is in flight; Cloudflare creates the
    command anyway. The other replica adopts it after the grace: one command, tracked."""
    _, card = await request_capture(bot)
    rid = buttons(card)[0]["value"]
    grace = {"DEX_DISPATCH_GRACE_SECONDS": "2", "DEX_POLL_INTERVAL_SECONDS": "0.2"}
    with serve_process(bot, tmp_path, "replica-a", **grace) as (a, url):
        await wait_ready(url, a)
        await bot.sim.fault("slow", method="POST", path="/dex/commands", delay=1.0)
        response_url = bot.slack.new_response_url(channel=APPROVALS_CHANNEL, user=MAX.user_id)
        body = block_actions_body(
            ActionId.APPROVE, rid, MAX.user_id, APPROVALS_CHANNEL, card.ts, response_url, "t-9"
        )
        resp = await bot.http.post(
            f"{url}/slack/events", content=body, headers=signed_headers(FAKE_SIGNING_SECRET, body)
        )
        assert resp.status_code == 200

        async def posted() -> bool:
            return bool(bot.cloudflare_posts(await bot.sim.requests("POST")))

        await until(posted, tmp_path)
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
    with worker_process(bot, tmp_path, "replica-b", **grace):

        async def adopted() -> bool:
            req = await bot.dexbot.services.requests.get(rid)
            return req is not None and req.state is RequestState.DISPATCHED

        await until(adopted, tmp_path)
    await one_command_or_none(bot, rid, RequestState.DISPATCHED)
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1


async def until(check, tmp_path: Path, deadline: float = 30) -> None:  # type: ignore[no-untyped-def]
    try:
        async with asyncio.timeout(deadline):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.05)  # a condition poll, not a timed wait
    except TimeoutError:
        raise AssertionError(logs(tmp_path)) from None
