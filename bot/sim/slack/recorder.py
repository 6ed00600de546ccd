"""What the fake Slack was asked: every call in order, waited on without polling.

``CallLog.wait_for`` sleeps on an :class:`asyncio.Condition` that each recorded call
notifies, so a test wakes up as soon as the bot makes the call it expects.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from bot.sim.slack.model import Event

log = logging.getLogger(__name__)

#: Pseudo-method names for requests that are not Web API methods.
UPLOAD = "upload"
RESPONSE_URL = "response_url"
#: A view_submission ack body the fake checked (``FakeSlack.check_view_answer``).
VIEW_ANSWER = "view_answer"

CallMatcher = str | Callable[["Call"], bool]
Subscriber = Callable[[Event], Awaitable[None] | None]


@dataclass(frozen=True)
class Call:
    """One request: a Web API method, or ``"upload"`` / ``"response_url"``.

    ``args`` merges query string and body, with JSON-string fields (``blocks``, ``view``,
    ``files``, ``metadata``, …) decoded; the token is kept apart in ``token``.
    """

    seq: int
    method: str
    args: dict[str, Any]
    status: int
    response: dict[str, Any] | None
    token: str | None = None
    path: str = ""
    #: ``time.monotonic()`` when the fake answered it (benchmarks time Slack's side by it).
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        """True when Slack would have said ``"ok": true`` (or the HTTP request succeeded)."""
        if self.response is not None and "ok" in self.response:
            return bool(self.response["ok"])
        return self.status == 200

    @property
    def error(self) -> str | None:
        """Slack's error code, if the call was refused."""
        return None if self.response is None else self.response.get("error")

    def __str__(self) -> str:
        brief = {k: v for k, v in self.args.items() if k not in ("blocks", "view")}
        outcome = "ok" if self.ok else f"{self.status} {self.error or ''}".strip()
        return f"#{self.seq} {self.method} {brief} -> {outcome}"


ArgsMatcher = Callable[[dict[str, Any]], bool]


@dataclass
class Fault:
    """An injected answer for the next call of a method (whose arguments match ``where``).

    ``error``: Slack's error envelope; ``ratelimited``: HTTP 429; ``http``: HTTP ``status``
    with no envelope, Slack did nothing; ``drop``: Slack acts, then the connection is closed
    without an answer.
    """

    kind: Literal["ratelimited", "error", "http", "drop"]
    error: str = ""
    retry_after: int = 1
    status: int = 503
    where: ArgsMatcher | None = None


@dataclass
class CallLog:
    """Recorded calls, injected faults, and event subscribers."""

    _calls: list[Call] = field(default_factory=list)
    _cond: asyncio.Condition = field(default_factory=asyncio.Condition)
    _faults: dict[str, deque[Fault]] = field(default_factory=dict)
    _subscribers: list[Subscriber] = field(default_factory=list)

    def next_seq(self) -> int:
        """The sequence number the next call will get."""
        return len(self._calls) + 1

    async def record(self, call: Call) -> None:
        """Store a call and wake every waiter."""
        self._calls.append(call)
        async with self._cond:
            self._cond.notify_all()

    def calls(self, method: CallMatcher | None = None) -> list[Call]:
        """Calls in arrival order, all or those matching a method name or predicate."""
        if method is None:
            return list(self._calls)
        match = _matcher(method)
        return [c for c in self._calls if match(c)]

    async def wait_for(
        self,
        what: CallMatcher,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 (the deadline is the point of this helper)
    ) -> list[Call]:
        """Wait until ``count`` calls match; AssertionError listing every call on timeout."""
        match = _matcher(what)

        def enough() -> bool:
            return sum(1 for c in self._calls if match(c)) >= count

        try:
            async with self._cond:
                await asyncio.wait_for(self._cond.wait_for(enough), timeout)
        except TimeoutError:
            seen = "\n  ".join(str(c) for c in self._calls) or "(none)"
            got = sum(1 for c in self._calls if match(c))
            raise AssertionError(
                f"fake Slack: waited {timeout}s for {count} call(s) matching {_describe(what)},"
                f" got {got}. Calls seen:\n  {seen}"
            ) from None
        return [c for c in self._calls if match(c)]

    # -- faults ----------------------------------------------------------------------------
    def inject(self, method: str, fault: Fault, count: int) -> None:
        """Answer the next ``count`` calls of ``method`` with ``fault``."""
        queue = self._faults.setdefault(method, deque())
        queue.extend(replace(fault) for _ in range(count))

    def take_fault(self, method: str, args: dict[str, Any], kinds: Collection[str]) -> Fault | None:
        """The first pending fault of ``method``, of one of ``kinds``, that these arguments
        match, if any."""
        queue = self._faults.get(method) or deque()
        for fault in queue:
            if fault.kind in kinds and (fault.where is None or fault.where(args)):
                queue.remove(fault)
                return fault
        return None

    # -- subscribers -----------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` (sync or async) for each event; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    async def publish(self, events: list[Event]) -> None:
        """Deliver events in order; a failing subscriber is logged, never fails the call."""
        for event in events:
            for callback in list(self._subscribers):
                try:
                    result = callback(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("fake Slack subscriber %r failed on %s", callback, event.kind)


def _matcher(what: CallMatcher) -> Callable[[Call], bool]:
    if isinstance(what, str):
        return lambda c: c.method == what
    return what


def _describe(what: CallMatcher) -> str:
    return repr(what) if isinstance(what, str) else getattr(what, "__name__", repr(what))
