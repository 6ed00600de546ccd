"""When a failed Slack effect is tried again: one policy object, one decision per failure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from slack_sdk.errors import SlackApiError

#: Slack answers that repeating the same call cannot change (until a person acts).
PERMANENT = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "invalid_blocks",
        "invalid_blocks_format",
        "missing_scope",
        "msg_too_long",
        "no_text",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "restricted_action",
        "cant_update_message",
        "message_not_found",
        "invalid_arguments",
        "user_not_found",
    }
)


@dataclass(frozen=True)
class Decision:
    """Retry after ``delay``, or give up (``delay`` is None) for ``reason``."""

    reason: str
    delay: timedelta | None

    @property
    def give_up(self) -> bool:
        """No more attempts."""
        return self.delay is None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off up to ``cap``, at most ``max_attempts``; permanent Slack errors
    and errors after the last attempt give up. A 429 never comes here: Slack did nothing, so
    the deliverer defers it without an attempt (``bot.worker.pacing``)."""

    max_attempts: int = 6
    base_seconds: float = 2.0
    cap_seconds: float = 300.0

    def decide(self, exc: BaseException, attempts: int) -> Decision:
        """What to do after ``exc`` ended attempt number ``attempts``."""
        error = slack_error(exc)
        reason = error or (f"{type(exc).__name__} ({exc})" if str(exc) else type(exc).__name__)
        if error in PERMANENT:
            return Decision(reason, None)
        if attempts >= self.max_attempts:
            return Decision(reason, None)
        seconds = min(self.cap_seconds, self.base_seconds**attempts)
        return Decision(reason, timedelta(seconds=seconds))


def slack_error(exc: BaseException) -> str | None:
    """Slack's error code (``not_in_channel`` …) when ``exc`` is a Web API refusal."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or "slack_error")
    return None
