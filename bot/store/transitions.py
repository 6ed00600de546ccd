"""The one path by which a request changes: ``RequestStore.create`` and ``RequestStore.apply``.

Each is one transaction holding the guarded UPDATE (checked by its row count), the audit row,
the quota reservation move, the decision, and the outbox rows of the step's effects, as the
lifecycle table (``bot.domain.lifecycle``) says. Two clicks, two replicas or a resent payload
can never both win; a dispatch attempt that lost its claim (a stalled replica waking late) is
fenced out by the attempt number it holds.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain import lifecycle
from bot.domain.errors import (
    AlreadyApproved,
    AutoCapReached,
    QuotaShort,
    UnknownRequest,
    already_requested,
)
from bot.domain.lifecycle import Effect, EffectKind, Event, IllegalTransition
from bot.domain.model import CaptureRequest, CommandRecord, RequestState
from bot.store.batch import SET_EVENTS, Change, CommandChange, LostRace, apply_set
from bot.store.home import homes_touched
from bot.store.outbox import enqueue_effects
from bot.store.requests import (
    NewRequest,
    RequestReads,
    active_conflict,
    audit,
    count_held,
    load,
)
from bot.store.tables import (
    ApprovalRow,
    CaptureRequestRow,
    DecisionRow,
    DexCommandRow,
    OutboxRow,
    QuotaReservationRow,
    RequestDeviceRow,
)

log = logging.getLogger("dexbot.store")
FINAL_COMMAND = ("SUCCESS", "FAILED")
#: A cardless request asked again by its own requester this much later is replaced: longer
#: than a doubled Enter, shorter than a process restart (a retry after a crash).
SAME_REQUESTER_RETRY = timedelta(milliseconds=250)
#: Serialises approvals across PostgreSQL replicas, so two cannot both take the last unit.
APPROVAL_LOCK = 727274


@dataclass(frozen=True)
class Outcome:
    """A step that happened: the request after it and the effects it enqueued."""

    request: CaptureRequest
    effects: tuple[Effect, ...]


#: Told of every event that committed: (event, command type, applied by a policy rule).
Observer = Callable[[Event, str, bool], None]


class RequestStore(RequestReads):
    """Capture requests: reads (``RequestReads``) and the one guarded write path."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions)
        self.observers: list[Observer] = []

    def _tell(self, events: Sequence[Event], command_type: str, by_policy: bool) -> None:
        for observe in self.observers:
            for event in events:
                try:
                    observe(event, command_type, by_policy)
                except Exception:  # an observer (metrics) must never undo a committed change
                    log.warning("a lifecycle observer failed", exc_info=True)

    async def create(
        self, new: NewRequest, *, now: datetime, supersede_after: timedelta
    ) -> CaptureRequest:
        """Store a new request (PENDING_APPROVAL) with its parent and card effects.

        An identical active request (same device and type) raises ``AlreadyRequested``, decided
        by the database's unique index, so two arriving together give one request. Except: an
        active request that never got its card (its post failed, or it is older than
        ``supersede_after``) cannot be approved by anyone, so it is cancelled and replaced.
        """
        request_id = uuid.uuid4().hex
        devices = [d.device_id for d in new.devices]
        try:
            async with self.sessions() as s, s.begin():
                await self._supersede_cardless(s, devices, new, now, supersede_after)
                _insert(s, request_id, new, now)
                await s.flush()  # the unique index speaks here
                step = lifecycle.step(None, Event.REQUESTED)
                effects = step.effects_for(request_id, Event.REQUESTED)
                enqueue_effects(s, effects, now)
                await homes_touched(s, new.requester_id, None, step.to, Event.REQUESTED, now)
                audit(
                    s,
                    at=now,
                    actor=new.requester_id,
                    action=Event.REQUESTED.value,
                    request_id=request_id,
                    after=step.to.value,
                    command_type=new.command_type,
                    devices=devices,
                    args=new.args,
                )
        except IntegrityError as exc:
            # Only the active-requests index means "identical request"; anything else is a
            # bug to be seen (logged with a reference), not dressed up as a duplicate.
            if "request_devices" in str(exc.orig) or "uq_request_devices_active" in str(exc):
                await self._raise_duplicate(devices, new.command_type)
            raise
        created = await self.get(request_id)
        assert created is not None
        self._tell([Event.REQUESTED], new.command_type, False)
        return created

    async def _supersede_cardless(
        self,
        s: AsyncSession,
        devices: list[str],
        new: NewRequest,
        now: datetime,
        after: timedelta,
    ) -> None:
        rid = await active_conflict(s, devices, new.command_type)
        if rid is None:
            return
        row = await s.get(CaptureRequestRow, rid)
        assert row is not None
        card_key = Effect(EffectKind.POST_CARD, rid, Event.REQUESTED).key
        card = await s.get(OutboxRow, card_key)
        failing = card is None or card.state == "failed" or bool(card.error)
        cardless = row.state == RequestState.PENDING_APPROVAL.value and row.card_ts is None
        age = now - row.created_at
        # The same person asking again for a request they can't see a card for is a retry
        # (the bot may have died before the card): past a double-click's worth, replace it.
        retry = row.requester_id == new.requester_id and age > SAME_REQUESTER_RETRY
        if cardless and (failing or retry or age > after):
            await self._apply_in(
                s,
                rid,
                Event.CANCELLED,
                actor="dexbot",
                now=now,
                facts={"why": "superseded", "by": new.requester_id},
                values={"error": "superseded"},
            )
            return
        existing = await load(s, rid)
        assert existing is not None
        raise already_requested(existing)

    async def _raise_duplicate(self, devices: list[str], command_type: str) -> None:
        existing = await self.find_active_for_device(devices, command_type)
        if existing is not None:
            raise already_requested(existing)

    async def refuse_auto(self, request_id: str, why: str, *, actor: str, now: datetime) -> None:
        """Record that the request's rule could not approve it after all (``why``: "cap" or
        "reserve") and re-render its card to say so; people decide. Not a state change."""
        async with self.sessions() as s, s.begin():
            row = await s.get(CaptureRequestRow, request_id)
            if row is None:
                return
            row.policy = {**(row.policy or {}), "auto": why}
            edit = Effect(EffectKind.EDIT_CARD, request_id, Event.REQUESTED, tag="auto_refused")
            enqueue_effects(s, [edit], now)
            audit(s, at=now, actor=actor, action="auto_refused", request_id=request_id, why=why)

    async def set_messages(self, request_id: str, **refs: str | None) -> None:
        """Remember where the parent message and approval card live (parent_ts, card_ts, …).

        Not a state change: it records where an effect landed.
        """
        allowed = {"parent_channel", "parent_ts", "card_channel", "card_ts"}
        values = {k: v for k, v in refs.items() if k in allowed}
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(CaptureRequestRow).where(CaptureRequestRow.id == request_id).values(**values)
            )

    async def apply(
        self,
        request_id: str,
        event: Event,
        *,
        actor: str,
        now: datetime,
        facts: dict[str, Any] | None = None,
        tag: str | None = None,
        fence: int | None = None,
        quota_remaining: int | None = None,
        quota_read_at: datetime | None = None,
        values: dict[str, Any] | None = None,
        commands: Sequence[CommandRecord] = (),
        command: CommandChange | None = None,
    ) -> Outcome:
        """Apply ``event`` to the request, all or nothing; see the module docstring.

        Raises ``UnknownRequest``, ``IllegalTransition`` (the table forbids it), ``LostRace``
        (another caller changed it first) or ``QuotaShort`` (an approval the quota left after
        reservations, ``quota_remaining``, cannot cover; nothing is written). With
        ``quota_read_at``, units consumed since that read count against it as well: Cloudflare's
        figure may predate them.
        """
        applied: list[Event] = []
        async with self.sessions() as s, s.begin():
            effects = await self._apply_in(
                s,
                request_id,
                event,
                applied=applied,
                actor=actor,
                now=now,
                facts=facts or {},
                tag=tag,
                fence=fence,
                quota_remaining=quota_remaining,
                quota_read_at=quota_read_at,
                values=values or {},
                commands=commands,
                command=command,
            )
        request = await self.get(request_id)
        assert request is not None
        self._tell(applied, request.command_type, bool((facts or {}).get("by_policy")))
        return Outcome(request, tuple(effects))

    async def apply_many(
        self, changes: Sequence[Change], *, actor: str, now: datetime
    ) -> list[bool]:
        """Apply many events in one transaction, under the same guards as ``apply``; returns,
        per change, whether it was applied (False: another caller recorded it first).

        A poll cycle that saw thousands of status changes costs a few statements and one
        commit per batch, not a transaction per change: the poller's events go set-wise
        (``bot.store.batch``), any other event through ``apply``'s own logic. Should the
        batch fail as a whole (a request moved under it, a deadlock between replicas), it
        rolls back and each change is applied on its own with ``apply``.
        """
        kinds: list[tuple[Event, str]] = []
        won: set[int] = set()
        try:
            async with self.sessions() as s, s.begin():
                bulk = [c for c in changes if c.event in SET_EVENTS]
                for c, kind in await apply_set(s, bulk, actor=actor, now=now) if bulk else []:
                    won.add(id(c))
                    kinds.append((c.event, kind))
                for c in changes:
                    if c.event in SET_EVENTS:
                        continue
                    events: list[Event] = []
                    await self._apply_in(
                        s,
                        c.request_id,
                        c.event,
                        actor=actor,
                        now=now,
                        facts=c.facts,
                        tag=c.tag,
                        command=c.command,
                        applied=events,
                    )
                    won.add(id(c))
                    kinds += [(e, str(c.facts.get("command_type") or "")) for e in events]
        except Exception as exc:
            if not isinstance(exc, IllegalTransition):
                log.info("a batch of %d changes fell back to one at a time: %r", len(changes), exc)
            return [await self._apply_alone(c, actor, now) for c in changes]
        for event, kind in kinds:
            self._tell([event], kind, False)
        return [id(c) in won for c in changes]

    async def _apply_alone(self, c: Change, actor: str, now: datetime) -> bool:
        try:
            await self.apply(
                c.request_id,
                c.event,
                actor=actor,
                now=now,
                facts=c.facts,
                tag=c.tag,
                command=c.command,
            )
        except IllegalTransition:  # someone else recorded it first
            return False
        except Exception:  # one change's trouble must not hide the others'
            log.exception("recording %s on %s failed", c.event.value, c.request_id)
            return False
        return True

    async def approve(
        self,
        request_id: str,
        approver: str,
        *,
        quorum: int,
        now: datetime,
        facts: dict[str, Any],
        quota_remaining: int | None = None,
        quota_read_at: datetime | None = None,
        owner_until: datetime | None = None,
        cap: tuple[int, datetime] | None = None,
    ) -> Outcome:
        """Count ``approver``'s approval; the one that completes the ``quorum`` approves.

        One transaction: the request row is locked first (a guarded no-op UPDATE, which takes
        SQLite's write lock and PostgreSQL's row lock), then the approval row is added and the
        distinct approvals counted. Below the quorum it is ``APPROVAL_RECORDED`` (the card is
        edited); at it, ``APPROVED`` with the quota reserved in the same transaction. Two
        approvers at once on two replicas: one counts first, the other sees its row.
        Raises ``AlreadyApproved`` for a second click by the same approver, and what
        ``apply`` raises; observers are told what committed. With ``owner_until`` the
        decisive approval waits for the device owner's OK (``APPROVED_FOR_OWNER``) until
        then, with the quota reserved meanwhile. ``cap`` (limit, since): a rule approving by
        itself may not exceed its cap; counted here, under the same lock, so two requests at
        once cannot both take the last one (``AutoCapReached``).
        """
        applied: list[Event] = []
        async with self.sessions() as s, s.begin():
            if s.get_bind().dialect.name == "postgresql":
                await s.execute(text(f"SELECT pg_advisory_xact_lock({APPROVAL_LOCK})"))
            locked = await s.execute(
                update(CaptureRequestRow)
                .where(
                    CaptureRequestRow.id == request_id,
                    CaptureRequestRow.state == RequestState.PENDING_APPROVAL.value,
                    CaptureRequestRow.expires_at > now,
                )
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if locked.rowcount != 1:  # type: ignore[attr-defined]
                current = await s.scalar(
                    select(CaptureRequestRow.state).where(CaptureRequestRow.id == request_id)
                )
                if current is None:
                    raise UnknownRequest()
                raise LostRace(RequestState(current), Event.APPROVED)
            if cap is not None:
                used = await s.scalar(
                    select(func.count())
                    .select_from(ApprovalRow)
                    .where(ApprovalRow.approver_id == approver, ApprovalRow.approved_at >= cap[1])
                )
                if int(used or 0) >= cap[0]:
                    raise AutoCapReached(cap=cap[0])
            if await s.get(ApprovalRow, (request_id, approver)) is not None:
                have = await _count_approvals(s, request_id)
                raise AlreadyApproved(have=have, need=quorum)
            s.add(ApprovalRow(request_id=request_id, approver_id=approver, approved_at=now))
            await s.flush()
            have = await _count_approvals(s, request_id)
            decisive = Event.APPROVED_FOR_OWNER if owner_until else Event.APPROVED
            event = decisive if have >= quorum else Event.APPROVAL_RECORDED
            effects = await self._apply_in(
                s,
                request_id,
                event,
                actor=approver,
                now=now,
                facts={**facts, "approvals": have, "quorum": quorum},
                tag=approver if event is Event.APPROVAL_RECORDED else None,
                quota_remaining=quota_remaining if event is decisive else None,
                values={"expires_at": owner_until} if event is Event.APPROVED_FOR_OWNER else None,
                quota_read_at=quota_read_at,
                applied=applied,
            )
        request = await self.get(request_id)
        assert request is not None
        self._tell(applied, request.command_type, by_policy=bool(facts.get("auto")))
        return Outcome(request, tuple(effects))

    async def _apply_in(
        self,
        s: AsyncSession,
        request_id: str,
        event: Event,
        *,
        actor: str,
        now: datetime,
        facts: dict[str, Any],
        tag: str | None = None,
        fence: int | None = None,
        quota_remaining: int | None = None,
        quota_read_at: datetime | None = None,
        values: dict[str, Any] | None = None,
        commands: Sequence[CommandRecord] = (),
        command: CommandChange | None = None,
        applied: list[Event] | None = None,
    ) -> list[Effect]:
        reserving = event in (Event.APPROVED, Event.APPROVED_FOR_OWNER)
        if reserving and s.get_bind().dialect.name == "postgresql":
            # Re-entrant within a transaction, so ``approve`` holding it already is fine.
            await s.execute(text(f"SELECT pg_advisory_xact_lock({APPROVAL_LOCK})"))
        raw = await s.scalar(
            select(CaptureRequestRow.state).where(CaptureRequestRow.id == request_id)
        )
        if raw is None:
            raise UnknownRequest()
        before = RequestState(raw)
        step = lifecycle.step(before, event)
        guard = [CaptureRequestRow.id == request_id, CaptureRequestRow.state == before.value]
        if step.decision or event is Event.OWNER_OK:
            guard.append(CaptureRequestRow.expires_at > now)
        if step.fenced:
            guard.append(CaptureRequestRow.dispatch_attempts == fence)
        changes = {"state": step.to.value, "updated_at": now, **(values or {})}
        if event is Event.DISPATCH_STARTED:
            changes.update(
                dispatch_started_at=now, dispatch_attempts=CaptureRequestRow.dispatch_attempts + 1
            )
        res = await s.execute(
            update(CaptureRequestRow)
            .where(*guard)
            .values(**changes)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            current = await s.scalar(
                select(CaptureRequestRow.state).where(CaptureRequestRow.id == request_id)
            )
            raise LostRace(RequestState(current) if current else None, event)
        if command is not None and not await _change_command(s, command, now):
            raise LostRace(before, event)
        row = await s.get(CaptureRequestRow, request_id, populate_existing=True)
        assert row is not None
        await _move_quota(s, step.quota, row, now, quota_remaining, quota_read_at)
        if step.decision:
            _decide(s, row, event, actor, now, facts)
        if event is Event.DISPATCHED:
            _record_commands(s, row, commands, now)
        if lifecycle.is_final(step.to):
            await s.execute(
                update(RequestDeviceRow)
                .where(RequestDeviceRow.request_id == request_id)
                .values(active=False)
            )
        effects = step.effects_for(request_id, event, tag=tag, **facts)
        enqueue_effects(s, effects, now)
        await homes_touched(s, row.requester_id, before, step.to, event, now)
        audit(
            s,
            at=now,
            actor=actor,
            action=event.value,
            request_id=request_id,
            before=before.value,
            after=step.to.value,
            **_audit_detail(facts, command, commands),
        )
        if applied is not None:
            applied.append(event)
        if command is not None and command.to in FINAL_COMMAND and await _all_final(s, request_id):
            owner = (row.policy or {}).get("owner")
            effects += await self._apply_in(
                s,
                request_id,
                Event.COMPLETED,
                actor=actor,
                now=now,
                facts={"tell_owner": owner == "notify"},
                applied=applied,
            )
        return effects


async def _count_approvals(s: AsyncSession, request_id: str) -> int:
    return int(
        await s.scalar(
            select(func.count())
            .select_from(ApprovalRow)
            .where(ApprovalRow.request_id == request_id)
        )
        or 0
    )


def _insert(s: AsyncSession, request_id: str, new: NewRequest, now: datetime) -> None:
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
            clamped=list(new.clamped) or None,
            policy=dict(new.policy),
        )
    )
    for d in new.devices:
        s.add(
            RequestDeviceRow(
                request_id=request_id,
                device_id=d.device_id,
                command_type=new.command_type,
                active=True,
            )
        )


async def _change_command(s: AsyncSession, change: CommandChange, now: datetime) -> bool:
    guard = [
        DexCommandRow.command_id == change.command_id,
        DexCommandRow.status == change.from_status,
    ]
    if change.to is None:  # a stuck flag, once per status
        guard.append(DexCommandRow.stale_flagged.is_(False))
        values: dict[str, Any] = {"stale_flagged": True}
    else:
        values = {
            "status": change.to,
            "status_changed_at": now,
            "completed_date": change.completed_date,
            "filename": change.filename,
            "stale_flagged": False,  # a new status gets its own stuck-check
        }
    if change.created_date is not None:
        values["created_date"] = func.coalesce(DexCommandRow.created_date, change.created_date)
    res = await s.execute(
        update(DexCommandRow)
        .where(*guard)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]


async def _all_final(s: AsyncSession, request_id: str) -> bool:
    open_left = await s.scalar(
        select(func.count()).where(
            DexCommandRow.request_id == request_id, DexCommandRow.status.not_in(FINAL_COMMAND)
        )
    )
    return not open_left


#: Replicas' clocks differ a little; count consumptions this much before the read too.
QUOTA_READ_SKEW = timedelta(seconds=5)


async def count_consumed_since(s: AsyncSession, since: datetime) -> int:
    """Units turned from held into used since ``since``."""
    value = await s.scalar(
        select(func.coalesce(func.sum(QuotaReservationRow.units), 0)).where(
            QuotaReservationRow.state == "consumed", QuotaReservationRow.updated_at >= since
        )
    )
    return int(value or 0)


async def _move_quota(
    s: AsyncSession,
    move: str | None,
    row: CaptureRequestRow,
    now: datetime,
    quota_remaining: int | None,
    quota_read_at: datetime | None = None,
) -> None:
    if move == "reserve":
        units = len(row.devices)
        if quota_remaining is not None:
            held = await count_held(s)
            if quota_read_at is not None:
                # A dispatch that finished after the quota was read turned a reservation into
                # usage Cloudflare's figure may not show yet: still count it (conservative).
                held += await count_consumed_since(s, quota_read_at - QUOTA_READ_SKEW)
            if quota_remaining - held - units < 0:
                raise QuotaShort(held=held, units=units, at="approval")  # rolls back
        s.add(
            QuotaReservationRow(
                request_id=row.id, units=units, state="held", created_at=now, updated_at=now
            )
        )
    elif move in ("consume", "release"):
        await s.execute(
            update(QuotaReservationRow)
            .where(QuotaReservationRow.request_id == row.id, QuotaReservationRow.state == "held")
            .values(state="consumed" if move == "consume" else "released", updated_at=now)
        )


def _decide(
    s: AsyncSession,
    row: CaptureRequestRow,
    event: Event,
    actor: str,
    now: datetime,
    facts: dict[str, Any],
) -> None:
    s.add(
        DecisionRow(
            request_id=row.id,
            decision="denied" if event is Event.DENIED else "approved",
            decider_id=actor,
            note=facts.get("note"),
            break_glass=bool(facts.get("break_glass")),
            decided_at=now,
        )
    )


def _record_commands(
    s: AsyncSession, row: CaptureRequestRow, commands: Sequence[CommandRecord], now: datetime
) -> None:
    regs = {d["device_id"]: d.get("registration_id") for d in row.devices}
    for c in commands:
        s.add(
            DexCommandRow(
                command_id=c.command_id,
                request_id=row.id,
                device_id=c.device_id,
                registration_id=regs.get(c.device_id),
                user_email=row.target_email,
                command_type=row.command_type,
                status=c.status,
                created_date=c.created_date,
                completed_date=c.completed_date,
                filename=c.filename,
                status_changed_at=now,
                stale_flagged=False,
            )
        )


def _audit_detail(
    facts: dict[str, Any], command: CommandChange | None, commands: Sequence[CommandRecord]
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        k: v for k, v in facts.items() if isinstance(v, str | int | float | bool | None)
    }
    if command is not None:
        detail.update(
            command_id=command.command_id, status_from=command.from_status, status_to=command.to
        )
    if commands:
        detail["command_ids"] = [c.command_id for c in commands]
    return detail
