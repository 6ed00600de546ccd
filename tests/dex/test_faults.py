"""Reads under Cloudflare's failure modes: what is retried, how often, and for how long."""

from __future__ import annotations

from typing import Any

import pytest

from bot.dex import (
    DexClient,
    DexNotFoundError,
    DexRateBudgetExceeded,
    DexRateLimitedError,
    DexServerError,
    DexTransportError,
)
from tests.dex.clock import FakeClock
from tests.dex.conftest import make_client

QUOTA = "/commands/quota"


async def quota_requests(dex_sim: Any) -> list[dict[str, Any]]:
    return await dex_sim.requests(method="GET", path_contains=QUOTA)


async def test_429_waits_exactly_retry_after_then_succeeds(
    client: DexClient, dex_sim: Any, clock: FakeClock
) -> None:
    await dex_sim.fault("429", count=2, retry_after=3, path=QUOTA)
    quota = await client.get_quota()
    assert quota.quota == dex_sim.sim.state.quota  # the real answer, after the waits
    assert [r["status"] for r in await quota_requests(dex_sim)] == [429, 429, 200]
    assert clock.slept == [3, 3]


async def test_the_five_minute_block_raises_at_once_instead_of_hanging(
    client: DexClient, dex_sim: Any, clock: FakeClock
) -> None:
    await dex_sim.fault("block", retry_after=300)
    with pytest.raises(DexRateLimitedError) as info:
        await client.get_quota()
    assert info.value.retry_after == pytest.approx(300, abs=1)
    assert clock.slept == []
    assert len(await quota_requests(dex_sim)) == 1

    # Everyone sharing the limiter now backs off without asking Cloudflare again.
    with pytest.raises(DexRateBudgetExceeded) as budget:
        await client.list_devices()
    assert budget.value.retry_after == pytest.approx(300, abs=1)
    assert client.rate_budget_remaining() == 0
    assert len(await dex_sim.requests()) == 1


@pytest.mark.parametrize("kind", ["500", "502"])
async def test_server_errors_are_retried_with_backoff(
    client: DexClient, dex_sim: Any, clock: FakeClock, kind: str
) -> None:
    await dex_sim.fault(kind, count=2, path=QUOTA)
    await client.get_quota()
    assert [r["status"] for r in await quota_requests(dex_sim)] == [int(kind), int(kind), 200]
    assert len(clock.slept) == 2 and all(0 <= s <= 5 for s in clock.slept)


async def test_server_errors_give_up_after_max_attempts(dex_sim: Any, clock: FakeClock) -> None:
    await dex_sim.fault("502", count=10, path=QUOTA)
    async with make_client(dex_sim, clock, max_attempts=3) as client:
        with pytest.raises(DexServerError) as info:
            await client.get_quota()
    assert info.value.status == 502
    assert "non-JSON" in str(info.value)  # Cloudflare's edge answers 502 with HTML
    assert len(await quota_requests(dex_sim)) == 3


@pytest.mark.parametrize("kind", ["drop", "drop_after"])
async def test_dropped_connections_are_retried(client: DexClient, dex_sim: Any, kind: str) -> None:
    await dex_sim.fault(kind, count=1, path=QUOTA)
    await client.get_quota()
    assert len(await quota_requests(dex_sim)) == 2


async def test_a_slow_answer_times_out_and_is_retried(dex_sim: Any, clock: FakeClock) -> None:
    await dex_sim.fault("slow", delay=1.0, path=QUOTA)
    async with make_client(dex_sim, clock, timeout=0.2) as client:
        await client.get_quota()
    assert len(await quota_requests(dex_sim)) == 2


async def test_transport_errors_give_up_as_transport_errors(dex_sim: Any, clock: FakeClock) -> None:
    await dex_sim.fault("drop", count=10, path=QUOTA)
    async with make_client(dex_sim, clock, max_attempts=4) as client:
        with pytest.raises(DexTransportError):
            await client.get_quota()
    assert len(await quota_requests(dex_sim)) == 4


async def test_other_4xx_are_never_retried(client: DexClient, dex_sim: Any) -> None:
    with pytest.raises(DexNotFoundError):
        await client.live_status("00000000-0000-4000-8000-000000000000")
    assert len(await dex_sim.requests()) == 1


async def test_the_deadline_bounds_all_the_waiting(dex_sim: Any, clock: FakeClock) -> None:
    await dex_sim.fault("429", count=10, retry_after=20, path=QUOTA)
    async with make_client(dex_sim, clock, deadline=45, max_attempts=10) as client:
        with pytest.raises(DexRateLimitedError):
            await client.get_quota()
    assert clock.slept == [20, 20]  # a third wait would end past the 45 s deadline
    assert len(await quota_requests(dex_sim)) == 3
