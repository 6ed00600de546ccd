"""The store on SQLite and PostgreSQL: migrations, guarded transitions, quota reservations,
the outbox and leases. Each test runs once per engine (see tests/plugins/db.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.domain.model import CommandRecord, RequestState, TargetDevice
from bot.store.db import create_engine, migrate, pending_migrations
from bot.store.leases import Leases
from bot.store.outbox import Outbox, enqueue
from bot.store.requests import NewRequest, RequestStore
from bot.store.tables import Base

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ANN_MAC = TargetDevice("dev-ann-mac", "ann-macbook", "mac", None, "2025.1.1")


def new_request(devices: tuple[TargetDevice, ...] = (ANN_MAC,), **kw: object) -> NewRequest:
    values: dict[str, object] = dict(
        team_id="T1",
        channel_id="C1",
        requester_id="U0SAM0010",
        target_user_id="U0ANN0001",
        target_email="ann@example.com",
        command_type="pcap",
        args={"time-limit-min": 5},
        devices=devices,
        reason="VPN drops",
        expires_at=NOW + timedelta(minutes=30),
    )
    values.update(kw)
    return NewRequest(**values)  # type: ignore[arg-type]


async def test_migrations_from_empty_create_every_table(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert await pending_migrations(engine) == ["0001"]
        await migrate(engine)
        await migrate(engine)  # idempotent
        assert await pending_migrations(engine) == []
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert set(Base.metadata.tables) <= tables
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(engine) -> None:
    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_created_request_round_trips(sessions) -> None:
    store = RequestStore(sessions)
    req = await store.create(new_request(), now=NOW)
    again = await store.get(req.id)
    assert again == req
    assert req.state is RequestState.PENDING_APPROVAL
    assert req.devices == (ANN_MAC,)
    assert req.created_at == NOW and req.created_at.tzinfo is not None
    trail = await store.audit_trail(req.id)
    assert [(a.actor, a.action, a.after_state) for a in trail] == [
        ("U0SAM0010", "requested", "pending_approval")
    ]


async def test_two_concurrent_approvals_one_wins(sessions) -> None:
    store = RequestStore(sessions)
    req = await store.create(new_request(), now=NOW)
    results = await asyncio.gather(
        *(
            store.decide(req.id, approve=True, decider=who, now=NOW, quota_remaining=10)
            for who in ("U0MAX0012", "U0MIA0013", "U0MAX0012", "U0MIA0013")
        )
    )
    winners = [r for r in results if r.won]
    assert len(winners) == 1
    assert all(
        r.current is not None and r.current.state is RequestState.APPROVED
        for r in results
        if not r.won
    )
    assert await store.held_units() == 1
    actions = [a.action for a in await store.audit_trail(req.id)]
    assert actions.count("approved") == 1


async def test_approve_refused_when_quota_cannot_cover(sessions) -> None:
    store = RequestStore(sessions)
    first = await store.create(new_request(), now=NOW)
    second = await store.create(
        new_request(devices=(ANN_MAC, TargetDevice("dev-ann-win", "ann-desktop"))), now=NOW
    )
    assert (
        await store.decide(first.id, approve=True, decider="U0MAX0012", now=NOW, quota_remaining=2)
    ).won
    refused = await store.decide(
        second.id, approve=True, decider="U0MAX0012", now=NOW, quota_remaining=2
    )
    assert not refused.won and refused.detail == "quota"
    assert (await store.get(second.id)).state is RequestState.PENDING_APPROVAL  # type: ignore[union-attr]
    assert await store.held_units() == 1


async def test_expired_request_cannot_be_approved(sessions) -> None:
    store = RequestStore(sessions)
    req = await store.create(new_request(expires_at=NOW + timedelta(minutes=1)), now=NOW)
    late = await store.decide(
        req.id, approve=True, decider="U0MAX0012", now=NOW + timedelta(minutes=2)
    )
    assert not late.won


async def test_dispatch_is_claimed_once_and_consumes_quota(sessions) -> None:
    store = RequestStore(sessions)
    req = await store.create(new_request(), now=NOW)
    await store.decide(req.id, approve=True, decider="U0MAX0012", now=NOW, quota_remaining=5)
    claims = await asyncio.gather(
        *(store.begin_dispatch(req.id, now=NOW, actor=f"w{i}") for i in range(3))
    )
    assert sum(c.won for c in claims) == 1
    cmd = CommandRecord("cmd-1", req.id, "dev-ann-mac", "PENDING_EXEC")
    done = await store.record_dispatch(
        req.id, [cmd], now=NOW, actor="w0", user_email="ann@example.com", command_type="pcap"
    )
    assert done.won and done.request is not None
    assert done.request.state is RequestState.DISPATCHED
    assert [c.command_id for c in done.request.commands] == ["cmd-1"]
    assert await store.held_units() == 0
    assert await store.find_active_for_device(["dev-ann-mac"], "pcap") is not None
    assert await store.find_active_for_device(["dev-ann-mac"], "warp-diag") is None


async def test_transition_with_outbox_is_atomic(sessions) -> None:
    store = RequestStore(sessions)
    outbox = Outbox(sessions, owner="w1")
    req = await store.create(new_request(), now=NOW)
    out = await store.transition(
        req.id,
        [RequestState.PENDING_APPROVAL],
        RequestState.DENIED,
        actor="U0MAX0012",
        action="denied",
        now=NOW,
        outbox=[("deny:" + req.id, "post", {"text": "denied"})],
    )
    assert out.won
    again = await store.transition(
        req.id,
        [RequestState.PENDING_APPROVAL],
        RequestState.DENIED,
        actor="U0MAX0012",
        action="denied",
        now=NOW,
        outbox=[("deny:" + req.id, "post", {"text": "denied"})],
    )
    assert not again.won
    assert await outbox.due(NOW) == ["deny:" + req.id]


async def test_outbox_claim_lease_and_interruption(sessions) -> None:
    store = RequestStore(sessions)
    req = await store.create(new_request(), now=NOW)
    async with sessions() as s, s.begin():
        enqueue(s, key="k1", request_id=req.id, kind="post", payload={"a": 1}, now=NOW)
    w1, w2 = Outbox(sessions, "w1"), Outbox(sessions, "w2")
    lease = timedelta(seconds=60)
    first = await w1.claim("k1", NOW, lease)
    assert first is not None and not first.interrupted
    assert await w2.claim("k1", NOW, lease) is None  # leased
    # w1 dies; after the lease, w2 takes over and knows an attempt may have reached Slack.
    later = NOW + timedelta(seconds=61)
    assert await w2.due(later) == ["k1"]
    taken = await w2.claim("k1", later, lease)
    assert taken is not None and taken.interrupted and taken.attempts == 2
    assert not await w1.done("k1", later)  # w1 lost its lease
    assert await w2.done("k1", later, {"ts": "1.2"})
    assert await w2.due(later + timedelta(hours=1)) == []


async def test_one_lease_holder_at_a_time(sessions) -> None:
    a, b = Leases(sessions, "a"), Leases(sessions, "b")
    ttl = timedelta(seconds=30)
    assert await a.acquire("poller", NOW, ttl)
    assert not await b.acquire("poller", NOW, ttl)
    assert await a.acquire("poller", NOW + timedelta(seconds=10), ttl)  # renew
    assert not await b.acquire("poller", NOW + timedelta(seconds=39), ttl)
    assert await b.acquire("poller", NOW + timedelta(seconds=41), ttl)  # expired
    await b.release("poller")
    assert await a.acquire("poller", NOW + timedelta(seconds=42), ttl)
