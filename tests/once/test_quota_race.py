"""Issue 16, item 5 over HTTP (and the advisory-lock mutant of item 10): eight requests waiting,
three units left, eight approvers' clicks at once. Exactly three are approved; the others are
told the quota is short, on SQLite (one writer) and on PostgreSQL (the advisory lock)."""

from __future__ import annotations

import asyncio

from bot.sim.people import ANN, APPROVALS_CHANNEL, MAX, MIA, SAM
from handlers.ids import ActionId
from tests.plugins.bot import BotHarness, click_answers
from tests.scenario.test_capture import buttons, engines

RACERS, LEFT = 8, 3


@engines
async def test_eight_approvals_for_the_last_three_units_approve_three(bot: BotHarness) -> None:
    await bot.sim.generate_fleet(7 * RACERS)
    await bot.sim.set_quota(quota=1000, quota_usage=0)
    names = [
        d.name
        for d in bot.sim.sim.state.devices
        if d.name.startswith("fleet-") and d.registrations[0].email == ANN.email
    ][:RACERS]
    for name in names:
        reply = await bot.slash(
            f'capture <@{ANN.user_id}> warp-diag --device {name} --reason "race"', user=SAM
        )
        assert reply is not None and "waiting for approval" in reply.text.lower(), reply.text
    cards = bot.slack.messages(APPROVALS_CHANNEL)
    assert len(cards) == RACERS
    ids = [(buttons(card)[0]["value"], card.ts) for card in cards]
    await bot.sim.set_quota(quota=25, quota_usage=25 - LEFT)

    clicks = await asyncio.gather(
        *(
            bot.click(
                ActionId.APPROVE,
                rid,
                user=(MAX, MIA)[i % 2],
                channel=APPROVALS_CHANNEL,
                message_ts=ts,
            )
            for i, (rid, ts) in enumerate(ids)
        )
    )
    assert all(c.status_code == 200 for c in clicks)
    await bot.local.idle(30)
    store = bot.dexbot.services.requests
    approved = 0
    for rid, _ in ids:
        trail = await store.audit_trail(rid)
        approved += any(a.action == "approved" for a in trail)
    assert approved == LEFT
    refused = [str(c.args.get("text")) for c in bot.slack.calls(click_answers(bot.slack))]
    assert len(refused) == RACERS - LEFT and all("quota" in t.lower() for t in refused), refused
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == LEFT
