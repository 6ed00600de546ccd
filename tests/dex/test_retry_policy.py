"""Back-off, deadlines and error classification, without any HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from bot.dex import (
    ApiMessage,
    DexAuthError,
    DexNotFoundError,
    DexQuotaExceededError,
    DexRateLimitedError,
    DexServerError,
    DexTransportError,
    DexValidationError,
    RetryPolicy,
)
from bot.dex.retry import classify_error, parse_retry_after, was_not_sent
from tests.dex.clock import FakeClock


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=8, rng=lambda: 0.999999)
    assert [round(policy.backoff(n)) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert RetryPolicy(rng=lambda: 0.0).backoff(3) == 0


def test_retry_after_past_the_deadline_means_do_not_wait() -> None:
    clock = FakeClock()
    budget = RetryPolicy(deadline=60, clock=clock).start()
    budget.attempts = 1
    assert budget.next_delay(DexRateLimitedError(429, retry_after=5)) == 5
    assert budget.next_delay(DexRateLimitedError(429, retry_after=300)) is None
    clock.advance(58)
    assert budget.next_delay(DexRateLimitedError(429, retry_after=5)) is None


def test_only_429_5xx_and_transport_errors_are_retried() -> None:
    budget = RetryPolicy(rng=lambda: 0.5, clock=FakeClock()).start()
    budget.attempts = 1
    assert budget.next_delay(DexServerError(502)) == pytest.approx(0.25)
    assert budget.next_delay(DexTransportError("x")) is not None
    assert budget.next_delay(DexNotFoundError(404)) is None
    assert budget.next_delay(DexValidationError("x")) is None
    budget.attempts = budget.policy.max_attempts
    assert budget.next_delay(DexServerError(500)) is None


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("300") == 300
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=now) == 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "errors", "retry_after", "expected"),
    [
        (401, [], None, DexAuthError),
        (403, [], None, DexAuthError),
        (404, [], None, DexNotFoundError),
        (400, [ApiMessage(1104, "Remote command quota exceeded")], None, DexQuotaExceededError),
        (400, [ApiMessage(9, "Monthly quota used up")], None, DexQuotaExceededError),
        (429, [ApiMessage(10100, "Rate limited")], 300.0, DexRateLimitedError),
        (500, [], None, DexServerError),
        (503, [], None, DexServerError),
    ],
)
def test_classify_error(
    status: int, errors: list[ApiMessage], retry_after: float | None, expected: type
) -> None:
    err = classify_error(status, errors, [], retry_after)
    assert type(err) is expected
    assert err.status == status
    if expected is DexRateLimitedError:
        assert isinstance(err, DexRateLimitedError)
        assert err.retry_after == 300


def test_connect_errors_prove_nothing_was_sent() -> None:
    request = httpx.Request("POST", "http://x")
    not_sent = DexTransportError("x")
    not_sent.__cause__ = httpx.ConnectError("refused", request=request)
    maybe = DexTransportError("x")
    maybe.__cause__ = httpx.ReadTimeout("slow", request=request)
    assert was_not_sent(not_sent)
    assert not was_not_sent(maybe)
