"""Logging set-up with a redaction filter: no configured secret reaches a log line, even when a
library logs request headers at DEBUG (slack_sdk does).

Two formats (``DEXBOT_LOG_FORMAT``): ``text``, one readable line per event for terminals (the
default), and ``json``, one JSON object per line for a log pipeline: ``time``, ``level``,
``logger``, ``message`` and, where known, ``request_id``, ``team_id``, ``user_id``,
``command_ids`` and ``reference_id`` (the id shown to users with an unexpected error), bound by
the code handling a request with ``bind_log_context`` (a ``contextvars`` binding, so it follows
the request through awaits and into tasks it starts, and no further).

Secrets are scrubbed three times over: the filter freezes a scrubbed message into the record
(so any handler after ours sees it scrubbed), the formatter scrubs every value it writes,
tracebacks included, and then the finished line.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from bot.config import Settings

REDACTED = "[redacted]"
#: The request context a JSON line may carry, in this order.
CONTEXT_FIELDS = ("request_id", "team_id", "user_id", "command_ids", "reference_id")
_context: ContextVar[Mapping[str, Any]] = ContextVar("dexbot_log_context", default={})  # noqa: B039 (never mutated)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Redactor:
    """Replaces every known secret (6 characters or longer) in a string."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """``text`` with each secret replaced by ``[redacted]``."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


class RedactSecrets(logging.Filter):
    """Replaces every known secret in a record's rendered message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._scrub = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, scrub it, and freeze the result into the record."""
        if not self._scrub.secrets:
            return True
        message = record.getMessage()
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


class RedactingFormatter(logging.Formatter):
    """Scrubs the whole formatted line, tracebacks included (a filter sees only the message),
    and adds the bound request context (``request_id=… user_id=…``) when there is one."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._scrub = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """The line as usual, with the request context, and every secret replaced."""
        line = super().format(record)
        fields = _fields(record)
        if fields:
            bound = " ".join(f"{k}={_text(v)}" for k, v in fields.items())
            head, sep, rest = line.partition("\n")  # before a traceback, if any
            line = f"{head} [{bound}]{sep}{rest}"
        return self._scrub(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, every string value scrubbed before it is serialised (a
    secret with a quote or a backslash in it would not match once escaped)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._scrub = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """``{"time", "level", "logger", "message", ...context, "exc"?, "stack"?}``."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(_scrubbed(out, self._scrub), ensure_ascii=False, default=str)
        return self._scrub(line)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The bound context, overridden by the same names passed in ``extra=``."""
    bound = dict(_context.get())
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            bound[name] = value
    return {k: bound[k] for k in CONTEXT_FIELDS if bound.get(k) not in (None, "", [], ())}


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _scrubbed(value: Any, scrub: Redactor) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v, scrub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v, scrub) for v in value]
    return value


@contextlib.contextmanager
def bind_log_context(**fields: Any) -> Iterator[None]:
    """Attach request context to every log line written inside the ``with`` block (and in
    tasks started from it): any of ``request_id``, ``team_id``, ``user_id``, ``command_ids``,
    ``reference_id``. Nested bindings add to the outer one; ``None`` leaves a field as it was.
    """
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise TypeError(f"unknown log context field(s): {sorted(unknown)}")
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def log_context() -> dict[str, Any]:
    """The request context bound right now (a copy)."""
    return dict(_context.get())


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


def build_handler(settings: Settings) -> logging.Handler:
    """The stderr handler ``setup_logging`` installs: the configured format, secrets redacted."""
    secrets = secrets_of(settings)
    handler = logging.StreamHandler()
    formatter: logging.Formatter = (
        JsonFormatter(secrets)
        if settings.dexbot_log_format == "json"
        else RedactingFormatter(TEXT_FORMAT, secrets)
    )
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets(secrets))
    return handler


def setup_logging(settings: Settings) -> None:
    """One line per event on stderr (text or JSON, per ``DEXBOT_LOG_FORMAT``), secrets redacted."""
    root = logging.getLogger()
    root.handlers[:] = [build_handler(settings)]
    root.setLevel(settings.log_level.upper())


#: Bolt warns "As you gave `client` as well, `token` will be unused." whenever
#: SLACK_BOT_TOKEN is set and a client is passed: ours is, built from that same token (and
#: the configured API URL and timeout), so the warning says nothing. Text from
#: slack_bolt.logger.messages.warning_client_prioritized_and_token_skipped.
BOLT_TOKEN_WARNING = "As you gave `client` as well, `token` will be unused."


class _DropMessage(logging.Filter):
    def __init__(self, message: str) -> None:
        super().__init__()
        self._message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self._message


def quiet_libraries(level: str) -> None:
    """A quiet start-up: no Bolt token warning; Alembic's INFO lines only at DEBUG."""
    for name in ("dexbot.bolt", "slack_bolt.AsyncApp"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessage) for f in logger.filters):
            logger.addFilter(_DropMessage(BOLT_TOKEN_WARNING))
    if logging.getLevelName(level.upper()) != logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)
