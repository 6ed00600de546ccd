"""Issue 16, item 10 (mutant: ``setup_logging`` installed without redaction): the real set-up
the runners call, with every configured secret, logged in a message, an argument and a
traceback. Both the stderr line and a handler added after ours (a log shipper) see none."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.logs import REDACTED, setup_logging

SECRETS = {
    "slack_bot_token": "xoxb-1111-2222-bot-token-value",
    "slack_signing_secret": "signing-secret-value-0042",
    "slack_app_token": "xapp-1-A0-app-level-token-value",
    "cloudflare_api_token": "cf-api-token-0123456789abcdef",
}
DB_PASSWORD = "pg-password-9876"
EVERY = [*SECRETS.values(), DB_PASSWORD]


@pytest.fixture
def real_logging() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    setup_logging(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=f"postgresql+asyncpg://dexbot:{DB_PASSWORD}@127.0.0.1:5432/dexbot",
            log_level="DEBUG",
            **SECRETS,
        )
    )
    out = io.StringIO()
    (ours,) = root.handlers
    assert isinstance(ours, logging.StreamHandler)
    ours.setStream(out)  # the same handler, filter and formatter; its lines land here
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


class Shipper(logging.Handler):
    """A handler added after ours, as a log shipper would be."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


def test_no_secret_reaches_any_log_line(real_logging: io.StringIO) -> None:
    shipper = Shipper()
    logging.getLogger().addHandler(shipper)
    log = logging.getLogger("dexbot.test.wiring")
    for secret in EVERY:
        log.debug("headers: %s", {"Authorization": f"Bearer {secret}"})
        log.warning(f"inline {secret}")
    try:
        raise RuntimeError("connect failed: " + " ".join(EVERY))
    except RuntimeError:
        log.exception("unexpected")
    err = real_logging.getvalue()
    assert len(shipper.seen) == 2 * len(EVERY) + 1
    for secret in EVERY:
        assert secret not in err
        assert all(secret not in line for line in shipper.seen)
    assert err.count(REDACTED) >= 3 * len(EVERY)
    assert "Traceback" in err
