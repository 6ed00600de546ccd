"""Dispatched commands as the poller sees them: the in-flight rows. Their status changes are
lifecycle events, written through ``RequestStore.apply`` like every other change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
    """Reads on ``dex_commands``."""

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

    async def set_created_dates(self, dates: dict[str, datetime]) -> None:
        """Record Cloudflare's creation time of commands that have none yet (first sight).

        Not a lifecycle change: like where a message landed, it records a fact we lacked.
        """
        async with self.sessions() as s, s.begin():
            for command_id, created in dates.items():
                await s.execute(
                    update(DexCommandRow)
                    .where(DexCommandRow.command_id == command_id)
                    .where(DexCommandRow.created_date.is_(None))
                    .values(created_date=created)
                )

    async def device_names(self, request_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Each request's device names by device id, in one query (the poller's notes name
        the device)."""
        if not request_ids:
            return {}
        async with self.sessions() as s:
            rows = await s.execute(
                select(CaptureRequestRow.id, CaptureRequestRow.devices).where(
                    CaptureRequestRow.id.in_(sorted(set(request_ids)))
                )
            )
            return {
                rid: {str(d["device_id"]): str(d.get("name") or d["device_id"]) for d in devices}
                for rid, devices in rows.all()
            }
