"""Injected faults and Cloudflare's rate limit, both measured on the simulator's clock.

A fault is ``{"kind", "count"=1, "method"?, "path"?, "retry_after"?, "delay"?}``:

=============  ==========================================================================
kind           effect on the next ``count`` matching requests under ``/client/v4``
=============  ==========================================================================
``429``        HTTP 429 with ``Retry-After: retry_after`` (default 1)
``block``      Cloudflare's block: every request answers 429 until the simulated clock
               passes ``retry_after`` (default 300) seconds from now
``500``        HTTP 500 with a v4 error envelope
``502``        HTTP 502 with an HTML page, as Cloudflare's edge sends
``slow``       the answer is delayed by ``delay`` real seconds (default 5)
``drop``       the connection is closed with no response, before anything happens
``drop_after`` the request is carried out (a POST creates its commands), then the
               connection is closed with no response
``error``      HTTP ``status`` (default 400) with a v4 error envelope holding ``code``
               (default 1001) and ``message``; ``Retry-After: retry_after`` only when given.
               E.g. a quota refusal in another shape than the simulator's own (a 400 with
               another code, a 403, a 429 with or without Retry-After)
=============  ==========================================================================

``method`` matches case-insensitively; ``path`` is a substring of the request path.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("429", "block", "500", "502", "slow", "drop", "drop_after", "error")
FIELDS = {"kind", "count", "method", "path", "retry_after", "delay", "status", "code", "message"}


@dataclass
class Fault:
    """One queued fault."""

    kind: str
    count: int = 1
    method: str | None = None
    path: str | None = None
    retry_after: float | None = None
    delay: float = 5.0
    status: int = 400
    code: int = 1001
    message: str = "Bad request"

    @classmethod
    def from_json(cls, doc: Any) -> Fault:
        """Parse a fault from its JSON form; raise ValueError when it makes no sense."""
        if not isinstance(doc, dict):
            raise ValueError("a fault must be an object")
        unknown = sorted(set(doc) - FIELDS)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        kind = str(doc.get("kind"))
        if kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}, not {kind!r}")
        count = doc.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be an integer >= 1")
        retry_after = doc.get("retry_after")
        delay = doc.get("delay", 5.0)
        for name, value in (("retry_after", retry_after), ("delay", delay)):
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise ValueError(f"{name} must be a number >= 0")
        status, code = doc.get("status", 400), doc.get("code", 1001)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400..599)")
        if not isinstance(code, int) or isinstance(code, bool) or code < 0:
            raise ValueError("code must be an integer >= 0")
        return cls(
            kind=kind,
            status=status,
            code=code,
            message=str(doc.get("message") or "Bad request"),
            count=count,
            method=str(doc["method"]).upper() if doc.get("method") else None,
            path=str(doc["path"]) if doc.get("path") else None,
            retry_after=float(retry_after) if retry_after is not None else None,
            delay=float(delay),
        )

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        if self.method and self.method != method.upper():
            return False
        return not (self.path and self.path not in path)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


class FaultQueue:
    """Faults in the order they were queued; the first that matches a request fires."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a fault."""
        self._faults.append(fault)

    def clear(self) -> None:
        """Forget every queued fault."""
        self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, spending one of its ``count``."""
        for fault in self._faults:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        """The faults still queued."""
        return [f.as_dict() for f in self._faults]


class RateLimiter:
    """More than ``limit`` requests in ``window`` seconds: 429 for ``block`` seconds."""

    def __init__(self) -> None:
        self._hits: deque[float] = deque()
        self.blocked_until: float = 0.0

    def block(self, now: float, seconds: float) -> None:
        """Start (or extend) a block."""
        self.blocked_until = max(self.blocked_until, now + seconds)

    def retry_after(self, now: float) -> float:
        """Seconds left in the current block, 0 when not blocked."""
        return max(0.0, self.blocked_until - now)

    def hit(self, now: float, limit: int, window: float, block: float) -> float:
        """Count one request; return the Retry-After to answer with, or 0 to let it through."""
        left = self.retry_after(now)
        if left > 0:
            return left
        while self._hits and self._hits[0] <= now - window:
            self._hits.popleft()
        if len(self._hits) >= limit:
            self._hits.clear()
            self.block(now, block)
            return block
        self._hits.append(now)
        return 0.0

    def reset(self) -> None:
        """Forget every request and any block."""
        self._hits.clear()
        self.blocked_until = 0.0
