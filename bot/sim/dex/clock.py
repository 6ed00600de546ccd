"""The simulator's clock: wall-clock time, sped up, slowed down, frozen or pushed forward.

Everything time-based in the simulator (command progress, the 10-minute capture timeout, the
quota reset, the rate-limit window and the 5-minute block) reads this clock, so a test can
jump over minutes in an instant with ``advance()`` instead of sleeping.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """Simulated time: starts at the real wall-clock time and runs at ``speed``.

    ``speed`` is simulated seconds per real second: 1 is real time, 60 turns a minute into a
    second, 0 freezes the clock (only ``advance()`` moves it).
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._base_sim = start or datetime.now(UTC)
        self._base_real = time.monotonic()
        self._speed = speed

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Change the rate from now on, without moving the current simulated time."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._rebase()
        self._speed = speed

    def now(self) -> datetime:
        """The current simulated time (timezone-aware, UTC)."""
        elapsed = (time.monotonic() - self._base_real) * self._speed
        return self._base_sim + timedelta(seconds=elapsed)

    def timestamp(self) -> float:
        """The current simulated time as POSIX seconds."""
        return self.now().timestamp()

    def advance(self, seconds: float) -> datetime:
        """Jump ``seconds`` into the future (never backwards); return the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._rebase()
        self._base_sim += timedelta(seconds=seconds)
        return self._base_sim

    def _rebase(self) -> None:
        now = self.now()
        self._base_real = time.monotonic()
        self._base_sim = now


def isoformat(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a ``Z``, the way Cloudflare writes times."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def next_midnight(moment: datetime) -> datetime:
    """The next 00:00 UTC strictly after ``moment``."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1)
