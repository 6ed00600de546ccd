"""Quota forecast: what Cloudflare says is left, minus what approved requests already hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Forecast:
    """The quota picture shown on an approval card and checked before approving."""

    quota: int
    used: int
    held: int  # reserved by approved requests that are not sent yet
    awaiting: int  # requests waiting for approval (not reserved)
    units: int  # what this request would spend
    reset_time: datetime

    @property
    def remaining(self) -> int:
        """Left now, after reservations."""
        return max(0, self.quota - self.used - self.held)

    @property
    def after(self) -> int:
        """Left after this request (negative: it does not fit)."""
        return self.quota - self.used - self.held - self.units

    @property
    def fits(self) -> bool:
        """Whether approving this request keeps the forecast at or above zero."""
        return self.after >= 0


def forecast(
    *, quota: int, used: int, held: int, awaiting: int, units: int, reset_time: datetime
) -> Forecast:
    """Build a forecast from Cloudflare's numbers and the store's reservations."""
    return Forecast(quota, used, held, awaiting, units, reset_time)
