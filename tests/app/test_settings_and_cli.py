"""Start-up: settings errors are one plain line per problem naming the variable, secrets never
appear in them or in logs, and the console script refuses to start half-configured."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from bot.config import Settings, SettingsError, load_settings
from bot.logs import REDACTED, RedactSecrets

SECRET = "xoxb-super-secret-value-123"


def test_malformed_settings_name_each_variable() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(
            _env_file=None,
            dex_requesters="U0SAM0010,not-an-id",
            cloudflare_account_id="123",
            database_url="mysql://x",
        )
    names = sorted(line.split(":")[0] for line in err.value.problems)
    assert names == ["CLOUDFLARE_ACCOUNT_ID", "DATABASE_URL", "DEX_REQUESTERS"]
    assert any("not-an-id" in line for line in err.value.problems)


def test_missing_settings_for_serve_are_listed() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    problems = s.check_for("serve")
    assert [p.split(" ")[0] for p in problems] == [
        "SLACK_BOT_TOKEN",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_ACCOUNT_ID",
        "DEX_REQUESTERS",
        "DEX_APPROVERS",
        "SLACK_SIGNING_SECRET",
    ]
    assert s.check_for("shell") == []


def test_a_bot_nobody_can_approve_for_is_refused_unless_self_approval_is_on() -> None:
    base = dict(_env_file=None, dex_requesters="S0SUPPORT")
    lines = Settings(**base).check_for("socket")  # type: ignore[arg-type]
    assert any(line.startswith("DEX_APPROVERS is empty: nobody could approve") for line in lines)
    lines = Settings(**base, dex_allow_self_approval=True).check_for("socket")  # type: ignore[arg-type]
    assert not any(line.startswith("DEX_APPROVERS") for line in lines)


def test_every_problem_is_reported_in_one_round() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(
            "serve",
            _env_file=None,
            slack_bot_token="foo",
            dex_requesters="U0SAM0010,not-an-id",
        )
    names = [line.split(":")[0].split(" ")[0] for line in err.value.problems]
    # The malformed value, and everything check_for finds, in one answer.
    assert "DEX_REQUESTERS" in names
    assert "SLACK_BOT_TOKEN" in names  # "does not look like a Slack token"
    assert "SLACK_SIGNING_SECRET" in names and "CLOUDFLARE_API_TOKEN" in names
    assert names.count("DEX_REQUESTERS") == 1  # malformed, not also "empty"


def test_secret_is_never_echoed_in_errors() -> None:
    s = Settings(_env_file=None, slack_bot_token="not-a-slack-token-zzz")  # type: ignore[call-arg]
    assert all("not-a-slack-token-zzz" not in p for p in s.check_for("socket"))
    assert "not-a-slack-token-zzz" not in repr(s)


def test_log_lines_never_carry_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("dexbot.test.redact")
    handler = logging.Handler()
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    handler.addFilter(RedactSecrets([SECRET]))
    logger.addHandler(handler)
    try:
        logger.warning("headers: %s", {"Authorization": f"Bearer {SECRET}"})
    finally:
        logger.removeHandler(handler)
    assert seen and SECRET not in seen[0] and REDACTED in seen[0]


def test_console_script_refuses_to_start_half_configured(tmp_path: object) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDFLARE_", "DEX_", "DATABASE_"))
    }
    env["SLACK_BOT_TOKEN"] = SECRET
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "dexbot cannot start" in proc.stderr
    assert "SLACK_SIGNING_SECRET is not set" in proc.stderr
    assert "Traceback" not in proc.stderr and SECRET not in proc.stderr + proc.stdout


def test_tracebacks_and_the_database_password_are_redacted() -> None:
    from bot.logs import RedactingFormatter, secrets_of

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        slack_bot_token=SECRET,
        database_url="postgresql+asyncpg://dexbot:pg-pass-987654@db/dexbot",
    )
    secrets = secrets_of(settings)
    assert "pg-pass-987654" in secrets
    formatter = RedactingFormatter("%(message)s", secrets)
    try:
        raise RuntimeError(f"failed with token {SECRET} and pg-pass-987654")
    except RuntimeError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info()
        )
    line = formatter.format(record)
    assert "RuntimeError" in line
    assert SECRET not in line and "pg-pass-987654" not in line
