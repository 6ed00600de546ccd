"""The Slack outbox: side effects (thread posts, card edits, uploads) keyed for exactly-once.

A row is inserted in the same transaction as the change that causes it. A deliverer claims due
rows with a guarded UPDATE that takes a lease (renewed while the effect runs), performs the
effect, and marks the row done. A row found ``sending`` with an expired lease was interrupted
mid-flight, and a row that failed before may have reached Slack anyway (a timeout after Slack
acted): either way the deliverer checks Slack before repeating it (see ``bot.worker.deliver``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.lifecycle import Effect, EffectKind
from bot.store.tables import OutboxRow

PENDING, SENDING, DONE, FAILED = "pending", "sending", "done", "failed"


@dataclass(frozen=True)
class OutboxItem:
    """A claimed side effect. ``interrupted`` means an earlier attempt may have reached Slack
    (it was cut off mid-flight, or it failed in a way that does not prove Slack did nothing)."""

    key: str
    effect: Effect
    attempts: int
    interrupted: bool
    result: dict[str, Any] | None
    created_at: datetime | None = None  # when the change that caused it was recorded

    @property
    def request_id(self) -> str:
        """The request whose effect this is."""
        return self.effect.request_id

    @property
    def kind(self) -> EffectKind:
        """Which performer runs it."""
        return self.effect.kind


def enqueue_effects(s: AsyncSession, effects: Sequence[Effect], now: datetime) -> None:
    """Add every effect of one change, in the caller's transaction. A key already present
    aborts that transaction: the same effect can never be enqueued twice.

    Rows are due in the order the lifecycle lists them (a command's status, then its file,
    then the summary, then the request's end): each gets ``now`` plus its place in the
    transaction in microseconds, since every row of one change shares the same ``now``.
    """
    for row in _rows(s, effects, now):
        s.add(OutboxRow(**row))


async def enqueue_many(s: AsyncSession, effects: Sequence[Effect], now: datetime) -> None:
    """``enqueue_effects`` for a batch of changes (``RequestStore.apply_many``): the same rows
    in the same order, written in one multi-row INSERT rather than one object each."""
    rows = _rows(s, effects, now)
    if rows:
        await s.execute(insert(OutboxRow), rows)


def _rows(s: AsyncSession, effects: Sequence[Effect], now: datetime) -> list[dict[str, Any]]:
    placed = int(s.info.get("outbox_placed", 0))
    rows = []
    for offset, e in enumerate(effects, start=placed):
        at = now + timedelta(microseconds=offset)
        rows.append(
            {
                "key": e.key,
                "request_id": e.request_id,
                "kind": e.kind.value,
                "payload": e.payload(),
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": at,
                "updated_at": at,
            }
        )
    s.info["outbox_placed"] = placed + len(effects)
    return rows


class Outbox:
    """Claiming and settling outbox rows."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], owner: str) -> None:
        self.sessions = sessions
        self.owner = owner

    async def due(
        self, now: datetime, limit: int = 50, *, request_id: str | None = None
    ) -> list[str]:
        """Keys that are ready: pending and due, or sending with an expired lease."""
        async with self.sessions() as s:
            q = select(OutboxRow.key).where(
                or_(
                    (OutboxRow.state == PENDING) & (OutboxRow.next_attempt_at <= now),
                    (OutboxRow.state == SENDING) & (OutboxRow.lease_until < now),
                )
            )
            if request_id is not None:
                q = q.where(OutboxRow.request_id == request_id)
            rows = await s.scalars(q.order_by(OutboxRow.created_at, OutboxRow.key).limit(limit))
            return list(rows.all())

    async def claim(self, key: str, now: datetime, lease: timedelta) -> OutboxItem | None:
        """Take the lease on one row; None when someone else holds it or it is settled."""
        async with self.sessions() as s, s.begin():
            row = await s.get(OutboxRow, key, populate_existing=True)
            if row is None:
                return None
            was_sending = row.state == SENDING
            result = await s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.key == key,
                    or_(
                        (OutboxRow.state == PENDING) & (OutboxRow.next_attempt_at <= now),
                        (OutboxRow.state == SENDING) & (OutboxRow.lease_until < now),
                    ),
                )
                .values(
                    state=SENDING,
                    lease_owner=self.owner,
                    lease_until=now + lease,
                    attempts=OutboxRow.attempts + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return OutboxItem(
                key=row.key,
                effect=Effect.from_row(row.kind, row.request_id, row.payload),
                attempts=row.attempts + 1,
                interrupted=was_sending or row.attempts > 0,
                result=dict(row.result) if row.result else None,
                created_at=row.created_at,
            )

    async def renew(self, key: str, now: datetime, lease: timedelta) -> bool:
        """Extend the lease on a row this owner is still performing."""
        async with self.sessions() as s, s.begin():
            res = await s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.key == key,
                    OutboxRow.lease_owner == self.owner,
                    OutboxRow.state == SENDING,
                )
                .values(lease_until=now + lease)
                .execution_options(synchronize_session=False)
            )
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    async def note(self, key: str, result: dict[str, Any]) -> None:
        """Save progress of a multi-step effect (e.g. an upload's file id) while holding it."""
        await self._settle(key, SENDING, result=result, keep_lease=True)

    async def done(self, key: str, now: datetime, result: dict[str, Any] | None = None) -> bool:
        """Mark the effect performed."""
        return await self._settle(key, DONE, now=now, result=result)

    async def retry(self, key: str, now: datetime, at: datetime, error: str) -> bool:
        """Give the row back, due again at ``at``."""
        return await self._settle(key, PENDING, now=now, next_at=at, error=error)

    async def fail(
        self,
        key: str,
        now: datetime,
        error: str,
        *,
        then: Sequence[Effect] = (),
    ) -> bool:
        """Stop trying. ``then`` holds follow-up effects, such as telling the thread,
        enqueued in the same transaction (so exactly once too)."""
        return await self._settle(key, FAILED, now=now, error=error, then=then)

    async def defer(self, key: str, now: datetime, at: datetime) -> bool:
        """Give the row back untried (it waits on another effect): no attempt is used up."""
        return await self._settle(
            key, PENDING, now=now, next_at=at, attempts=OutboxRow.attempts - 1
        )

    async def add_once(self, effect: Effect, now: datetime) -> bool:
        """Enqueue ``effect`` unless its key is already there (then False): a follow-up that
        several rows may ask for, such as telling the requester their thread is unreachable."""
        try:
            async with self.sessions() as s, s.begin():
                enqueue_effects(s, [effect], now)
        except IntegrityError:
            return False
        return True

    async def next_due(self, now: datetime) -> datetime | None:
        """When the next pending row falls due (``now`` or earlier: one is due already);
        None when nothing is pending. Rows being sent are not counted."""
        async with self.sessions() as s:
            at = await s.scalar(
                select(func.min(OutboxRow.next_attempt_at)).where(OutboxRow.state == PENDING)
            )
        return at

    async def superseded(self, item: OutboxItem) -> bool:
        """Whether a later row of the same kind for the same request is still pending (for
        edits, which render the current state: the later one makes this one pointless)."""
        if item.created_at is None:
            return False
        async with self.sessions() as s:
            later = await s.scalar(
                select(OutboxRow.key)
                .where(
                    OutboxRow.request_id == item.request_id,
                    OutboxRow.kind == item.kind.value,
                    OutboxRow.state == PENDING,
                    OutboxRow.created_at > item.created_at,
                )
                .limit(1)
            )
        return later is not None

    async def get(self, key: str) -> OutboxRow | None:
        """The row, for inspection."""
        async with self.sessions() as s:
            return await s.get(OutboxRow, key)

    async def _settle(
        self,
        key: str,
        state: str,
        *,
        now: datetime | None = None,
        result: dict[str, Any] | None = None,
        next_at: datetime | None = None,
        error: str | None = None,
        keep_lease: bool = False,
        then: Sequence[Effect] = (),
        attempts: Any = None,
    ) -> bool:
        values: dict[str, Any] = {"state": state}
        if now is not None:
            values["updated_at"] = now
        if result is not None:
            values["result"] = result
        if next_at is not None:
            values["next_attempt_at"] = next_at
        if error is not None:
            values["error"] = error[:2000]
        if attempts is not None:
            values["attempts"] = attempts
        if not keep_lease:
            values.update(lease_owner=None, lease_until=None)
        async with self.sessions() as s, s.begin():
            res = await s.execute(
                update(OutboxRow)
                .where(OutboxRow.key == key, OutboxRow.lease_owner == self.owner)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return False  # the lease was lost: whoever holds the row now settles it
            enqueue_effects(s, then, now or datetime.now(UTC))
            return True
