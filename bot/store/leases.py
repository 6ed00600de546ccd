"""Named leases in the database: one poller across replicas, one worker on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store.tables import LeaseRow


class Leases:
    """Acquire, renew and release leases with guarded UPDATEs."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], owner: str) -> None:
        self.sessions = sessions
        self.owner = owner

    async def acquire(self, name: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew ``name`` until ``now + ttl``; False when another owner holds it."""
        async with self.sessions() as s, s.begin():
            res = await s.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == name,
                    or_(LeaseRow.owner == self.owner, LeaseRow.until < now),
                )
                .values(owner=self.owner, until=now + ttl)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount == 1:  # type: ignore[attr-defined]
                return True
        try:
            async with self.sessions() as s, s.begin():
                s.add(LeaseRow(name=name, owner=self.owner, until=now + ttl))
            return True
        except IntegrityError:
            return False  # somebody else's, and not expired

    async def release(self, name: str) -> None:
        """Give the lease up (at shutdown), so another worker can take over at once."""
        async with self.sessions() as s, s.begin():
            await s.execute(
                delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.owner == self.owner)
            )
