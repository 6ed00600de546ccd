"""The client-side limiter, driven by a fake clock."""

from __future__ import annotations

import pytest

from bot.dex import DexRateBudgetExceeded, RateLimiter
from tests.dex.clock import FakeClock


def limiter(clock: FakeClock, limit: int = 3, window: float = 10.0, **kw: float) -> RateLimiter:
    return RateLimiter(limit, window, clock=clock, sleep=clock.sleep, **kw)


async def test_a_full_window_waits_for_the_oldest_request_to_leave() -> None:
    clock = FakeClock()
    rl = limiter(clock, max_wait=30)
    for _ in range(3):
        await rl.acquire()
        clock.advance(1)
    assert rl.remaining() == 0
    await rl.acquire()  # the first request (t=1000) leaves the window at t=1010
    assert clock.now == pytest.approx(1010)
    assert clock.slept == [pytest.approx(7)]


async def test_refuses_when_the_wait_exceeds_max_wait() -> None:
    clock = FakeClock()
    rl = limiter(clock, max_wait=2)
    for _ in range(3):
        await rl.acquire()
    with pytest.raises(DexRateBudgetExceeded) as info:
        await rl.acquire()
    assert info.value.retry_after == pytest.approx(10)
    assert clock.slept == []  # it said so at once instead of waiting


async def test_the_window_slides() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    await rl.acquire()
    clock.advance(6)
    await rl.acquire()
    await rl.acquire()
    assert rl.remaining() == 0
    clock.advance(4)  # the first one has left
    assert rl.remaining() == 1
    assert rl.used() == 2


async def test_block_until_stops_every_caller_together() -> None:
    clock = FakeClock()
    rl = limiter(clock, limit=100, max_wait=5)
    rl.block_for(300)
    assert rl.remaining() == 0
    assert rl.would_exceed(1)
    with pytest.raises(DexRateBudgetExceeded) as info:
        await rl.acquire()
    assert info.value.retry_after == pytest.approx(300)
    rl.block_until(clock.now + 10)  # never shortens a block
    assert rl.blocked_for() == pytest.approx(300)
    clock.advance(300)
    await rl.acquire()
    assert rl.remaining() == 99


async def test_a_short_block_is_waited_out_within_max_wait() -> None:
    clock = FakeClock()
    rl = limiter(clock, max_wait=5)
    rl.block_for(2)
    await rl.acquire()
    assert clock.slept == [pytest.approx(2)]


def test_would_exceed_lets_the_poller_keep_to_its_share() -> None:
    clock = FakeClock()
    rl = RateLimiter(1200, 300, clock=clock)
    for _ in range(599):
        assert rl.try_acquire()
    assert not rl.would_exceed(1, share=0.5)
    assert rl.would_exceed(2, share=0.5)
    assert not rl.would_exceed(601)
    assert rl.would_exceed(602)
    with pytest.raises(ValueError):
        rl.would_exceed(1, share=0)


def test_wait_time_for_several_slots() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    for step in range(3):
        assert rl.try_acquire()
        clock.advance(1)
        assert step < 3
    assert not rl.try_acquire()
    # Two slots: the second-oldest request (t=1001) has to leave too, at t=1011.
    assert rl.wait_time(2) == pytest.approx(8)
    assert rl.wait_time(4) == float("inf")
