"""``dexbot doctor``: check a deployment's set-up against the real services, one line per check
(``✓`` or ``✗`` with what to do), exit 1 on any ``✗``.

Every call is a read that spends nothing: ``auth.test`` (and the scopes Slack reports for the
token in its ``x-oauth-scopes`` header), ``conversations.history`` with ``limit=1`` on the
approvals channel (it answers ``not_in_channel`` when the bot is not a member, with the
history scopes the app already has, where ``conversations.info`` would need two more),
``users.info`` / ``usergroups.users.list`` for each requester and approver, Cloudflare's quota
(proves the token and the account), the database and its migrations, and for Socket Mode
``apps.connections.open`` with the app-level token (it hands out a URL; nothing connects).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import text

from bot.config import Mode, Settings, SettingsError, load_settings
from bot.dex.client import DexClient
from bot.dex.errors import DexApiError, DexAuthError, DexError
from bot.logs import Redactor, secrets_of
from bot.store.db import create_engine, pending_migrations

#: Each check gives up after this long: a doctor that hangs helps nobody.
CHECK_TIMEOUT = 15.0
_REPO_MANIFEST = Path(__file__).resolve().parents[1] / "app_manifest.yml"


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    ok: bool
    name: str
    detail: str

    def line(self) -> str:
        """``✓ name: detail`` or ``✗ name: detail``."""
        return f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}"


def manifest_scopes(path: Path) -> set[str]:
    """The bot scopes ``app_manifest.yml`` declares."""
    manifest = yaml.safe_load(path.read_text())
    return set(manifest["oauth_config"]["scopes"]["bot"])


def default_manifest() -> Path | None:
    """``./app_manifest.yml``, else the one next to this source tree."""
    for candidate in (Path.cwd() / "app_manifest.yml", _REPO_MANIFEST):
        if candidate.is_file():
            return candidate
    return None


def _slack(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token
    return AsyncWebClient(
        token=token.get_secret_value() if token else None,
        base_url=settings.slack_api_url,
        timeout=10,
    )


def _slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or "unknown_error")


async def check_slack(settings: Settings, manifest: Path | None) -> list[Check]:
    """The bot token (``auth.test``) and its granted scopes against the manifest."""
    if settings.slack_bot_token is None:
        return [Check(False, "Slack token", "SLACK_BOT_TOKEN is not set")]
    client = _slack(settings)
    try:
        resp = await client.auth_test()
    except SlackApiError as exc:
        return [
            Check(
                False,
                "Slack token",
                f"Slack refused SLACK_BOT_TOKEN ({_slack_error(exc)}): copy the Bot User OAuth "
                "Token (xoxb-…) from the app's OAuth & Permissions page",
            )
        ]
    who = Check(
        True, "Slack token", f"{resp.get('user')} in {resp.get('team')} ({resp.get('team_id')})"
    )
    header = resp.headers.get("x-oauth-scopes") if resp.headers else None
    if manifest is None:
        scopes = Check(False, "Slack scopes", "app_manifest.yml not found: pass --manifest FILE")
    elif header is None:
        scopes = Check(False, "Slack scopes", "Slack sent no x-oauth-scopes header to compare")
    else:
        granted = {s.strip() for s in str(header).split(",") if s.strip()}
        missing = sorted(manifest_scopes(manifest) - granted)
        scopes = (
            Check(
                False,
                "Slack scopes",
                f"missing {', '.join(missing)}: add them under OAuth & Permissions (or update "
                "the app from app_manifest.yml), then reinstall the app to the workspace",
            )
            if missing
            else Check(
                True, "Slack scopes", f"all {len(granted)} granted scopes cover the manifest"
            )
        )
    return [who, scopes]


async def check_approval_channel(settings: Settings) -> Check:
    """The approvals channel exists and the bot is in it."""
    channel = settings.dex_approval_channel
    name = "approvals channel"
    if not channel:
        return Check(True, name, "DEX_APPROVAL_CHANNEL not set: cards go to each request's channel")
    client = _slack(settings)
    try:
        await client.conversations_history(channel=channel, limit=1)
    except SlackApiError as exc:
        error = _slack_error(exc)
        if error == "not_in_channel":
            return Check(False, name, f"dexbot is not a member of {channel}: /invite @dexbot there")
        if error == "channel_not_found":
            return Check(
                False,
                name,
                f"{channel} not found (or private without dexbot): check DEX_APPROVAL_CHANNEL "
                "is the channel's ID (C…) and invite @dexbot",
            )
        return Check(False, name, f"Slack answered {error} for {channel}")
    return Check(True, name, f"{channel} found, and dexbot is a member")


async def check_principals(settings: Settings) -> list[Check]:
    """Every requester and approver ID resolves (users exist, groups exist and have members)."""
    client = _slack(settings)
    checks = []
    for var, ids in (
        ("DEX_REQUESTERS", settings.dex_requesters),
        ("DEX_APPROVERS", settings.dex_approvers),
    ):
        if not ids:
            who = "request" if var == "DEX_REQUESTERS" else "approve"
            checks.append(
                Check(False, var, f"empty: nobody can {who}; list Slack user or group IDs")
            )
            continue
        problems: list[str] = []
        found: list[str] = []
        for pid in ids:
            try:
                if pid.startswith("S"):
                    resp = await client.usergroups_users_list(usergroup=pid)
                    members = len(resp.get("users") or [])
                    if members == 0:
                        problems.append(f"{pid} has no members")
                    found.append(f"{pid} ({members} people)")
                else:
                    await client.users_info(user=pid)
                    found.append(pid)
            except SlackApiError as exc:
                problems.append(f"{pid} does not resolve ({_slack_error(exc)})")
        if problems:
            checks.append(Check(False, var, "; ".join(problems) + ": fix the IDs in " + var))
        else:
            checks.append(Check(True, var, ", ".join(found)))
    return checks


async def check_cloudflare(settings: Settings) -> list[Check]:
    """The token and the account (one quota read), and the quota itself."""
    dex = DexClient.from_settings(settings)
    name = "Cloudflare token and account"
    try:
        quota = await dex.get_quota()
    except DexAuthError:
        return [
            Check(
                False,
                name,
                "Cloudflare refused CLOUDFLARE_API_TOKEN: create a token with DEX permissions "
                "(read and write) for this account",
            )
        ]
    except DexApiError as exc:
        # By status, not class: a 404 whose message quotes the path ".../quota" is classed
        # as quota exceeded by the client's text match.
        if exc.status == 404:
            return [Check(False, name, "unknown account: check CLOUDFLARE_ACCOUNT_ID")]
        return [Check(False, name, f"Cloudflare answered HTTP {exc.status}: try again")]
    except DexError as exc:
        return [Check(False, name, f"Cloudflare unreachable ({type(exc).__name__}): try again")]
    finally:
        await dex.aclose()
    left = max(0, quota.quota - quota.quota_usage)
    reset = _when(quota.reset_time)
    checks = [Check(True, name, f"account {settings.cloudflare_account()} answers")]
    if left == 0:
        checks.append(
            Check(
                False,
                "Cloudflare quota",
                f"used up ({quota.quota}); requests are refused until {reset}",
            )
        )
    else:
        checks.append(
            Check(True, "Cloudflare quota", f"{left} of {quota.quota} left, resets {reset}")
        )
    return checks


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "at an unknown time"


async def check_database(settings: Settings) -> Check:
    """Reachable, and every migration applied."""
    engine = create_engine(settings.database_url)
    name = "database"
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        pending = await pending_migrations(engine)
    except Exception as exc:  # any driver error: say which kind, never the URL (a password)
        return Check(False, name, f"cannot connect ({type(exc).__name__}): check DATABASE_URL")
    finally:
        await engine.dispose()
    if pending:
        return Check(
            False,
            name,
            f"{len(pending)} migration(s) pending: run `dexbot migrate` before starting",
        )
    return Check(True, name, "reachable, migrations current")


async def check_socket_token(settings: Settings) -> Check:
    """In Socket Mode, the app-level token is one (``xapp-``) and Slack accepts it."""
    name = "Socket Mode token"
    token = settings.slack_app_token
    if token is None:
        return Check(True, name, "not set: HTTP mode (dexbot serve)")
    value = token.get_secret_value()
    if not value.startswith("xapp-"):
        return Check(
            False,
            name,
            "SLACK_APP_TOKEN is not an app-level token (xapp-…): generate one with "
            "connections:write under Basic Information",
        )
    client = AsyncWebClient(base_url=settings.slack_api_url, timeout=10)
    try:
        await client.apps_connections_open(app_token=value)
    except SlackApiError as exc:
        return Check(False, name, f"Slack refused SLACK_APP_TOKEN ({_slack_error(exc)})")
    return Check(True, name, "app-level token accepted")


async def _bounded(name: str, check: Callable[[], Awaitable[Any]]) -> list[Check]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            found = await check()
    except TimeoutError:
        return [Check(False, name, f"no answer within {CHECK_TIMEOUT:.0f} s")]
    except Exception as exc:  # a check must report, never crash the report
        return [Check(False, name, f"failed ({type(exc).__name__})")]
    return found if isinstance(found, list) else [found]


async def diagnose(settings: Settings, mode: Mode, manifest: Path | None) -> list[Check]:
    """Every check for ``mode``, in the order an operator fixes things."""
    problems = settings.check_for(mode)
    checks = [Check(not problems, "settings", "; ".join(problems) or f"complete for {mode}")]
    checks += await _bounded("database", lambda: check_database(settings))
    slack = await _bounded("Slack token", lambda: check_slack(settings, manifest))
    checks += slack
    if slack[0].ok:  # the checks below need a token Slack accepts
        checks += await _bounded("approvals channel", lambda: check_approval_channel(settings))
        checks += await _bounded("requesters and approvers", lambda: check_principals(settings))
    checks += await _bounded("Cloudflare", lambda: check_cloudflare(settings))
    if mode == "socket" or settings.slack_app_token is not None:
        checks += await _bounded("Socket Mode token", lambda: check_socket_token(settings))
    return checks


def run_doctor(mode: Mode | None, manifest: Path | None, out: Any) -> int:
    """Print the report to ``out``; 0 when every check passed, 1 otherwise."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        for problem in exc.problems:
            print(Check(False, "settings", problem).line(), file=out)
        return 1
    from bot.logs import setup_logging

    setup_logging(settings)  # library warnings on stderr, redacted like the runners'
    mode = mode or ("socket" if settings.slack_app_token is not None else "serve")
    checks = asyncio.run(diagnose(settings, mode, manifest or default_manifest()))
    scrub = Redactor(secrets_of(settings))
    for check in checks:
        print(scrub(check.line()), file=out)
    return 0 if all(c.ok for c in checks) else 1
