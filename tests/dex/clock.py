"""A hand-driven clock shared by the limiter and the retry policy in tests."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that move only when someone sleeps or calls ``advance``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
