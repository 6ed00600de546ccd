"""Capture requests: creation, guarded state transitions, approval with quota reservation,
dispatch bookkeeping. Every transition is ``UPDATE … WHERE state IN (<expected>)`` checked by
its row count, so two clicks, two replicas or a resent payload can never both win."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.model import (
    CaptureRequest,
    CommandRecord,
    RequestState,
    TargetDevice,
)
from bot.store.outbox import enqueue_all
from bot.store.tables import (
    AuditRow,
    CaptureRequestRow,
    DecisionRow,
    DexCommandRow,
    QuotaReservationRow,
)

#: Requests in these states block an identical new request for the same device.
ACTIVE_STATES = (
    RequestState.PENDING_APPROVAL,
    RequestState.APPROVED,
    RequestState.DISPATCHING,
    RequestState.DISPATCHED,
)


@dataclass(frozen=True)
class NewRequest:
    """What a requester asked for, after parsing and pre-flight checks."""

    team_id: str
    channel_id: str
    requester_id: str
    target_user_id: str | None
    target_email: str
    command_type: str
    args: dict[str, Any]
    devices: tuple[TargetDevice, ...]
    reason: str | None
    expires_at: datetime


@dataclass(frozen=True)
class Outcome:
    """The result of a guarded transition: ``request`` is None when the guard did not match."""

    request: CaptureRequest | None
    current: CaptureRequest | None = None  # the state that won, for explaining a lost race
    detail: str | None = None

    @property
    def won(self) -> bool:
        """True when this caller's transition happened."""
        return self.request is not None


def audit(
    session: AsyncSession,
    *,
    at: datetime,
    actor: str,
    action: str,
    request_id: str | None,
    before: str | None = None,
    after: str | None = None,
    **detail: Any,
) -> None:
    """Append one line to the audit log in the caller's transaction."""
    session.add(
        AuditRow(
            at=at,
            actor=actor,
            action=action,
            request_id=request_id,
            before_state=before,
            after_state=after,
            detail=detail,
        )
    )


class RequestStore:
    """Repository of capture requests over an async session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # -- reading -----------------------------------------------------------------

    async def get(self, request_id: str) -> CaptureRequest | None:
        """The request with its decision and commands, or None."""
        async with self.sessions() as s:
            return await _load(s, request_id)

    async def find_active_for_device(
        self, device_ids: Iterable[str], command_type: str
    ) -> CaptureRequest | None:
        """An open or running request of this type on any of these devices, if one exists."""
        wanted = set(device_ids)
        async with self.sessions() as s:
            rows = (
                await s.scalars(
                    select(CaptureRequestRow).where(
                        CaptureRequestRow.command_type == command_type,
                        CaptureRequestRow.state.in_([st.value for st in ACTIVE_STATES]),
                    )
                )
            ).all()
            for row in rows:
                if wanted & {d["device_id"] for d in row.devices}:
                    return await _load(s, row.id)
        return None

    async def held_units(self) -> int:
        """Quota units reserved by approved requests not yet sent."""
        async with self.sessions() as s:
            return await _held(s)

    async def count_awaiting_approval(self) -> int:
        """Requests waiting for a manager."""
        async with self.sessions() as s:
            value = await s.scalar(
                select(func.count()).where(
                    CaptureRequestRow.state == RequestState.PENDING_APPROVAL.value
                )
            )
            return int(value or 0)

    async def in_state(
        self,
        states: Sequence[RequestState],
        *,
        before: datetime | None = None,
        field: str = "updated_at",
    ) -> list[CaptureRequest]:
        """Requests in any of ``states`` (optionally last changed before ``before``)."""
        async with self.sessions() as s:
            q = select(CaptureRequestRow.id).where(
                CaptureRequestRow.state.in_([st.value for st in states])
            )
            if before is not None:
                q = q.where(getattr(CaptureRequestRow, field) < before)
            ids = (await s.scalars(q.order_by(CaptureRequestRow.created_at))).all()
            out = [await _load(s, i) for i in ids]
            return [r for r in out if r is not None]

    async def tracked_command_ids(self, command_ids: Sequence[str]) -> set[str]:
        """Which of these Cloudflare command ids some request already owns."""
        if not command_ids:
            return set()
        async with self.sessions() as s:
            rows = await s.scalars(
                select(DexCommandRow.command_id).where(DexCommandRow.command_id.in_(command_ids))
            )
            return set(rows.all())

    async def dispatch_attempts(self, request_id: str) -> int:
        """How many times dispatch has started for this request."""
        async with self.sessions() as s:
            value = await s.scalar(
                select(CaptureRequestRow.dispatch_attempts).where(
                    CaptureRequestRow.id == request_id
                )
            )
            return int(value or 0)

    async def dispatch_started_at(self, request_id: str) -> datetime | None:
        """When the latest dispatch attempt recorded its intent."""
        async with self.sessions() as s:
            return await s.scalar(
                select(CaptureRequestRow.dispatch_started_at).where(
                    CaptureRequestRow.id == request_id
                )
            )

    async def audit_trail(self, request_id: str) -> list[AuditRow]:
        """The audit log of one request, oldest first."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(AuditRow).where(AuditRow.request_id == request_id).order_by(AuditRow.id)
            )
            return list(rows.all())

    # -- writing -----------------------------------------------------------------

    async def create(self, new: NewRequest, *, now: datetime) -> CaptureRequest:
        """Store a new request awaiting approval and audit it."""
        request_id = uuid.uuid4().hex
        async with self.sessions() as s, s.begin():
            s.add(
                CaptureRequestRow(
                    id=request_id,
                    team_id=new.team_id,
                    channel_id=new.channel_id,
                    requester_id=new.requester_id,
                    target_user_id=new.target_user_id,
                    target_email=new.target_email,
                    command_type=new.command_type,
                    args=new.args,
                    devices=[d.to_json() for d in new.devices],
                    reason=new.reason,
                    state=RequestState.PENDING_APPROVAL.value,
                    created_at=now,
                    updated_at=now,
                    expires_at=new.expires_at,
                    dispatch_attempts=0,
                )
            )
            audit(
                s,
                at=now,
                actor=new.requester_id,
                action="requested",
                request_id=request_id,
                after=RequestState.PENDING_APPROVAL.value,
                command_type=new.command_type,
                devices=[d.device_id for d in new.devices],
                args=new.args,
            )
        created = await self.get(request_id)
        assert created is not None
        return created

    async def set_messages(self, request_id: str, **refs: str | None) -> None:
        """Remember where the parent message and approval card live (parent_ts, card_ts, …)."""
        allowed = {"parent_channel", "parent_ts", "card_channel", "card_ts"}
        values = {k: v for k, v in refs.items() if k in allowed}
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(CaptureRequestRow).where(CaptureRequestRow.id == request_id).values(**values)
            )

    async def transition(
        self,
        request_id: str,
        expected: Sequence[RequestState],
        new: RequestState,
        *,
        actor: str,
        action: str,
        now: datetime,
        outbox: Sequence[tuple[str, str, dict[str, Any]]] = (),
        release_quota: bool = False,
        values: dict[str, Any] | None = None,
        **detail: Any,
    ) -> Outcome:
        """Move from one of ``expected`` to ``new`` with audit and outbox, or not at all."""
        async with self.sessions() as s, s.begin():
            before = await s.scalar(
                select(CaptureRequestRow.state).where(CaptureRequestRow.id == request_id)
            )
            if not await _guarded(s, request_id, expected, new, now, values or {}):
                current = await _load(s, request_id)
                return Outcome(None, current)
            if release_quota:
                await _set_reservation(s, request_id, "released", now)
            audit(
                s,
                at=now,
                actor=actor,
                action=action,
                request_id=request_id,
                before=before,
                after=new.value,
                **detail,
            )
            enqueue_all(s, request_id, outbox, now)
        return Outcome(await self.get(request_id))

    async def decide(
        self,
        request_id: str,
        *,
        approve: bool,
        decider: str,
        now: datetime,
        note: str | None = None,
        break_glass: bool = False,
        quota_remaining: int | None = None,
        outbox: Sequence[tuple[str, str, dict[str, Any]]] = (),
    ) -> Outcome:
        """Approve (reserving quota in the same transaction) or deny a pending request.

        With ``approve`` and ``quota_remaining`` given, the approval is refused (``detail`` =
        "quota") when the remaining quota minus what is already held cannot cover this request.
        """
        new = RequestState.APPROVED if approve else RequestState.DENIED
        try:
            return await self._decide(
                request_id,
                new,
                decider=decider,
                now=now,
                note=note,
                break_glass=break_glass,
                quota_remaining=quota_remaining,
                outbox=outbox,
            )
        except _QuotaShort:
            return Outcome(None, await self.get(request_id), detail="quota")

    async def _decide(
        self,
        request_id: str,
        new: RequestState,
        *,
        decider: str,
        now: datetime,
        note: str | None,
        break_glass: bool,
        quota_remaining: int | None,
        outbox: Sequence[tuple[str, str, dict[str, Any]]],
    ) -> Outcome:
        approve = new is RequestState.APPROVED
        async with self.sessions() as s, s.begin():
            if approve and s.get_bind().dialect.name == "postgresql":
                # Serialise approvals across replicas so two cannot both take the last unit.
                await s.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            # The guarded UPDATE comes first: on SQLite it takes the write lock before we read.
            if not await _guarded(
                s,
                request_id,
                [RequestState.PENDING_APPROVAL],
                new,
                now,
                {},
                extra=[CaptureRequestRow.expires_at > now],
            ):
                return Outcome(None, await _load(s, request_id))
            row = await s.get(CaptureRequestRow, request_id)
            assert row is not None
            units = len(row.devices)
            if approve and quota_remaining is not None:
                held = await _held(s)
                if quota_remaining - held - units < 0:
                    raise _QuotaShort  # rolls the approval back
            s.add(
                DecisionRow(
                    request_id=request_id,
                    decision="approved" if approve else "denied",
                    decider_id=decider,
                    note=note,
                    break_glass=break_glass,
                    decided_at=now,
                )
            )
            if approve:
                s.add(
                    QuotaReservationRow(
                        request_id=request_id,
                        units=units,
                        state="held",
                        created_at=now,
                        updated_at=now,
                    )
                )
            audit(
                s,
                at=now,
                actor=decider,
                action="approved" if approve else "denied",
                request_id=request_id,
                before=RequestState.PENDING_APPROVAL.value,
                after=new.value,
                note=note,
                break_glass=break_glass,
            )
            enqueue_all(s, request_id, outbox, now)
        return Outcome(await self.get(request_id))

    async def begin_dispatch(self, request_id: str, *, now: datetime, actor: str) -> Outcome:
        """APPROVED -> DISPATCHING: record the intent before the POST. Only one caller wins."""
        async with self.sessions() as s, s.begin():
            won = await _guarded(
                s,
                request_id,
                [RequestState.APPROVED],
                RequestState.DISPATCHING,
                now,
                {
                    "dispatch_started_at": now,
                    "dispatch_attempts": CaptureRequestRow.dispatch_attempts + 1,
                },
            )
            if not won:
                return Outcome(None, await _load(s, request_id))
            audit(
                s,
                at=now,
                actor=actor,
                action="dispatch_started",
                request_id=request_id,
                before=RequestState.APPROVED.value,
                after=RequestState.DISPATCHING.value,
            )
        return Outcome(await self.get(request_id))

    async def record_dispatch(
        self,
        request_id: str,
        commands: Sequence[CommandRecord],
        *,
        now: datetime,
        actor: str,
        user_email: str,
        command_type: str,
        outbox: Sequence[tuple[str, str, dict[str, Any]]] = (),
    ) -> Outcome:
        """DISPATCHING -> DISPATCHED with the command ids Cloudflare returned; quota consumed."""
        async with self.sessions() as s, s.begin():
            if not await _guarded(
                s, request_id, [RequestState.DISPATCHING], RequestState.DISPATCHED, now, {}
            ):
                return Outcome(None, await _load(s, request_id))
            row = await s.get(CaptureRequestRow, request_id)
            assert row is not None
            regs = {d["device_id"]: d.get("registration_id") for d in row.devices}
            for c in commands:
                s.add(
                    DexCommandRow(
                        command_id=c.command_id,
                        request_id=request_id,
                        device_id=c.device_id,
                        registration_id=regs.get(c.device_id),
                        user_email=user_email,
                        command_type=command_type,
                        status=c.status,
                        created_date=c.created_date,
                        completed_date=None,
                        filename=None,
                        status_changed_at=now,
                        stale_flagged=False,
                    )
                )
            await _set_reservation(s, request_id, "consumed", now)
            audit(
                s,
                at=now,
                actor=actor,
                action="dispatched",
                request_id=request_id,
                before=RequestState.DISPATCHING.value,
                after=RequestState.DISPATCHED.value,
                command_ids=[c.command_id for c in commands],
            )
            enqueue_all(s, request_id, outbox, now)
        return Outcome(await self.get(request_id))


# -- helpers -------------------------------------------------------------------


class _QuotaShort(Exception):
    """Raised inside the approval transaction to roll it back when quota cannot cover it."""


async def _guarded(
    s: AsyncSession,
    request_id: str,
    expected: Sequence[RequestState],
    new: RequestState,
    now: datetime,
    values: dict[str, Any],
    extra: Sequence[Any] = (),
) -> bool:
    result = await s.execute(
        update(CaptureRequestRow)
        .where(
            CaptureRequestRow.id == request_id,
            CaptureRequestRow.state.in_([e.value for e in expected]),
            *extra,
        )
        .values(state=new.value, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def _held(s: AsyncSession) -> int:
    value = await s.scalar(
        select(func.coalesce(func.sum(QuotaReservationRow.units), 0)).where(
            QuotaReservationRow.state == "held"
        )
    )
    return int(value or 0)


async def _set_reservation(s: AsyncSession, request_id: str, state: str, now: datetime) -> None:
    await s.execute(
        update(QuotaReservationRow)
        .where(QuotaReservationRow.request_id == request_id, QuotaReservationRow.state == "held")
        .values(state=state, updated_at=now)
    )


async def _load(s: AsyncSession, request_id: str) -> CaptureRequest | None:
    row = await s.get(CaptureRequestRow, request_id, populate_existing=True)
    if row is None:
        return None
    decision = await s.get(DecisionRow, request_id, populate_existing=True)
    commands = (
        await s.scalars(
            select(DexCommandRow)
            .where(DexCommandRow.request_id == request_id)
            .order_by(DexCommandRow.device_id)
            .execution_options(populate_existing=True)
        )
    ).all()
    return CaptureRequest(
        id=row.id,
        team_id=row.team_id,
        channel_id=row.channel_id,
        requester_id=row.requester_id,
        target_user_id=row.target_user_id,
        target_email=row.target_email,
        command_type=row.command_type,
        args=dict(row.args),
        devices=tuple(TargetDevice.from_json(d) for d in row.devices),
        reason=row.reason,
        state=RequestState(row.state),
        created_at=row.created_at,
        expires_at=row.expires_at,
        parent_channel=row.parent_channel,
        parent_ts=row.parent_ts,
        card_channel=row.card_channel,
        card_ts=row.card_ts,
        decided_by=decision.decider_id if decision else None,
        decided_at=decision.decided_at if decision else None,
        decision_note=decision.note if decision else None,
        error=row.error,
        commands=tuple(
            CommandRecord(
                command_id=c.command_id,
                request_id=c.request_id,
                device_id=c.device_id,
                status=c.status,
                filename=c.filename,
                created_date=c.created_date,
                completed_date=c.completed_date,
            )
            for c in commands
        ),
    )
