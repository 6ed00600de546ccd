"""Logs as an operator's pipeline reads them: ``DEXBOT_LOG_FORMAT=json`` gives one JSON object
a line with the bound request context; no configured secret appears in either format, in a
message, an argument, a traceback or a bound field. These run the real set-up (the function
the runners call), so a handler installed without redaction is caught."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.logs import REDACTED, bind_log_context, log_context, setup_logging

SECRETS = {
    "slack_bot_token": "xoxb-1111-2222-bot-token-value",
    "slack_signing_secret": 'signing"secret\\with-quote-and-backslash',  # escapes in JSON
    "slack_app_token": "xapp-1-A0-app-level-token-value",
    "cloudflare_api_token": "cf-api-token-0123456789abcdef",
}
DB_PASSWORD = "pg-password-9876"
DB_URL = f"postgresql+asyncpg://dexbot:{DB_PASSWORD}@127.0.0.1:5432/dexbot"
EVERY_SECRET = [*SECRETS.values(), DB_PASSWORD]


def settings(fmt: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=DB_URL, dexbot_log_format=fmt, log_level="DEBUG", **SECRETS
    )


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


class Collect(logging.Handler):
    """A second handler, as a log shipper or Sentry would add after ours."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def emit_everything() -> None:
    log = logging.getLogger("dexbot.test.ops")
    with bind_log_context(
        request_id="r-7f3a", team_id="T0DEMO", user_id="U0SAM", reference_id="ref-42"
    ):
        log.info("plain line")
        log.debug("headers: %s", {"Authorization": f"Bearer {SECRETS['slack_bot_token']}"})
        with bind_log_context(command_ids=["cmd-1", "cmd-2"]):
            log.warning("cloudflare said %s", SECRETS["cloudflare_api_token"])
        try:
            joined = " ".join(EVERY_SECRET)
            raise RuntimeError(f"connect failed with {joined}")
        except RuntimeError:
            log.exception("unexpected error")
    log.error("outside any request: %s", SECRETS["slack_app_token"], extra={"user_id": "U0MAX"})


def assert_no_secret(text: str) -> None:
    for secret in EVERY_SECRET:
        assert secret not in text, secret


def test_json_lines_carry_context_and_no_secret(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    setup_logging(settings("json"))
    emit_everything()
    out = capsys.readouterr().err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 5
    assert_no_secret(out)
    for line in lines:  # decoded too: an escaped quote must not hide a secret
        assert_no_secret(json.dumps(line, ensure_ascii=False).replace('\\"', '"'))
        assert_no_secret(" ".join(str(v) for v in line.values()))
        assert {"time", "level", "logger", "message"} <= line.keys()
    plain, headers, warning, error, outside = lines
    assert plain == {
        "time": plain["time"],
        "level": "INFO",
        "logger": "dexbot.test.ops",
        "message": "plain line",
        "request_id": "r-7f3a",
        "team_id": "T0DEMO",
        "user_id": "U0SAM",
        "reference_id": "ref-42",
    }
    assert plain["time"].endswith("+00:00")
    assert REDACTED in headers["message"]
    assert warning["command_ids"] == ["cmd-1", "cmd-2"] and REDACTED in warning["message"]
    assert "RuntimeError" in error["exc"] and "Traceback" in error["exc"]
    assert error["exc"].count(REDACTED) == len(EVERY_SECRET)
    assert "command_ids" not in error  # the inner binding ended with its block
    assert outside["user_id"] == "U0MAX" and "request_id" not in outside
    assert log_context() == {}


def test_text_lines_carry_context_and_no_secret(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    setup_logging(settings("text"))
    emit_everything()
    out = capsys.readouterr().err
    assert_no_secret(out)
    first = out.splitlines()[0]
    assert first.endswith(
        "INFO dexbot.test.ops: plain line "
        "[request_id=r-7f3a team_id=T0DEMO user_id=U0SAM reference_id=ref-42]"
    )
    assert "Traceback" in out and out.count(REDACTED) >= len(EVERY_SECRET) + 3


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_handlers_after_ours_see_scrubbed_messages(fmt: str, restore_logging: None) -> None:
    setup_logging(settings(fmt))
    later = Collect()
    logging.getLogger().addHandler(later)
    emit_everything()
    assert len(later.messages) == 5
    for message in later.messages:
        assert_no_secret(message)


async def test_context_follows_tasks_started_inside_the_binding() -> None:
    seen: list[dict[str, Any]] = []

    async def child() -> None:
        seen.append(log_context())

    with bind_log_context(request_id="r-1"):
        task = asyncio.create_task(child())
    await task
    assert seen == [{"request_id": "r-1"}]
    with pytest.raises(TypeError), bind_log_context(channel_id="C1"):  # refused, not dropped
        pass


def test_a_real_process_logs_json_lines_without_secrets(tmp_path: Path) -> None:
    import subprocess

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDFLARE_", "DEX_", "DATABASE_", "DEXBOT_"))
    }
    env.update({k.upper(): v for k, v in SECRETS.items()})
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/logs.db",
        DEXBOT_LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert any(line["message"] == "database is up to date" for line in lines)
    assert_no_secret(proc.stderr + proc.stdout)
