"""Logging set-up with a redaction filter: no configured secret reaches a log line, even when a
library logs request headers at DEBUG (slack_sdk does)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.engine import make_url

from bot.config import Settings

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replaces every known secret in a record's rendered message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, scrub it, and freeze the result into the record."""
        if not self._secrets:
            return True
        message = record.getMessage()
        scrubbed = message
        for secret in self._secrets:
            scrubbed = scrubbed.replace(secret, REDACTED)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


class RedactingFormatter(logging.Formatter):
    """Scrubs the whole formatted line, tracebacks included (a filter sees only the message)."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        """The line as usual, with every secret replaced."""
        line = super().format(record)
        for secret in self._secrets:
            line = line.replace(secret, REDACTED)
        return line


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value configured in ``settings``, the database password included."""
    values = [
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.cloudflare_api_token,
    ]
    found = [v.get_secret_value() for v in values if v is not None]
    password = make_url(settings.database_url).password
    if password:
        found.append(str(password))
    return found


def setup_logging(settings: Settings) -> None:
    """Plain, one-line-per-event logs on stderr, with secrets redacted."""
    secrets = secrets_of(settings)
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
    )
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
