"""Slash commands written down before the ack (``slash_intents``), so a process killed between
the ack and the request row never loses one silently.

``open`` before the ack, ``close`` once the command was answered. ``left_behind`` finds the
ones a dead process left; ``take`` claims one for telling its requester (at most once), unless
the same person's request was stored after it, which means it was carried out after all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store.tables import CaptureRequestRow, SlashIntentRow

OPEN, TELLING = "open", "telling"


@dataclass(frozen=True)
class Intent:
    """A slash command that was acknowledged but may never have been answered."""

    id: str
    team_id: str
    channel_id: str
    user_id: str
    text: str
    created_at: datetime


class Intents:
    """The ``slash_intents`` table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def open(
        self, *, team_id: str, channel_id: str, user_id: str, text: str, now: datetime
    ) -> str:
        """Write the command down (before the ack); its id."""
        intent_id = uuid.uuid4().hex
        async with self.sessions() as s, s.begin():
            s.add(
                SlashIntentRow(
                    id=intent_id,
                    team_id=team_id[:32],
                    channel_id=channel_id[:32],
                    user_id=user_id[:32],
                    text=text[:4000],
                    state=OPEN,
                    created_at=now,
                )
            )
        return intent_id

    async def close(self, intent_id: str) -> None:
        """The command was answered (whatever the answer): forget it."""
        async with self.sessions() as s, s.begin():
            await s.execute(delete(SlashIntentRow).where(SlashIntentRow.id == intent_id))

    async def left_behind(self, before: datetime) -> list[Intent]:
        """Open intents older than ``before``: their process died before answering."""
        async with self.sessions() as s:
            rows = await s.scalars(
                select(SlashIntentRow)
                .where(SlashIntentRow.state == OPEN, SlashIntentRow.created_at < before)
                .order_by(SlashIntentRow.created_at)
                .limit(100)
            )
            return [
                Intent(r.id, r.team_id, r.channel_id, r.user_id, r.text, r.created_at) for r in rows
            ]

    async def take(self, intent: Intent) -> bool:
        """Claim ``intent`` for telling its requester; False when another worker has it, or
        when a request of the same person was stored after it (then it is simply closed)."""
        async with self.sessions() as s, s.begin():
            stored = await s.scalar(
                select(CaptureRequestRow.id)
                .where(
                    CaptureRequestRow.requester_id == intent.user_id,
                    CaptureRequestRow.created_at >= intent.created_at,
                )
                .limit(1)
            )
            if stored is not None:
                await s.execute(delete(SlashIntentRow).where(SlashIntentRow.id == intent.id))
                return False
            res = await s.execute(
                update(SlashIntentRow)
                .where(SlashIntentRow.id == intent.id, SlashIntentRow.state == OPEN)
                .values(state=TELLING)
                .execution_options(synchronize_session=False)
            )
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]
