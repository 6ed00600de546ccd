"""The store on SQLite and PostgreSQL: migrations, guarded transitions, quota reservations,
the outbox and leases. Each test runs once per engine (see tests/plugins/db.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.domain.errors import AlreadyRequested, QuotaShort
from bot.domain.lifecycle import Effect, EffectKind, Event, IllegalTransition, Note
from bot.domain.model import CommandRecord, RequestState, TargetDevice
from bot.store.db import create_engine, migrate, pending_migrations
from bot.store.leases import Leases
from bot.store.outbox import Outbox, enqueue_effects
from bot.store.requests import NewRequest
from bot.store.tables import Base
from bot.store.transitions import LostRace, RequestStore

SUPERSEDE = timedelta(seconds=30)

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
        assert sorted(await pending_migrations(engine)) == [
            "0001",
            "0002",
            "0003",
            "0004",
            "0005",
            "0006",
        ]
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
    req = await store.create(new_request(), now=NOW, supersede_after=SUPERSEDE)
    again = await store.get(req.id)
    assert again == req
    assert req.state is RequestState.PENDING_APPROVAL
    assert req.devices == (ANN_MAC,)
    assert req.created_at == NOW and req.created_at.tzinfo is not None
    trail = await store.audit_trail(req.id)
    assert [(a.actor, a.action, a.after_state) for a in trail] == [
        ("U0SAM0010", "requested", "pending_approval")
    ]


def approve(store: RequestStore, rid: str, who: str, *, remaining: int | None = 10, at=NOW):  # type: ignore[no-untyped-def]
    return store.apply(
        rid, Event.APPROVED, actor=who, now=at, facts={"approver": who}, quota_remaining=remaining
    )


async def settle(*calls):  # type: ignore[no-untyped-def]
    """Run calls together; the exceptions count as answers."""
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_two_concurrent_approvals_one_wins(sessions) -> None:
    store = RequestStore(sessions)
    req = await store.create(new_request(), now=NOW, supersede_after=SUPERSEDE)
    results = await settle(
        *(
            approve(store, req.id, who)
            for who in ("U0MAX0012", "U0MIA0013", "U0MAX0012", "U0MIA0013")
        )
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, IllegalTransition) for r in results if r not in winners)
    assert await store.held_units() == 1
    actions = [a.action for a in await store.audit_trail(req.id)]
    assert actions.count("approved") == 1


async def test_approve_refused_when_quota_cannot_cover(sessions) -> None:
    store = RequestStore(sessions)
    first = await store.create(new_request(), now=NOW, supersede_after=SUPERSEDE)
    second = await store.create(
        new_request(
            devices=(
                TargetDevice("dev-bob", "bob-laptop"),
                TargetDevice("dev-ann-win", "ann-desktop"),
            )
        ),
        now=NOW,
        supersede_after=SUPERSEDE,
    )
    await approve(store, first.id, "U0MAX0012", remaining=2)
    with pytest.raises(QuotaShort):
        await approve(store, second.id, "U0MAX0012", remaining=2)
    assert (await store.get(second.id)).state is RequestState.PENDING_APPROVAL  # type: ignore[union-attr]
    assert await store.held_units() == 1


async def test_many_approvals_racing_for_the_last_units_approve_exactly_that_many(sessions) -> None:
    store = RequestStore(sessions)
    reqs = [
        await store.create(
            new_request(devices=(TargetDevice(f"dev-{i}", f"laptop-{i}"),)),
            now=NOW,
            supersede_after=SUPERSEDE,
        )
        for i in range(8)
    ]
    results = await settle(*(approve(store, r.id, "U0MAX0012", remaining=3) for r in reqs))
    assert sum(not isinstance(r, BaseException) for r in results) == 3
    assert all(isinstance(r, QuotaShort) for r in results if isinstance(r, BaseException))
    assert await store.held_units() == 3


async def test_expired_request_cannot_be_approved(sessions) -> None:
    store = RequestStore(sessions)
    req = await store.create(
        new_request(expires_at=NOW + timedelta(minutes=1)), now=NOW, supersede_after=SUPERSEDE
    )
    with pytest.raises(LostRace):
        await approve(store, req.id, "U0MAX0012", at=NOW + timedelta(minutes=2))


async def test_dispatch_is_claimed_once_fenced_and_consumes_quota(sessions) -> None:
    store = RequestStore(sessions)
    req = await store.create(new_request(), now=NOW, supersede_after=SUPERSEDE)
    await approve(store, req.id, "U0MAX0012", remaining=5)
    claims = await settle(
        *(store.apply(req.id, Event.DISPATCH_STARTED, actor=f"w{i}", now=NOW) for i in range(3))
    )
    assert sum(not isinstance(c, BaseException) for c in claims) == 1
    attempt = await store.dispatch_attempts(req.id)
    cmd = CommandRecord("cmd-1", req.id, "dev-ann-mac", "PENDING_EXEC")
    # A stalled attempt (an older number) can neither record nor undo the dispatch.
    with pytest.raises(LostRace):
        await store.apply(req.id, Event.DISPATCH_RETRY, actor="old", now=NOW, fence=attempt - 1)
    done = await store.apply(
        req.id, Event.DISPATCHED, actor="w0", now=NOW, fence=attempt, commands=[cmd]
    )
    assert done.request.state is RequestState.DISPATCHED
    assert [c.command_id for c in done.request.commands] == ["cmd-1"]
    assert await store.held_units() == 0
    assert await store.find_active_for_device(["dev-ann-mac"], "pcap") is not None
    assert await store.find_active_for_device(["dev-ann-mac"], "warp-diag") is None


async def test_a_step_writes_its_outbox_rows_once(sessions) -> None:
    store = RequestStore(sessions)
    outbox = Outbox(sessions, owner="w1")
    req = await store.create(new_request(), now=NOW, supersede_after=SUPERSEDE)
    out = await store.apply(
        req.id, Event.DENIED, actor="U0MAX0012", now=NOW, facts={"decider": "U0MAX0012"}
    )
    assert {e.kind for e in out.effects} == {
        EffectKind.EDIT_CARD,
        EffectKind.EDIT_PARENT,
        EffectKind.THREAD_NOTE,
        EffectKind.TELL_REQUESTER,
    }
    with pytest.raises(IllegalTransition):
        await store.apply(req.id, Event.DENIED, actor="U0MAX0012", now=NOW)
    keys = await outbox.due(NOW)
    assert sorted(keys) == sorted(
        [e.key for e in out.effects]
        + [f"{req.id}:post_card:requested", f"{req.id}:post_parent:requested"]
    )
    denied = await outbox.claim(f"{req.id}:thread_note:denied", NOW, timedelta(seconds=5))
    assert denied is not None and denied.effect.note is Note.DENIED
    assert denied.effect.facts == {"decider": "U0MAX0012"}


async def test_identical_requests_created_together_give_one(sessions) -> None:
    store = RequestStore(sessions)
    results = await settle(
        *(
            store.create(
                new_request(requester_id=f"U0PERSON{i}"), now=NOW, supersede_after=SUPERSEDE
            )
            for i in range(6)
        )
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    assert len(made) == 1
    assert all(isinstance(r, AlreadyRequested) for r in results if r not in made)
    assert all(r.short_id == made[0].short_id for r in results if r not in made)  # type: ignore[union-attr]


async def test_a_final_request_frees_its_devices(sessions) -> None:
    store = RequestStore(sessions)
    first = await store.create(new_request(), now=NOW, supersede_after=SUPERSEDE)
    await store.apply(first.id, Event.EXPIRED, actor="dexbot", now=NOW)
    second = await store.create(new_request(), now=NOW, supersede_after=SUPERSEDE)
    assert second.id != first.id


async def test_a_request_that_never_got_its_card_is_superseded(sessions) -> None:
    store = RequestStore(sessions)
    first = await store.create(new_request(), now=NOW, supersede_after=SUPERSEDE)
    with pytest.raises(AlreadyRequested):  # someone else: its card may still be on its way
        await store.create(
            new_request(requester_id="U0MIA0013"),
            now=NOW + timedelta(seconds=5),
            supersede_after=SUPERSEDE,
        )
    with pytest.raises(AlreadyRequested):  # a double-click by its own requester
        await store.create(
            new_request(), now=NOW + timedelta(milliseconds=100), supersede_after=SUPERSEDE
        )
    second = await store.create(
        new_request(requester_id="U0SUE0011"),
        now=NOW + SUPERSEDE + timedelta(seconds=1),
        supersede_after=SUPERSEDE,
    )
    old = await store.get(first.id)
    assert old is not None and old.state is RequestState.CANCELLED and old.error == "superseded"
    assert second.state is RequestState.PENDING_APPROVAL


async def test_its_own_requester_asking_again_replaces_a_cardless_request(sessions) -> None:
    store = RequestStore(sessions)
    first = await store.create(new_request(), now=NOW, supersede_after=SUPERSEDE)
    again = await store.create(
        new_request(), now=NOW + timedelta(seconds=5), supersede_after=SUPERSEDE
    )
    assert again.id != first.id
    old = await store.get(first.id)
    assert old is not None and old.state is RequestState.CANCELLED


async def test_outbox_claim_lease_and_interruption(sessions) -> None:
    store = RequestStore(sessions)
    req = await store.create(new_request(), now=NOW, supersede_after=SUPERSEDE)
    effect = Effect(EffectKind.THREAD_NOTE, req.id, Event.APPROVED, note=Note.APPROVED)
    async with sessions() as s, s.begin():
        enqueue_effects(s, [effect], NOW)
    key = effect.key
    w1, w2 = Outbox(sessions, "w1"), Outbox(sessions, "w2")
    lease = timedelta(seconds=60)
    first = await w1.claim(key, NOW, lease)
    assert first is not None and not first.interrupted
    assert await w2.claim(key, NOW, lease) is None  # leased
    # w1 dies; after the lease, w2 takes over and knows an attempt may have reached Slack.
    later = NOW + timedelta(seconds=61)
    assert key in await w2.due(later)
    taken = await w2.claim(key, later, lease)
    assert taken is not None and taken.interrupted and taken.attempts == 2
    assert not await w1.done(key, later)  # w1 lost its lease
    assert await w2.done(key, later, {"ts": "1.2"})
    assert key not in await w2.due(later + timedelta(hours=1))


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
