"""Issue 16, item 10 (mutants: the poller's page cap made unbounded, or ``page_cap()`` returning
1): 60 of our commands in flight, with others' commands in the window before and after them,
and one of ours no longer listed by Cloudflare. A cycle must find every listed one and stop at
its cap, ceil(60 / 50) + 2 = 4 pages, however many pages the window holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.dex.models import CommandSpec, CommandType
from bot.domain.lifecycle import Event
from bot.domain.model import TargetDevice
from bot.services.dispatch import dispatch
from bot.store.requests import NewRequest
from bot.worker.poller import PER_PAGE, page_cap
from tests.plugins.bot import BotHarness
from tests.worker.story import worker_for

pytestmark = pytest.mark.botclock("sim")
OURS, PER_REQUEST = 60, 10


def target(bot: BotHarness, name: str) -> tuple[TargetDevice, str]:
    d = bot.sim.device(name)
    reg = d.registrations[0]
    return TargetDevice(d.device_id, d.name, d.platform, reg.registration_id, d.version), reg.email


async def others(bot: BotHarness, names: list[str], count: int) -> None:
    """Commands someone else started (the dashboard, another tool): not ours to track."""
    dex = bot.dexbot.services.dex
    for start in range(0, count, PER_REQUEST):
        batch = [names[(start + i) % len(names)] for i in range(PER_REQUEST)]
        specs = []
        for name in batch:
            d, email = target(bot, name)
            specs.append(
                CommandSpec(
                    device_id=d.device_id,
                    user_email=email,
                    type=CommandType.WARP_DIAG,
                    registration_id=d.registration_id,
                )
            )
        await dex.create_commands(specs)
        await bot.sim.advance(0.2)


async def test_a_cycle_over_60_in_flight_among_others_stops_at_its_cap(bot: BotHarness) -> None:
    await bot.sim.generate_fleet(7 * OURS + 20)  # filler devices go round seven owners
    await bot.sim.set_quota(quota=1000, quota_usage=0)
    await bot.sim.configure(exec_seconds=60, upload_seconds=600)
    fleet = [d for d in bot.sim.sim.state.devices if d.name.startswith("fleet-")]
    anns = [d.name for d in fleet if d.registrations[0].email == "ann@example.com"]
    ours = anns[:OURS]  # one request is for one person's devices
    theirs = [d.name for d in fleet if d.name not in ours][:40]
    assert len(ours) == OURS
    svc = bot.dexbot.services

    await others(bot, theirs, 300)  # older than ours, inside the poller's look-back
    await bot.sim.advance(300)
    for start in range(0, OURS, PER_REQUEST):
        picked = [target(bot, n) for n in ours[start : start + PER_REQUEST]]
        now = svc.clock()
        req = await svc.requests.create(
            NewRequest(
                team_id="T0DEXBOT1",
                channel_id="C0SUPPORT",
                requester_id="U0SAM0010",
                target_user_id=None,
                target_email=picked[0][1],
                command_type="warp-diag",
                args={},
                devices=tuple(d for d, _ in picked),
                reason="fleet check",
                expires_at=now + timedelta(minutes=30),
            ),
            now=now,
            supersede_after=timedelta(seconds=30),
        )
        await svc.requests.apply(
            req.id, Event.APPROVED, actor="U0MAX0012", now=now, facts={}, quota_remaining=1000
        )
        sent = await dispatch(svc, req.id, actor="U0MAX0012")
        assert sent is not None and sent.state.value == "dispatched", sent and sent.error
        await bot.sim.advance(0.5)
    await others(bot, theirs, 60)  # newer than ours, inside the window's end
    listed = await bot.sim.commands()
    assert len(listed) == 360 + OURS, {c["type"] for c in listed}
    # Cloudflare no longer lists one of ours: the cycle cannot find it by paging further.
    state = bot.sim.sim.state
    gone = next(
        c
        for c in reversed(state.commands)
        if c.device_id in {bot.sim.device(n).device_id for n in ours}
    )
    state.commands.remove(gone)

    await bot.sim.advance(90)  # every listed command of ours is now PENDING_UPLOAD
    await bot.sim.clear_requests()
    report = await worker_for(bot).tick()
    assert report.poll is not None and report.poll.in_flight == OURS
    lists = [
        r
        for r in await bot.sim.requests("GET")
        if r["path"].endswith("/dex/commands") and r["query"].get("per_page") == str(PER_PAGE)
    ]
    assert len(lists) == report.poll.pages == page_cap(OURS) == 4
    assert report.poll.changes == OURS - 1  # every command Cloudflare still lists was seen
