"""When to try a Cloudflare call again, and how long to wait first.

``RetryPolicy`` holds the numbers (attempts, delays, an overall deadline) and computes
full-jitter back-off: a uniformly random delay between 0 and ``min(max_delay,
base_delay * 2**(attempt-1))``, so many clients that failed together do not retry together.
The policy's ``sleep``, ``clock`` and ``rng`` are injectable so tests never really wait.

The classifiers here decide what a failure means (which exception, whether the request was
even sent), and ``KnownCommands``/``could_be_ours`` are the bookkeeping of reconciling a lost
create; the decisions themselves (a read retries, a write reconciles) and their table live in
``bot.dex.client``.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.dex.errors import (
    ApiMessage,
    DexApiError,
    DexAuthError,
    DexError,
    DexNotFoundError,
    DexQuotaExceededError,
    DexRateLimitedError,
    DexServerError,
    DexTransportError,
)
from bot.dex.models import Command, CommandSpec, CreatedCommand

#: httpx errors raised before any byte of the request left this process: the server cannot
#: have acted on the request, so even a write may be sent again.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)

#: httpx errors after which the request may or may not have reached the server.
MAYBE_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.CloseError,
)

#: Every httpx error the client turns into ``DexTransportError``.
TRANSPORT_ERRORS = NOT_SENT_ERRORS + MAYBE_SENT_ERRORS + (httpx.TransportError,)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed call.

    ``deadline`` bounds the whole call, waits included: a retry whose wait would end past
    it is not attempted (the last error is raised instead).
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    deadline: float = 90.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    rng: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1; got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or self.deadline <= 0:
            raise ValueError("delays must be >= 0 and the deadline > 0")

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return self.rng() * cap

    def start(self) -> RetryBudget:
        """Begin counting attempts and time for one call."""
        return RetryBudget(self, self.clock())


@dataclass
class RetryBudget:
    """The attempts and time one call has left under its policy."""

    policy: RetryPolicy
    started: float
    attempts: int = 0

    def left(self) -> float:
        """Seconds until the call's deadline (may be negative)."""
        return self.policy.deadline - (self.policy.clock() - self.started)

    def next_delay(self, exc: DexError) -> float | None:
        """How long to wait before retrying after ``exc``, or None when not to retry.

        A 429's ``Retry-After`` is honoured exactly; if it ends past the deadline the
        answer is None, so the caller raises at once instead of waiting in vain.
        """
        if self.attempts >= self.policy.max_attempts:
            return None
        if isinstance(exc, DexRateLimitedError):
            delay = exc.retry_after
        elif isinstance(exc, DexServerError | DexTransportError):
            delay = self.policy.backoff(self.attempts)
        else:
            return None
        return delay if delay <= self.left() else None

    async def wait(self, delay: float) -> None:
        """Sleep ``delay`` seconds with the policy's sleep."""
        if delay > 0:
            await self.policy.sleep(delay)


def is_retryable_read_error(exc: BaseException) -> bool:
    """429, 5xx and transport errors: what a read (GET) may retry."""
    return isinstance(exc, DexRateLimitedError | DexServerError | DexTransportError)


def was_not_sent(exc: BaseException) -> bool:
    """Whether ``exc`` (or its cause) proves the request never left this process."""
    cause = exc if isinstance(exc, httpx.HTTPError) else exc.__cause__
    return isinstance(cause, NOT_SENT_ERRORS)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# -- what an error answer means ----------------------------------------------------------

#: Cloudflare's error code for a spent command quota is undocumented; 1104 is a guess, so a
#: 4xx whose message matches a pattern counts as well, and both are settings
#: (``CLOUDFLARE_QUOTA_ERROR_CODES``, ``CLOUDFLARE_QUOTA_ERROR_PATTERNS``). After any other
#: 4xx on create the client re-reads the quota and treats 0 left as exhaustion.
QUOTA_ERROR_CODE = 1104
QUOTA_ERROR_PATTERNS = (r"quota",)


@dataclass(frozen=True)
class QuotaSignals:
    """What marks an error answer as "the command quota is spent": codes or message patterns
    (regular expressions, matched case-insensitively anywhere in an error's message)."""

    codes: frozenset[int] = frozenset({QUOTA_ERROR_CODE})
    patterns: tuple[str, ...] = QUOTA_ERROR_PATTERNS

    def __post_init__(self) -> None:
        for pattern in self.patterns:
            re.compile(pattern)  # a bad pattern fails at start-up, not on the first error

    def match(self, errors: list[ApiMessage]) -> bool:
        """True when any error carries a quota code or a message matching a pattern."""
        if any(e.code in self.codes for e in errors):
            return True
        return any(re.search(p, e.message, re.IGNORECASE) for p in self.patterns for e in errors)


def api_messages(raw: Any) -> list[ApiMessage]:
    """The ``errors`` or ``messages`` list of a v4 envelope, tolerating odd entries."""
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            try:
                code = int(item.get("code") or 0)
            except (TypeError, ValueError):
                code = 0
            out.append(ApiMessage(code, str(item.get("message", ""))))
    return out


def classify_error(
    status: int,
    errors: list[ApiMessage],
    messages: list[ApiMessage],
    retry_after: float | None,
    signals: QuotaSignals | None = None,
) -> DexApiError:
    """The ``DexApiError`` subclass for an error answer (``retry_after`` from the header);
    ``signals`` say what a quota refusal looks like (default: code 1104 or "quota")."""
    quota = (signals or QuotaSignals()).match(errors)
    if status in (401, 403):
        return DexAuthError(status, errors, messages)
    # A 429 carrying Retry-After is the request-rate block even if it says "quota".
    if quota and status < 500 and not (status == 429 and retry_after is not None):
        return DexQuotaExceededError(status, errors, messages)
    if status == 429:
        after = retry_after if retry_after is not None else 60.0
        return DexRateLimitedError(
            status, errors, messages, retry_after=after, has_retry_after=retry_after is not None
        )
    if status == 404:
        return DexNotFoundError(status, errors, messages)
    if status >= 500:
        return DexServerError(status, errors, messages)
    return DexApiError(status, errors, messages)


# -- reconciling a create whose answer was lost ------------------------------------------


class KnownCommands:
    """Command ids this client has seen, and when (a sequence number), bounded in size.

    A create attempt takes ``mark()``; afterwards a command counts as new if it was never
    seen or first seen after that mark (a poller listing meanwhile does not hide it).
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._seq = 0
        self.capacity = capacity

    def mark(self) -> int:
        """A point in the sequence: ids learnt later are "new" relative to it."""
        self._seq += 1
        return self._seq

    def learn(self, ids: Iterable[str]) -> None:
        """Remember ``ids`` (keeping the first time each was seen)."""
        seq = self.mark()
        for command_id in ids:
            self._seen.setdefault(command_id, seq)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def is_new(self, command_id: str, mark: int) -> bool:
        """Whether ``command_id`` was unknown at ``mark``."""
        first = self._seen.get(command_id)
        return first is None or first > mark


def could_be_ours(command: Command, spec: CommandSpec, since: datetime) -> bool:
    """Whether a listed command matches the spec's device, type and registration, and was
    created after ``since``."""
    if command.device_id not in (None, spec.device_id):
        return False
    if command.type not in (None, spec.type.value):
        return False
    if spec.registration_id and command.registration_id not in (None, spec.registration_id):
        return False
    created = command.created_date
    return created is None or created.tzinfo is None or created >= since


def as_created(command: Command) -> CreatedCommand:
    """A listed command in the shape the create call returns."""
    return CreatedCommand(
        id=command.id,
        device_id=command.device_id,
        registration_id=command.registration_id,
        status=command.status,
        type=command.type,
    )
