"""One step of a request's audit trail, as ``/dex audit`` and the export show it. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditStep:
    """One line of a request's audit trail."""

    at: datetime
    request_id: str | None
    actor: str
    action: str
    before: str | None
    after: str | None
    rule: str | None
    forecast_after: int | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """A flat, JSON-safe dict (the export's line)."""
        return {
            "at": self.at.isoformat(),
            "request_id": self.request_id,
            "actor": self.actor,
            "action": self.action,
            "before": self.before,
            "after": self.after,
            "rule": self.rule,
            "forecast_after": self.forecast_after,
            "detail": self.detail,
        }
