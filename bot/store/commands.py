"""Dispatched commands as the poller sees them: in-flight rows, guarded status changes (each
written with its outbox rows in one transaction), stale flags and request completion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.model import RequestState
from bot.store.outbox import enqueue_all
from bot.store.requests import audit
from bot.store.tables import CaptureRequestRow, DexCommandRow

FINAL = ("SUCCESS", "FAILED")


@dataclass(frozen=True)
class InFlight:
    """A command not yet SUCCESS or FAILED, with what the poller needs to judge it."""

    command_id: str
    request_id: str
    device_id: str
    command_type: str
    status: str
    created_date: datetime | None
    status_changed_at: datetime
    stale_flagged: bool


class CommandStore:
    """Reads and guarded writes on ``dex_commands``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def in_flight(self) -> list[InFlight]:
        """Every command whose last seen status is not final, oldest first."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(DexCommandRow)
                .where(DexCommandRow.status.not_in(FINAL))
                .order_by(DexCommandRow.created_date, DexCommandRow.command_id)
            )
            return [
                InFlight(
                    r.command_id,
                    r.request_id,
                    r.device_id,
                    r.command_type,
                    r.status,
                    r.created_date,
                    r.status_changed_at,
                    r.stale_flagged,
                )
                for r in rows.all()
            ]

    async def apply_status(
        self,
        cmd: InFlight,
        new_status: str,
        *,
        now: datetime,
        completed_date: datetime | None,
        filename: str | None,
        outbox: Sequence[tuple[str, str, dict[str, Any]]],
    ) -> bool:
        """Record ``cmd.status -> new_status`` once (guarded), with its outbox rows.

        When every command of the request is final, the request becomes COMPLETED in the same
        transaction. Returns False when someone else recorded this change first.
        """
        async with self.sessions() as s, s.begin():
            res = await s.execute(
                update(DexCommandRow)
                .where(
                    DexCommandRow.command_id == cmd.command_id,
                    DexCommandRow.status == cmd.status,
                )
                .values(
                    status=new_status,
                    status_changed_at=now,
                    completed_date=completed_date,
                    filename=filename,
                    stale_flagged=False,  # a new status gets its own stuck-check
                )
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return False
            audit(
                s,
                at=now,
                actor="dexbot",
                action="command_status",
                request_id=cmd.request_id,
                command_id=cmd.command_id,
                before=None,
                after=None,
                status_from=cmd.status,
                status_to=new_status,
            )
            enqueue_all(s, cmd.request_id, outbox, now)
            open_left = await s.scalar(
                select(func.count()).where(
                    DexCommandRow.request_id == cmd.request_id,
                    DexCommandRow.status.not_in(FINAL),
                )
            )
            if not open_left:
                done = await s.execute(
                    update(CaptureRequestRow)
                    .where(
                        CaptureRequestRow.id == cmd.request_id,
                        CaptureRequestRow.state == RequestState.DISPATCHED.value,
                    )
                    .values(state=RequestState.COMPLETED.value, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    audit(
                        s,
                        at=now,
                        actor="dexbot",
                        action="completed",
                        request_id=cmd.request_id,
                        before=RequestState.DISPATCHED.value,
                        after=RequestState.COMPLETED.value,
                    )
            return True

    async def flag_stale(
        self, cmd: InFlight, *, now: datetime, outbox: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> bool:
        """Mark a command stuck in its status (once), with the thread note about it."""
        async with self.sessions() as s, s.begin():
            res = await s.execute(
                update(DexCommandRow)
                .where(
                    DexCommandRow.command_id == cmd.command_id,
                    DexCommandRow.status == cmd.status,
                    DexCommandRow.stale_flagged.is_(False),
                )
                .values(stale_flagged=True)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return False
            enqueue_all(s, cmd.request_id, outbox, now)
            return True
