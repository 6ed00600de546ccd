"""Capture requests as stored: the reads, the audit helper and the row-to-domain mapping.

Every write goes through ``bot.store.transitions`` (one guarded path for every state change)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.model import (
    CaptureRequest,
    CommandRecord,
    RequestState,
    TargetDevice,
)
from bot.store.tables import (
    ApprovalRow,
    AuditRow,
    CaptureRequestRow,
    DecisionRow,
    DexCommandRow,
    QuotaReservationRow,
    RequestDeviceRow,
)

#: Requests in these states block an identical new request for the same device.
ACTIVE_STATES = (
    RequestState.PENDING_APPROVAL,
    RequestState.AWAITING_OWNER,
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
    clamped: tuple[dict[str, Any], ...] = ()
    policy: dict[str, Any] = field(default_factory=dict)


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


class RequestReads:
    """Reading capture requests (writes are in ``bot.store.transitions``)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # -- reading -----------------------------------------------------------------

    async def get(self, request_id: str) -> CaptureRequest | None:
        """The request with its decision and commands, or None."""
        async with self.sessions() as s:
            return await load(s, request_id)

    async def find_active_for_device(
        self, device_ids: Iterable[str], command_type: str
    ) -> CaptureRequest | None:
        """An open or running request of this type on any of these devices, if one exists."""
        async with self.sessions() as s:
            rid = await active_conflict(s, device_ids, command_type)
            return await load(s, rid) if rid else None

    async def held_units(self) -> int:
        """Quota units reserved by approved requests not yet sent."""
        async with self.sessions() as s:
            return await count_held(s)

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
            out = [await load(s, i) for i in ids]
            return [r for r in out if r is not None]

    async def owners_of(self, command_ids: Sequence[str]) -> dict[str, CaptureRequest]:
        """The request behind each of these Cloudflare command ids that is ours."""
        if not command_ids:
            return {}
        async with self.sessions() as s:
            rows = (
                await s.execute(
                    select(DexCommandRow.command_id, DexCommandRow.request_id).where(
                        DexCommandRow.command_id.in_(list(command_ids))
                    )
                )
            ).all()
            out: dict[str, CaptureRequest] = {}
            for command_id, request_id in rows:
                req = await load(s, request_id)
                if req is not None:
                    out[command_id] = req
            return out

    async def recent_unsent(
        self, *, email: str | None = None, device_id: str | None = None, limit: int = 10
    ) -> list[CaptureRequest]:
        """Our latest requests that never reached Cloudflare (denied, expired, cancelled, not
        sent), newest first, for one person's email or one device, or all."""
        unsent = [
            RequestState.DENIED,
            RequestState.EXPIRED,
            RequestState.CANCELLED,
            RequestState.DISPATCH_FAILED,
        ]
        async with self.sessions() as s:
            q = select(CaptureRequestRow.id).where(
                CaptureRequestRow.state.in_([st.value for st in unsent])
            )
            if email:
                q = q.where(CaptureRequestRow.target_email == email)
            if device_id:
                q = q.join(RequestDeviceRow).where(RequestDeviceRow.device_id == device_id)
            ids = (
                await s.scalars(q.order_by(CaptureRequestRow.created_at.desc()).limit(limit))
            ).all()
            found = [await load(s, i) for i in ids]
            return [r for r in found if r is not None]

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

    async def count_approvals_by(self, approver: str, since: datetime) -> int:
        """Approvals ``approver`` (a person, or a rule's actor) gave since ``since``."""
        async with self.sessions() as s:
            found = await s.scalar(
                select(func.count())
                .select_from(ApprovalRow)
                .where(ApprovalRow.approver_id == approver, ApprovalRow.approved_at >= since)
            )
        return int(found or 0)

    async def find_by_prefix(self, prefix: str) -> list[str]:
        """Ids of requests starting with ``prefix`` (a short id people say); at most two."""
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            return []
        async with self.sessions() as s:
            rows = await s.scalars(
                select(CaptureRequestRow.id).where(CaptureRequestRow.id.startswith(prefix)).limit(2)
            )
            return list(rows.all())

    async def audit_since(self, since: datetime) -> list[tuple[AuditRow, dict[str, Any]]]:
        """Audit rows since ``since``, oldest first, each with its request's policy facts."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(AuditRow, CaptureRequestRow.policy)
                .outerjoin(CaptureRequestRow, CaptureRequestRow.id == AuditRow.request_id)
                .where(AuditRow.at >= since)
                .order_by(AuditRow.id)
            )
            return [(row, dict(policy or {})) for row, policy in rows.all()]

    async def audit_trail(self, request_id: str) -> list[AuditRow]:
        """The audit log of one request, oldest first."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(AuditRow).where(AuditRow.request_id == request_id).order_by(AuditRow.id)
            )
            return list(rows.all())


async def active_conflict(
    s: AsyncSession, device_ids: Iterable[str], command_type: str
) -> str | None:
    """The id of an active request of this type on any of these devices, if there is one."""
    return await s.scalar(
        select(RequestDeviceRow.request_id)
        .where(
            RequestDeviceRow.device_id.in_(list(device_ids)),
            RequestDeviceRow.command_type == command_type,
            RequestDeviceRow.active.is_(True),
        )
        .limit(1)
    )


async def count_held(s: AsyncSession) -> int:
    value = await s.scalar(
        select(func.coalesce(func.sum(QuotaReservationRow.units), 0)).where(
            QuotaReservationRow.state == "held"
        )
    )
    return int(value or 0)


async def load(s: AsyncSession, request_id: str) -> CaptureRequest | None:
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
    approvals = (
        await s.scalars(
            select(ApprovalRow.approver_id)
            .where(ApprovalRow.request_id == request_id)
            .order_by(ApprovalRow.approved_at, ApprovalRow.approver_id)
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
        clamped=tuple(row.clamped or ()),
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
        approvals=tuple(approvals),
        policy=dict(row.policy or {}),
    )
