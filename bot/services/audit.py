"""The audit log, read: one request's steps for ``/dex audit`` (approvers only), and the export
``dexbot audit --since 7d --format jsonl|csv`` for a SIEM. Each row names the rule the request
was matched to and, at a decision, the quota forecast left after it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from bot.domain.audit import AuditStep
from bot.domain.errors import UnknownRequest
from bot.services.context import Context
from bot.store.tables import AuditRow

FIELDS = ("at", "request_id", "actor", "action", "before", "after", "rule", "forecast_after")


def _step(row: AuditRow, policy: dict[str, Any]) -> AuditStep:
    detail = dict(row.detail or {})
    forecast = detail.get("forecast_after")
    return AuditStep(
        at=row.at,
        request_id=row.request_id,
        actor=row.actor,
        action=row.action,
        before=row.before_state,
        after=row.after_state,
        rule=str(detail.get("rule") or policy.get("rule") or "") or None,
        forecast_after=forecast if isinstance(forecast, int) else None,
        detail=detail,
    )


async def request_trail(ctx: Context, user_id: str, ref: str) -> list[AuditStep]:
    """The steps of the request ``ref`` (its id or short id), if ``user_id`` is an approver.

    Raises ``NotApprover`` or ``UnknownRequest``."""
    await ctx.access.check_approve(ctx.directory, user_id, "")
    found = await ctx.requests.find_by_prefix(ref.strip().lower())
    if len(found) != 1:
        raise UnknownRequest()
    req = await ctx.requests.get(found[0])
    assert req is not None
    return [_step(row, req.policy) for row in await ctx.requests.audit_trail(found[0])]


async def export_since(ctx_requests: Any, since: datetime) -> list[AuditStep]:
    """Every audit step since ``since``, oldest first (``ctx_requests``: a RequestStore)."""
    return [_step(row, policy) for row, policy in await ctx_requests.audit_since(since)]


def write(steps: Iterable[AuditStep], fmt: str, out: IO[str]) -> int:
    """Write ``steps`` as JSON lines or CSV (``detail`` as a JSON column); returns the count."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow([*FIELDS, "detail"])
        for step in steps:
            line = step.to_json()
            writer.writerow([*(_cell(line[f]) for f in FIELDS), json.dumps(step.detail)])
            count += 1
        return count
    for step in steps:
        out.write(json.dumps(step.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet; keep it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
