"""The App Home's store: who opened the Home tab, their pending refreshes (outbox rows), and
the Events API deliveries already handled.

A refresh is an outbox row of kind ``refresh_home`` whose ``request_id`` column holds the
user id, keyed ``home:<user>:<n>``. Coalesced: a user has at most one waiting row, however
many requests change meanwhile, since the row renders the Home as it is when it runs. Paced:
a new row is due no sooner than ``HOME_MIN_GAP`` after that user's last publish
(``views.publish`` is Tier 4). A change while a refresh is being sent adds a new row, so the
last change is never lost. Users who never opened the Home get no rows at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.lifecycle import Effect, EffectKind, Event
from bot.domain.model import CaptureRequest, RequestState
from bot.store.outbox import PENDING
from bot.store.requests import load
from bot.store.tables import CaptureRequestRow, HomeViewRow, OutboxRow, SlackEventRow

#: The shortest time between two publishes of one person's Home.
HOME_MIN_GAP = timedelta(seconds=2)
#: How long a handled event id is remembered (Slack retries within minutes).
EVENT_MEMORY = timedelta(hours=6)
REFRESH = EffectKind.REFRESH_HOME.value


def home_key(user_id: str, n: int) -> str:
    """The outbox key of a user's ``n``-th Home refresh."""
    return f"home:{user_id}:{n}"


async def request_refresh(
    s: AsyncSession, user_ids: Iterable[str], cause: Event, now: datetime
) -> None:
    """In the caller's transaction: a refresh for each of these users who opened the Home and
    has none waiting yet. Rows are locked in user order, so concurrent changes cannot
    deadlock on them."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return
    rows = await s.scalars(
        select(HomeViewRow)
        .where(HomeViewRow.user_id.in_(wanted))
        .order_by(HomeViewRow.user_id)
        .with_for_update()
    )
    for view in rows.all():
        waiting = await s.scalar(
            select(OutboxRow.key)
            .where(
                OutboxRow.request_id == view.user_id,
                OutboxRow.kind == REFRESH,
                OutboxRow.state == PENDING,
            )
            .limit(1)
        )
        if waiting is not None:
            continue
        view.refreshes += 1
        due = now if view.published_at is None else max(now, view.published_at + HOME_MIN_GAP)
        effect = Effect(EffectKind.REFRESH_HOME, view.user_id, cause)
        s.add(
            OutboxRow(
                key=home_key(view.user_id, view.refreshes),
                request_id=view.user_id,
                kind=REFRESH,
                payload=effect.payload(),
                state=PENDING,
                attempts=0,
                next_attempt_at=due,
                created_at=now,
                updated_at=now,
            )
        )


async def homes_touched(
    s: AsyncSession,
    requester_id: str,
    before: RequestState | None,
    after: RequestState,
    cause: Event,
    now: datetime,
) -> None:
    """A request moved from ``before`` to ``after``: refresh the Homes that show it. The
    requester's lists its state; approvers' list it while it waits for approval."""
    if before is after:
        return  # a command's progress: the Home shows the request's state only
    users = {requester_id}
    if before is None or before is RequestState.PENDING_APPROVAL:
        approvers = await s.scalars(select(HomeViewRow.user_id).where(HomeViewRow.approver))
        users.update(approvers.all())
    await request_refresh(s, users, cause, now)


class HomeStore:
    """Reads and writes for the App Home."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def first_delivery(self, event_id: str, event_type: str, now: datetime) -> bool:
        """Record an Events API delivery; False if this ``event_id`` was handled before (by
        any replica: the primary key decides)."""
        try:
            async with self.sessions() as s, s.begin():
                s.add(SlackEventRow(event_id=event_id, event_type=event_type, received_at=now))
        except IntegrityError:
            return False
        async with self.sessions() as s, s.begin():  # forget what Slack will never retry
            old = SlackEventRow.received_at < now - EVENT_MEMORY
            await s.execute(delete(SlackEventRow).where(old))
        return True

    async def opened(self, user_id: str, team_id: str, *, approver: bool, now: datetime) -> None:
        """Remember that ``user_id`` opened the Home (and whether they approve)."""
        values = {"team_id": team_id, "approver": approver, "opened_at": now}
        for _ in range(2):  # a concurrent first open may insert between our two statements
            async with self.sessions() as s, s.begin():
                res = await s.execute(
                    update(HomeViewRow).where(HomeViewRow.user_id == user_id).values(**values)
                )
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    return
            try:
                async with self.sessions() as s, s.begin():
                    s.add(HomeViewRow(user_id=user_id, refreshes=0, **values))
                return
            except IntegrityError:
                continue

    async def published(self, user_id: str, now: datetime) -> None:
        """The user's Home was just published (paces the next refresh)."""
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(HomeViewRow).where(HomeViewRow.user_id == user_id).values(published_at=now)
            )

    async def viewer(self, user_id: str) -> HomeViewRow | None:
        """The user's Home record, if they ever opened it."""
        async with self.sessions() as s:
            return await s.get(HomeViewRow, user_id)

    async def requested_by(self, user_id: str, limit: int) -> list[CaptureRequest]:
        """The user's most recent requests, newest first."""
        async with self.sessions() as s:
            ids = await s.scalars(
                select(CaptureRequestRow.id)
                .where(CaptureRequestRow.requester_id == user_id)
                .order_by(CaptureRequestRow.created_at.desc(), CaptureRequestRow.id)
                .limit(limit)
            )
            found = [await load(s, rid) for rid in ids.all()]
            return [r for r in found if r is not None]

    async def awaiting_approval(self, limit: int) -> list[CaptureRequest]:
        """Requests waiting for a decision, oldest first (the next to expire first)."""
        async with self.sessions() as s:
            ids = await s.scalars(
                select(CaptureRequestRow.id)
                .where(CaptureRequestRow.state == RequestState.PENDING_APPROVAL.value)
                .order_by(CaptureRequestRow.expires_at, CaptureRequestRow.id)
                .limit(limit)
            )
            found = [await load(s, rid) for rid in ids.all()]
            return [r for r in found if r is not None]

    async def refresh(self, user_ids: Iterable[str], cause: Event, now: datetime) -> None:
        """Ask for these users' Homes to be refreshed (outside a request's change)."""
        async with self.sessions() as s, s.begin():
            await request_refresh(s, user_ids, cause, now)
