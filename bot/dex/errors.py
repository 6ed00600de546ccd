"""Errors raised by the Cloudflare DEX client.

::

    DexError                        anything the DEX client raises
    ├── DexValidationError          bad input, caught before anything was sent (also a ValueError)
    ├── DexTransportError           no HTTP answer: connect error, timeout, dropped connection
    │   └── DexAmbiguousWriteError  a POST /commands whose fate is unknown even after reconciling
    ├── DexRateBudgetExceeded       our own limiter refused: sending would risk Cloudflare's block
    └── DexApiError                 Cloudflare answered with an error (status, codes, messages)
        ├── DexAuthError            401 / 403: token missing, wrong, or without DEX permissions
        ├── DexNotFoundError        404: unknown account, device, command or file
        │   └── DexNoLiveData       no fleet status in the window (404, empty body, no result)
        ├── DexRateLimitedError     429: ``retry_after`` seconds (300 in the 5-minute block)
        ├── DexQuotaExceededError   the account's command quota is spent
        └── DexServerError          5xx: Cloudflare had a problem

Messages never contain the API token.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiMessage:
    """One entry of the v4 envelope's ``errors`` or ``messages`` list."""

    code: int
    message: str


class DexError(Exception):
    """Base class of everything the DEX client raises."""


class DexValidationError(DexError, ValueError):
    """The request was refused locally, before anything was sent to Cloudflare."""


class DexTransportError(DexError):
    """No HTTP response arrived (connection refused or dropped, timeout)."""


class DexAmbiguousWriteError(DexTransportError):
    """A create call may or may not have reached Cloudflare and reconciling could not tell.

    The caller must not blindly retry: a retry could spend quota twice.
    """


class DexRateBudgetExceeded(DexError):
    """The client-side limiter has no budget left; ``retry_after`` says when it will."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"local Cloudflare request budget spent; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


class DexApiError(DexError):
    """Cloudflare answered with an error envelope or an error status."""

    def __init__(
        self,
        status: int,
        errors: list[ApiMessage] | None = None,
        messages: list[ApiMessage] | None = None,
    ) -> None:
        self.status = status
        self.errors = errors or []
        self.messages = messages or []
        detail = "; ".join(f"{e.code}: {e.message}" for e in self.errors) or "no detail"
        super().__init__(f"Cloudflare API error {status}: {detail}")

    @property
    def codes(self) -> list[int]:
        """The Cloudflare error codes, in order."""
        return [e.code for e in self.errors]


class DexAuthError(DexApiError):
    """401 or 403: the token is missing, wrong, or lacks the DEX permissions."""


class DexNotFoundError(DexApiError):
    """404: the account, device, command or file does not exist."""


class DexNoLiveData(DexNotFoundError):
    """Cloudflare has no live status for the device in the asked window."""

    def __init__(self, message: str) -> None:
        super().__init__(404, [ApiMessage(0, message)])


class DexRateLimitedError(DexApiError):
    """429 from Cloudflare; ``retry_after`` is in seconds."""

    def __init__(
        self,
        status: int,
        errors: list[ApiMessage] | None = None,
        messages: list[ApiMessage] | None = None,
        retry_after: float = 60.0,
        has_retry_after: bool = True,
    ) -> None:
        super().__init__(status, errors, messages)
        self.retry_after = retry_after
        #: False when Cloudflare sent no Retry-After (``retry_after`` is then our guess).
        self.has_retry_after = has_retry_after


class DexQuotaExceededError(DexApiError):
    """The account's remote-command quota is used up until it resets."""


class DexServerError(DexApiError):
    """5xx from Cloudflare."""
