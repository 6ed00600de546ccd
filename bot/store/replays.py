"""Replay protection for signed Slack requests, shared by every replica through the database.

Slack signs ``v0:<timestamp>:<body>``, and Bolt accepts a signature for five minutes. Within
that window a captured request can be sent again byte for byte; Slack itself never resends a
slash command. The first sight of a signature is recorded (its primary key decides between
replicas racing on the same copy); a second sight is a replay.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store.tables import SeenSignatureRow

#: Bolt refuses a timestamp older than 5 minutes; keep a little longer for clock skew.
REPLAY_WINDOW = timedelta(minutes=6)


class Replays:
    """First-sight records of request signatures."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def first_sight(self, signature: str, slack_timestamp: int, now: datetime) -> bool:
        """Record ``signature``; False when it was already seen within the window."""
        try:
            async with self.sessions() as s, s.begin():
                await s.execute(
                    delete(SeenSignatureRow).where(SeenSignatureRow.seen_at < now - REPLAY_WINDOW)
                )
                s.add(
                    SeenSignatureRow(
                        signature=signature[:100], slack_timestamp=slack_timestamp, seen_at=now
                    )
                )
        except IntegrityError:
            return False
        return True
