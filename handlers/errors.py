"""The one error handler: known errors become a short ephemeral message in plain words;
anything unexpected becomes "something went wrong (ref ABC123)" with the full trace logged
under that reference. Secrets never reach the message or the log line we write."""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from slack_sdk.errors import SlackApiError

from bot.dex.errors import (
    DexAmbiguousWriteError,
    DexAuthError,
    DexError,
    DexNotFoundError,
    DexQuotaExceededError,
    DexRateBudgetExceeded,
    DexRateLimitedError,
    DexServerError,
    DexTransportError,
    DexValidationError,
)
from bot.domain.errors import Problem
from bot.domain.grammar import ParseError
from handlers.blocks.common import Rendered
from handlers.blocks.parse_text import describe_parse_error
from handlers.blocks.problems import describe_problem

Reply = Callable[[Rendered], Awaitable[object]]
log = logging.getLogger("dexbot.errors")


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, math.ceil(seconds))} s"
    return f"{math.ceil(seconds / 60)} min"


def describe(exc: BaseException) -> str | None:
    """The plain-words message for a known error, or None for an unexpected one."""
    if isinstance(exc, ParseError):
        return describe_parse_error(exc)
    if isinstance(exc, Problem):
        return describe_problem(exc)
    if isinstance(exc, DexRateLimitedError | DexRateBudgetExceeded):
        return f"Cloudflare is rate-limiting us; try again in {_minutes(exc.retry_after)}."
    if isinstance(exc, DexQuotaExceededError):
        return "Cloudflare's remote-command quota for this account is used up; see `/dex quota`."
    if isinstance(exc, DexAuthError):
        return (
            "Cloudflare refused dexbot's API token. An admin needs to check "
            "CLOUDFLARE_API_TOKEN (it needs DEX Read and Write)."
        )
    if isinstance(exc, DexNotFoundError):
        return "Cloudflare doesn't know that device or command (any more)."
    if isinstance(exc, DexAmbiguousWriteError):
        return (
            "I lost the connection while sending the command to Cloudflare and couldn't tell "
            "whether it arrived. Check `/dex history` before asking again."
        )
    if isinstance(exc, DexServerError | DexTransportError):
        return "Cloudflare isn't answering properly right now; try again in a minute."
    if isinstance(exc, DexValidationError):
        return f"That request isn't valid for Cloudflare: {exc}"
    return None


def plain(message: str) -> Rendered:
    """Our own words as an ephemeral warning (outside pieces in them are already inert)."""
    # Not escaped as a whole: our messages carry real mentions. Outside text inside them was
    # made inert where it was inserted (bot.domain.errors.inert; the grammar's echo).
    text = f":warning: {message.strip()[:2900]}"
    return Rendered(
        text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    )


def new_ref() -> str:
    """A short reference a person can quote to an admin."""
    return secrets.token_hex(3).upper()


async def report(exc: BaseException, reply: Reply, logger: logging.Logger = log) -> None:
    """Tell the person what went wrong, and log the unexpected with a reference."""
    message = describe(exc)
    if message is None:
        ref = new_ref()
        logger.error("unexpected error (ref %s)", ref, exc_info=exc)
        message = (
            f"Something went wrong on my side (ref {ref}). An admin can look it up in the log."
        )
    elif isinstance(exc, DexError | SlackApiError):
        logger.warning("%s: %s", type(exc).__name__, exc)
    try:
        await reply(plain(message))
    except Exception:  # the reply channel itself failed; the log is all we have
        logger.exception("could not deliver an error message to the user")


@asynccontextmanager
async def guarded(reply: Reply, logger: logging.Logger = log) -> AsyncIterator[None]:
    """Run a listener body; any exception is reported through ``reply``, never raised."""
    try:
        yield
    except Exception as exc:
        await report(exc, reply, logger)
