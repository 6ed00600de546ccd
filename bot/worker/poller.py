"""The status poller: one pass over Cloudflare's command list per cycle, never a request per
command. A cycle lists the window from the oldest in-flight command's creation to the newest
(``per_page`` 50, newest first) and stops once every in-flight id was seen, so it costs
ceil(in-flight / 50) pages plus what others created in the window, capped at that + 2. When
the commands still unseen are all older than the page just read (others created many commands
in between), the window's end moves down to them instead of paging through the gap.

Each observed change is recorded with a guarded UPDATE together with its outbox rows (thread
reply, parent and card edits, artifact upload), so a change is posted once however many
workers saw it. A failure recording one command is logged and the others go on.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.dex.models import Command
from bot.domain.lifecycle import Event, IllegalTransition
from bot.domain.model import TargetDevice
from bot.services.context import Context
from bot.store.commands import CommandStore, InFlight
from bot.store.transitions import CommandChange

log = logging.getLogger("dexbot.poller")

PER_PAGE = 50
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
        changes = 0
        for command_id, row in seen.items():
            if row.status and row.status != wanted[command_id].status:
                try:
                    changes += await self._record(wanted[command_id], row)
                except Exception:  # one command's trouble must not hide the others' news
                    log.exception("recording %s -> %s failed", command_id, row.status)
        flagged = 0
        now = self.ctx.clock()
        for cmd in in_flight:
            limit = STUCK_AFTER.get(cmd.status)
            if command_id_changed(cmd, seen) or limit is None or cmd.stale_flagged:
                continue
            if now - cmd.status_changed_at > limit:
                try:
                    flagged += await self._flag(cmd, now)
                except Exception:
                    log.exception("flagging %s as stuck failed", cmd.command_id)
        return CycleReport(len(in_flight), pages, changes, flagged)

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

    async def _device_name(self, cmd: InFlight) -> str:
        req = await self.ctx.requests.get(cmd.request_id)
        devices: tuple[TargetDevice, ...] = req.devices if req else ()
        return next((d.name for d in devices if d.device_id == cmd.device_id), cmd.device_id)

    async def _record(self, cmd: InFlight, row: Command) -> int:
        new = row.status or ""
        facts = {
            "device": await self._device_name(cmd),
            "command_id": cmd.command_id,
            "status": new,
            "command_type": cmd.command_type,
            "filename": row.filename if new == "SUCCESS" else None,
        }
        return await self._apply(
            cmd,
            Event.COMMAND_STATUS,
            CommandChange(cmd.command_id, cmd.status, new, row.completed_date, row.filename),
            facts,
        )

    async def _flag(self, cmd: InFlight, now: datetime) -> int:
        facts = {
            "device": await self._device_name(cmd),
            "command_id": cmd.command_id,
            "status": cmd.status,
            "minutes": int((now - cmd.status_changed_at).total_seconds() // 60),
        }
        return await self._apply(
            cmd, Event.COMMAND_STUCK, CommandChange(cmd.command_id, cmd.status, None), facts
        )

    async def _apply(
        self, cmd: InFlight, event: Event, change: CommandChange, facts: dict[str, Any]
    ) -> int:
        try:
            await self.ctx.requests.apply(
                cmd.request_id,
                event,
                actor="dexbot",
                now=self.ctx.clock(),
                facts=facts,
                tag=f"{cmd.command_id}:{change.to or cmd.status}",
                command=change,
            )
        except IllegalTransition:  # another replica recorded it first
            return 0
        return 1


def command_id_changed(cmd: InFlight, seen: dict[str, Command]) -> bool:
    """Whether this cycle saw the command move on (then it is not stuck)."""
    row = seen.get(cmd.command_id)
    return row is not None and row.status != cmd.status
