"""Set-wise steps for ``RequestStore.apply_many``: a poll cycle's command changes, hundreds to a
statement, under the same rules as ``RequestStore.apply`` (``bot.store.transitions``).

The same guards, checked per row: a command moves only from the status the poller saw
(``UPDATE … WHERE (command_id, status) IN … RETURNING``: a change another replica recorded
first is simply not returned, so it is skipped), a request moves only from the state its step
was computed from (every request must answer, or the batch raises ``LostRace`` and rolls
back). The steps, effects and audit rows come from ``bot.domain.lifecycle`` exactly as for
one change, the outbox rows through ``enqueue_effects``; a request whose last command became
final completes in the same transaction.

Only the events that touch no quota, decision or dispatch fence go this way (``SET_EVENTS``);
``apply_many`` sends any other event through ``apply``'s own logic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, insert, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import lifecycle
from bot.domain.errors import UnknownRequest
from bot.domain.lifecycle import Effect, Event, IllegalTransition
from bot.domain.model import RequestState
from bot.store.home import homes_touched
from bot.store.outbox import enqueue_many
from bot.store.tables import AuditRow, CaptureRequestRow, DexCommandRow, RequestDeviceRow

FINAL_COMMAND = ("SUCCESS", "FAILED")
#: The events whose step is a state move, effects and an audit row only (no quota, decision,
#: fence or command rows): a poll cycle's news.
SET_EVENTS = frozenset({Event.COMMAND_STATUS, Event.COMMAND_STUCK, Event.COMPLETED})


class LostRace(IllegalTransition):
    """The guard did not match: someone else changed the request (or the command) first."""


@dataclass(frozen=True)
class CommandChange:
    """A command's status as the poller saw it move (``to`` None: flagged as stuck)."""

    command_id: str
    from_status: str
    to: str | None
    completed_date: datetime | None = None
    filename: str | None = None
    created_date: datetime | None = None  # Cloudflare's, kept if we had none (first sight)


@dataclass(frozen=True)
class Change:
    """One event of a batch for ``RequestStore.apply_many`` (the poller's status changes)."""

    request_id: str
    event: Event
    facts: dict[str, Any]
    tag: str | None = None
    command: CommandChange | None = None


async def apply_set(
    s: AsyncSession, changes: Sequence[Change], *, actor: str, now: datetime
) -> list[tuple[Change, str]]:
    """Apply ``changes`` (all in ``SET_EVENTS``) in the caller's transaction; returns the
    changes that won their guard (with the request's command type), completions included."""
    rids = sorted({c.request_id for c in changes})
    rows = await s.execute(
        select(
            CaptureRequestRow.id,
            CaptureRequestRow.state,
            CaptureRequestRow.command_type,
            CaptureRequestRow.requester_id,
        ).where(CaptureRequestRow.id.in_(rids))
    )
    states, kinds, requesters = {}, {}, {}
    for rid, state, kind, requester in rows.all():
        states[rid], kinds[rid], requesters[rid] = state, kind, requester
    if len(states) != len(rids):
        raise UnknownRequest()
    steps = [lifecycle.step(RequestState(states[c.request_id]), c.event) for c in changes]
    won = await _move_commands(s, [c.command for c in changes if c.command], now)
    winners = [
        (c, st)
        for c, st in zip(changes, steps, strict=True)
        if c.command is None or c.command.command_id in won
    ]
    await _move_requests(s, winners, states, now)
    done: list[tuple[Change, str]] = []
    effects: list[Effect] = []
    trail: list[dict[str, Any]] = []
    for c, st in winners:
        effects += st.effects_for(c.request_id, c.event, tag=c.tag, **c.facts)
        trail.append(
            {
                "at": now,
                "actor": actor,
                "action": c.event.value,
                "request_id": c.request_id,
                "before_state": states[c.request_id],
                "after_state": st.to.value,
                "detail": _detail(c),
            }
        )
        done.append((c, kinds[c.request_id]))
    await enqueue_many(s, effects, now)
    for c, st in winners:  # a request that changed state refreshes the Homes showing it
        before = RequestState(states[c.request_id])
        await homes_touched(s, requesters[c.request_id], before, st.to, c.event, now)
    if trail:
        await s.execute(insert(AuditRow), trail)  # the audit helper's row, many at once
    finished = sorted({c.request_id for c, st in winners if lifecycle.is_final(st.to)})
    if finished:
        await s.execute(
            update(RequestDeviceRow)
            .where(RequestDeviceRow.request_id.in_(finished))
            .values(active=False)
        )
    ended = [
        c.request_id for c, _ in winners if c.command is not None and c.command.to in FINAL_COMMAND
    ]
    complete = await _all_final(s, sorted(set(ended)))
    if complete:
        # The device owner is told it is done when the request's rule says notify.
        notify = set(
            (
                await s.scalars(
                    select(CaptureRequestRow.id).where(
                        CaptureRequestRow.id.in_(complete),
                        CaptureRequestRow.policy["owner"].as_string() == "notify",
                    )
                )
            ).all()
        )
        finals = [Change(rid, Event.COMPLETED, {"tell_owner": rid in notify}) for rid in complete]
        done += await apply_set(s, finals, actor=actor, now=now)
    return done


async def _move_commands(s: AsyncSession, changes: list[CommandChange], now: datetime) -> set[str]:
    """The guarded command UPDATEs, one statement per kind; the ids that moved."""
    won: set[str] = set()
    moves = [c for c in changes if c.to is not None]
    flags = [c for c in changes if c.to is None]
    col = DexCommandRow
    if moves:
        guard = tuple_(col.command_id, col.status).in_(
            [(c.command_id, c.from_status) for c in moves]
        )
        values: dict[str, Any] = {
            "status": _per_row(moves, "to", col.status),
            "completed_date": _per_row(moves, "completed_date", col.completed_date),
            "filename": _per_row(moves, "filename", col.filename),
            "status_changed_at": now,
            "stale_flagged": False,  # a new status gets its own stuck-check
        }
        dated = [c for c in moves if c.created_date is not None]
        if dated:
            values["created_date"] = func.coalesce(
                col.created_date, _per_row(dated, "created_date", col.created_date)
            )
        res = await s.execute(
            update(col)
            .where(guard)
            .values(**values)
            .returning(col.command_id)
            .execution_options(synchronize_session=False)
        )
        won |= set(res.scalars().all())
    if flags:
        guard = tuple_(col.command_id, col.status).in_(
            [(c.command_id, c.from_status) for c in flags]
        )
        res = await s.execute(
            update(col)
            .where(guard, col.stale_flagged.is_(False))
            .values(stale_flagged=True)
            .returning(col.command_id)
            .execution_options(synchronize_session=False)
        )
        won |= set(res.scalars().all())
    return won


def _per_row(changes: list[CommandChange], field: str, column: Any) -> ColumnElement[Any]:
    """``CASE command_id WHEN … THEN …``: each row its own value, bound with the column's type
    (one value when every row has the same, as when a whole fleet moves on together)."""
    distinct = {getattr(c, field) for c in changes}
    if len(distinct) == 1:
        return literal(distinct.pop(), column.type)
    whens = [
        (DexCommandRow.command_id == c.command_id, literal(getattr(c, field), column.type))
        for c in changes
    ]
    return case(*whens, else_=column)


async def _move_requests(
    s: AsyncSession,
    winners: list[tuple[Change, lifecycle.Step]],
    states: dict[str, str],
    now: datetime,
) -> None:
    """The guarded request UPDATEs, grouped by (from, to); every request must answer."""
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for c, st in winners:
        groups[(states[c.request_id], st.to.value)].add(c.request_id)
    for (before, to), ids in groups.items():
        res = await s.execute(
            update(CaptureRequestRow)
            .where(CaptureRequestRow.id.in_(sorted(ids)), CaptureRequestRow.state == before)
            .values(state=to, updated_at=now)
            .returning(CaptureRequestRow.id)
            .execution_options(synchronize_session=False)
        )
        if len(res.scalars().all()) != len(ids):  # someone moved one of them first
            raise LostRace(RequestState(before), winners[0][0].event)


async def _all_final(s: AsyncSession, request_ids: list[str]) -> list[str]:
    """Of these requests, those with no command left that is not final."""
    if not request_ids:
        return []
    open_ = set(
        (
            await s.scalars(
                select(DexCommandRow.request_id)
                .where(
                    DexCommandRow.request_id.in_(request_ids),
                    DexCommandRow.status.not_in(FINAL_COMMAND),
                )
                .distinct()
            )
        ).all()
    )
    return [r for r in request_ids if r not in open_]


def _detail(c: Change) -> dict[str, Any]:
    detail: dict[str, Any] = {
        k: v for k, v in c.facts.items() if isinstance(v, str | int | float | bool | None)
    }
    if c.command is not None:
        detail.update(
            command_id=c.command.command_id,
            status_from=c.command.from_status,
            status_to=c.command.to,
        )
    return detail
