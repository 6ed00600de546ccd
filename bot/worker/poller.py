"""The status poller: one pass over Cloudflare's command list per cycle, never a request per
command. A cycle lists the window from the oldest in-flight command's creation to the newest
(``per_page`` 50, newest first) and stops once every in-flight id was seen, so it costs
ceil(in-flight / 50) pages plus what others created in the window, capped at that + 2. When
the commands still unseen are all older than the page just read (others created many commands
in between), the window's end moves down to them instead of paging through the gap.

Each observed change is recorded with a guarded UPDATE together with its outbox rows (thread
reply, parent and card edits, artifact upload), so a change is posted once however many
workers saw it. A cycle's changes go through ``RequestStore.apply_many``, ``BATCH`` to a
transaction; a failure recording one command is logged and the others go on.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.dex.models import Command
from bot.domain.lifecycle import Event
from bot.services.context import Context
from bot.store.commands import CommandStore, InFlight
from bot.store.transitions import Change, CommandChange

log = logging.getLogger("dexbot.poller")

PER_PAGE = 50
#: Changes recorded per transaction: one commit for many, short enough not to hold locks long.
BATCH = 500
#: Cloudflare's clock and ours differ a little; widen the window's end by this much.
SKEW = timedelta(minutes=2)
#: A command's stored creation time is when *we* recorded it: a dispatch finished by
#: ``recover`` records it minutes after Cloudflare created it. Look this far back for them.
LOOKBACK = timedelta(minutes=15)
#: A device picks a command up within seconds when online; Cloudflare gives up after 10 min.
#: Flag well before that (the note says so), and flag a slow upload later.
STUCK_AFTER = {"PENDING_EXEC": timedelta(minutes=3), "PENDING_UPLOAD": timedelta(minutes=15)}


@dataclass(frozen=True)
class CycleReport:
    """What one poll cycle did."""

    in_flight: int
    pages: int
    changes: int
    flagged: int


def page_cap(in_flight: int) -> int:
    """The most list pages one cycle may fetch."""
    return math.ceil(in_flight / PER_PAGE) + 2


class Poller:
    """Polls Cloudflare for the store's in-flight commands."""

    def __init__(self, ctx: Context, commands: CommandStore) -> None:
        self.ctx = ctx
        self.commands = commands

    async def cycle(self) -> CycleReport:
        """One pass: list, compare, record changes, flag stuck commands."""
        in_flight = await self.commands.in_flight()
        if not in_flight:
            return CycleReport(0, 0, 0, 0)
        wanted = {c.command_id: c for c in in_flight}
        seen, pages = await self._list(in_flight)
        news = [cid for cid, row in seen.items() if row.status and row.status != wanted[cid].status]
        now = self.ctx.clock()
        late = [c for c in in_flight if _may_be_stuck(c, seen, now)]
        names = await self.commands.device_names(
            [wanted[cid].request_id for cid in news] + [c.request_id for c in late]
        )
        moved = [self._status_change(wanted[cid], seen[cid], names) for cid in news]
        await self._first_sight(in_flight, seen)
        changes = await self._record(moved)
        flagged = await self._record([self._stuck(cmd, now, names) for cmd in late])
        return CycleReport(len(in_flight), pages, changes, flagged)

    async def _record(self, changes: list[Change]) -> int:
        """Record a cycle's changes ``BATCH`` at a time, each batch one transaction."""
        done = 0
        for n in range(0, len(changes), BATCH):
            applied = await self.ctx.requests.apply_many(
                changes[n : n + BATCH], actor="dexbot", now=self.ctx.clock()
            )
            done += sum(applied)
        return done

    async def _first_sight(self, in_flight: list[InFlight], seen: dict[str, Command]) -> None:
        """Keep Cloudflare's creation time of commands recorded without one (a fresh
        dispatch), so the list window follows Cloudflare's clock rather than ours."""
        dates = {
            c.command_id: seen[c.command_id].created_date
            for c in in_flight
            if c.created_date is None
            and c.command_id in seen
            and seen[c.command_id].created_date is not None
            and seen[c.command_id].status == c.status  # a change records it itself
        }
        if dates:
            try:
                await self.commands.set_created_dates(dates)  # type: ignore[arg-type]
            except Exception:  # only the window's precision is at stake; retried next cycle
                log.warning("could not record creation dates", exc_info=True)

    async def _list(self, in_flight: list[InFlight]) -> tuple[dict[str, Command], int]:
        """Page the list (newest first) until every in-flight command was seen, or the cap."""
        created = {c.command_id: c.created_date or c.status_changed_at for c in in_flight}
        start = min(created.values()) - LOOKBACK
        seen: dict[str, Command] = {}
        pages, cap, page = 0, page_cap(len(in_flight)), 1
        end = max(created.values()) + SKEW
        while pages < cap:
            result = await self.ctx.dex.list_commands(
                page=page, per_page=PER_PAGE, from_=start, to=end
            )
            pages += 1
            for row in result.items:
                if row.id in created:
                    seen[row.id] = row
            unseen = [t for cid, t in created.items() if cid not in seen]
            if not unseen or not result.has_more:
                break
            oldest_on_page = min(
                (r.created_date for r in result.items if r.created_date), default=None
            )
            newest_unseen = max(unseen) + SKEW
            if oldest_on_page is not None and newest_unseen < oldest_on_page:
                end, page = newest_unseen, 1  # skip others' commands between here and ours
            else:
                page += 1
        return seen, pages

    @staticmethod
    def _device_name(cmd: InFlight, names: dict[str, dict[str, str]]) -> str:
        return names.get(cmd.request_id, {}).get(cmd.device_id, cmd.device_id)

    def _status_change(
        self, cmd: InFlight, row: Command, names: dict[str, dict[str, str]]
    ) -> Change:
        new = row.status or ""
        facts = {
            "device": self._device_name(cmd, names),
            "command_id": cmd.command_id,
            "status": new,
            "command_type": cmd.command_type,
            "filename": row.filename if new == "SUCCESS" else None,
        }
        change = CommandChange(
            cmd.command_id,
            cmd.status,
            new,
            row.completed_date,
            row.filename,
            created_date=row.created_date,
        )
        return Change(
            cmd.request_id, Event.COMMAND_STATUS, facts, f"{cmd.command_id}:{new}", change
        )

    def _stuck(self, cmd: InFlight, now: datetime, names: dict[str, dict[str, str]]) -> Change:
        facts = {
            "device": self._device_name(cmd, names),
            "command_id": cmd.command_id,
            "status": cmd.status,
            "command_type": cmd.command_type,
            "minutes": int((now - cmd.status_changed_at).total_seconds() // 60),
        }
        change = CommandChange(cmd.command_id, cmd.status, None)
        return Change(
            cmd.request_id, Event.COMMAND_STUCK, facts, f"{cmd.command_id}:{cmd.status}", change
        )


def _may_be_stuck(cmd: InFlight, seen: dict[str, Command], now: datetime) -> bool:
    """Whether a command sat in one status past its limit, unflagged, and did not move now."""
    limit = STUCK_AFTER.get(cmd.status)
    if command_id_changed(cmd, seen) or limit is None or cmd.stale_flagged:
        return False
    return now - cmd.status_changed_at > limit


def command_id_changed(cmd: InFlight, seen: dict[str, Command]) -> bool:
    """Whether this cycle saw the command move on (then it is not stuck)."""
    row = seen.get(cmd.command_id)
    return row is not None and row.status != cmd.status
