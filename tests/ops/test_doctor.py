"""``dexbot doctor`` against the fake Slack, the DEX simulator and real databases: all ✓ on a
good set-up, and each failure provoked one at a time, named on its own ✗ line with what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.doctor import Check, diagnose, manifest_scopes
from bot.sim.people import APPROVALS_CHANNEL, MANAGERS_GROUP_ID, PUBLIC_CHANNEL_WITHOUT_BOT
from bot.sim.slack import FAKE_APP_TOKEN, FAKE_BOT_TOKEN, FakeSlack
from bot.sim.slack.server import FAKE_SCOPES
from bot.store.db import create_engine, migrate
from tests.ops.conftest import process_env
from tests.plugins.dexsim import SimHandle

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "app_manifest.yml"


@pytest.fixture
async def migrated_db(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/doctor.db"
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    return url


def good(sim: SimHandle, fake: FakeSlack, db: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        slack_bot_token=FAKE_BOT_TOKEN,
        slack_signing_secret="signing-secret-for-doctor",
        slack_api_url=fake.api_url,
        cloudflare_api_url=sim.base_url,
        cloudflare_api_token=sim.token,
        cloudflare_account_id=sim.account_id,
        database_url=db,
        dex_requesters=["S0SUPPORT"],
        dex_approvers=[MANAGERS_GROUP_ID],
        dex_approval_channel=APPROVALS_CHANNEL,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def failed(checks: list[Check]) -> dict[str, str]:
    return {c.name: c.detail for c in checks if not c.ok}


def test_the_fakes_grant_exactly_the_manifest_scopes() -> None:
    assert set(FAKE_SCOPES) == manifest_scopes(MANIFEST)


async def test_a_good_setup_is_all_ticks(
    dex_sim: SimHandle, fake_slack: FakeSlack, migrated_db: str
) -> None:
    checks = await diagnose(good(dex_sim, fake_slack, migrated_db), "serve", MANIFEST)
    assert failed(checks) == {}
    names = [c.name for c in checks]
    assert names == [
        "settings",
        "database",
        "Slack token",
        "Slack scopes",
        "approvals channel",
        "DEX_REQUESTERS",
        "DEX_APPROVERS",
        "Cloudflare token and account",
        "Cloudflare quota",
    ]
    quota = next(c for c in checks if c.name == "Cloudflare quota")
    assert "25 of 25 left" in quota.detail


async def test_each_slack_problem_is_named(
    dex_sim: SimHandle, fake_slack: FakeSlack, migrated_db: str
) -> None:
    settings = good(dex_sim, fake_slack, migrated_db)
    fake_slack.oauth_scopes.remove("files:write")
    got = failed(await diagnose(settings, "serve", MANIFEST))
    assert list(got) == ["Slack scopes"]
    assert "missing files:write" in got["Slack scopes"] and "reinstall" in got["Slack scopes"]

    wrong = good(dex_sim, fake_slack, migrated_db, slack_bot_token="xoxb-not-the-right-one")
    got = failed(await diagnose(wrong, "serve", MANIFEST))
    assert list(got) == ["Slack token"]  # the checks that need the token are not attempted
    assert "invalid_auth" in got["Slack token"] and "xoxb-not-the-right-one" not in str(got)


@pytest.mark.parametrize(
    ("channel", "says"),
    [
        (PUBLIC_CHANNEL_WITHOUT_BOT, "not a member"),
        ("C0NOWHERE", "not found"),
    ],
)
async def test_the_approvals_channel(
    dex_sim: SimHandle, fake_slack: FakeSlack, migrated_db: str, channel: str, says: str
) -> None:
    settings = good(dex_sim, fake_slack, migrated_db, dex_approval_channel=channel)
    got = failed(await diagnose(settings, "serve", MANIFEST))
    assert list(got) == ["approvals channel"] and says in got["approvals channel"]


async def test_groups_and_users_that_do_not_resolve(
    dex_sim: SimHandle, fake_slack: FakeSlack, migrated_db: str
) -> None:
    settings = good(
        dex_sim, fake_slack, migrated_db, dex_approvers=["S0NOSUCH", "U0NOBODY", MANAGERS_GROUP_ID]
    )
    got = failed(await diagnose(settings, "serve", MANIFEST))
    assert list(got) == ["DEX_APPROVERS"]
    assert "S0NOSUCH does not resolve" in got["DEX_APPROVERS"]
    assert "U0NOBODY does not resolve" in got["DEX_APPROVERS"]
    assert MANAGERS_GROUP_ID not in got["DEX_APPROVERS"]


async def test_cloudflare_token_account_and_quota(
    dex_sim: SimHandle, fake_slack: FakeSlack, migrated_db: str
) -> None:
    dex_sim.expect_invalid_requests = True  # a wrong token and account, on purpose
    bad_token = good(dex_sim, fake_slack, migrated_db, cloudflare_api_token="wrong-token-123")
    got = failed(await diagnose(bad_token, "serve", MANIFEST))
    assert list(got) == ["Cloudflare token and account"] and "refused" in str(got)

    bad_account = good(dex_sim, fake_slack, migrated_db, cloudflare_account_id="f" * 32)
    got = failed(await diagnose(bad_account, "serve", MANIFEST))
    assert list(got) == ["Cloudflare token and account"]
    assert "CLOUDFLARE_ACCOUNT_ID" in got["Cloudflare token and account"]

    await dex_sim.set_quota(quota=25, quota_usage=25)
    got = failed(await diagnose(good(dex_sim, fake_slack, migrated_db), "serve", MANIFEST))
    assert list(got) == ["Cloudflare quota"] and "used up" in got["Cloudflare quota"]


async def test_the_database(dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path) -> None:
    fresh = good(dex_sim, fake_slack, f"sqlite+aiosqlite:///{tmp_path}/never-migrated.db")
    got = failed(await diagnose(fresh, "serve", MANIFEST))
    assert list(got) == ["database"] and "dexbot migrate" in got["database"]

    url = "postgresql+asyncpg://dexbot:pw-not-shown-1@127.0.0.1:1/dexbot"  # nothing listens
    got = failed(await diagnose(good(dex_sim, fake_slack, url), "serve", MANIFEST))
    assert list(got) == ["database"] and "cannot connect" in got["database"]
    assert "pw-not-shown-1" not in got["database"]


async def test_socket_mode_token_kind(
    dex_sim: SimHandle, fake_slack: FakeSlack, migrated_db: str
) -> None:
    ok = good(dex_sim, fake_slack, migrated_db, slack_app_token=FAKE_APP_TOKEN)
    checks = await diagnose(ok, "socket", MANIFEST)
    assert failed(checks) == {} and checks[-1].name == "Socket Mode token"

    bot_token = good(dex_sim, fake_slack, migrated_db, slack_app_token=FAKE_BOT_TOKEN)
    got = failed(await diagnose(bot_token, "socket", MANIFEST))
    assert "xapp-" in got["Socket Mode token"]

    wrong = good(dex_sim, fake_slack, migrated_db, slack_app_token="xapp-1-not-this-app")
    got = failed(await diagnose(wrong, "socket", MANIFEST))
    assert list(got) == ["Socket Mode token"] and "invalid_auth" in got["Socket Mode token"]


def run_cli(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "doctor"],
        env=env,
        cwd=str(cwd),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_console_command(
    dex_sim: SimHandle, fake_slack: FakeSlack, migrated_db: str, tmp_path: Path
) -> None:
    import asyncio

    env = process_env(dex_sim, fake_slack, migrated_db, DEX_APPROVAL_CHANNEL=APPROVALS_CHANNEL)
    proc = await asyncio.to_thread(run_cli, env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 9 and all(line.startswith("✓ ") for line in lines), lines

    env["DEX_APPROVAL_CHANNEL"] = PUBLIC_CHANNEL_WITHOUT_BOT
    env.pop("CLOUDFLARE_API_TOKEN")
    proc = await asyncio.to_thread(run_cli, env, tmp_path)
    assert proc.returncode == 1
    crosses = [line for line in proc.stdout.splitlines() if line.startswith("✗ ")]
    assert [c.split(":")[0] for c in crosses] == ["✗ settings", "✗ approvals channel"]
    assert "CLOUDFLARE_API_TOKEN is not set" in crosses[0]
    assert FAKE_BOT_TOKEN not in proc.stdout + proc.stderr
