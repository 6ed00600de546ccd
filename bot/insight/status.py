"""Before and after: the device's live status when the request was made and when the
command completed, and what changed between them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class StatusSnapshot:
    """The live-status fields shown on the approval card and after completion."""

    status: str | None = None
    mode: str | None = None
    colo: str | None = None
    version: str | None = None
    rtt_ms: float | None = None

    @classmethod
    def from_live(cls, live: Any) -> StatusSnapshot:
        """From a ``bot.dex.models.DeviceLiveStatus`` (read by attribute, so no import)."""
        # rtt.rtt_us.downstream/upstream, in microseconds: the larger direction, in ms.
        rtt_us = getattr(getattr(live, "rtt", None), "rtt_us", None)
        values = [
            v
            for v in (getattr(rtt_us, "downstream", None), getattr(rtt_us, "upstream", None))
            if isinstance(v, int | float)
        ]
        rtt_ms = round(max(values) / 1000, 1) if values else None
        return cls(
            status=getattr(live, "status", None),
            mode=getattr(live, "mode", None),
            colo=getattr(live, "colo", None),
            version=getattr(live, "version", None),
            rtt_ms=rtt_ms,
        )


@dataclass(frozen=True)
class Change:
    """One field that differs (``None`` where a side did not say)."""

    field: str
    before: str | float | None
    after: str | float | None


@dataclass(frozen=True)
class StatusChange:
    """Both snapshots and the fields that changed, in field order."""

    before: StatusSnapshot | None
    after: StatusSnapshot | None
    changes: tuple[Change, ...]


#: An RTT change smaller than this (ms) is noise, not a change.
RTT_NOISE_MS = 5.0


def compare_status(before: StatusSnapshot | None, after: StatusSnapshot | None) -> StatusChange:
    """What changed from ``before`` to ``after``; no changes when either is missing."""
    if before is None or after is None:
        return StatusChange(before, after, ())
    changes = []
    for f in fields(StatusSnapshot):
        old, new = getattr(before, f.name), getattr(after, f.name)
        if old == new:
            continue
        both = old is not None and new is not None
        if f.name == "rtt_ms" and both and abs(new - old) < RTT_NOISE_MS:
            continue
        changes.append(Change(f.name, old, new))
    return StatusChange(before, after, tuple(changes))
