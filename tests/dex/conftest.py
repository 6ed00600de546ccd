"""Helpers for the DEX client tests: a client wired to the simulator with a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.dex import DexClient, RateLimiter, RetryPolicy
from tests.dex.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """Monotonic time shared by the client's limiter and retry policy."""
    return FakeClock()


@pytest.fixture
async def client(dex_sim: Any, clock: FakeClock) -> AsyncIterator[DexClient]:
    """A DexClient against the simulator whose waits advance ``clock`` instead of sleeping."""
    async with make_client(dex_sim, clock) as c:
        yield c


def make_client(dex_sim: Any, clock: FakeClock, **kw: Any) -> DexClient:
    """A client for ``dex_sim`` with the fake clock; ``kw`` overrides the retry numbers."""
    timeout = kw.pop("timeout", 5.0)
    http = kw.pop("http", None)
    limiter = kw.pop("limiter", None) or RateLimiter(
        1200, 300, max_wait=10, clock=clock, sleep=clock.sleep
    )
    policy = RetryPolicy(
        **{"base_delay": 0.5, "max_delay": 5, "deadline": 60, **kw},
        sleep=clock.sleep,
        clock=clock,
    )
    return DexClient(
        dex_sim.base_url,
        dex_sim.token,
        dex_sim.account_id,
        http=http,
        limiter=limiter,
        retry=policy,
        timeout=timeout,
    )
