"""Runtime failures in one line (issue 11 item 9): the real ``dexbot`` CLI as a process, for
a port in use, an unreachable Slack and a bad ``--fleet`` file, exits 2 with one line on
stderr that says what to do, and no traceback. A normal start says nothing it need not."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sim.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, FakeSlack
from bot.sim.world import free_port
from tests.plugins.dexsim import SimHandle

DEADLINE_S = 60


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else is listening on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDFLARE_", "DEX_", "DATABASE_", "LOG_", "HEALTH_"))
    }
    env.update(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/bot.db", **extra)
    return env


def _bot_env(
    tmp_path: Path, sim_url: str, token: str, account: str, slack_url: str
) -> dict[str, str]:
    return _env(
        tmp_path,
        SLACK_BOT_TOKEN=FAKE_BOT_TOKEN,
        SLACK_SIGNING_SECRET=FAKE_SIGNING_SECRET,
        SLACK_API_URL=slack_url,
        CLOUDFLARE_API_URL=sim_url,
        CLOUDFLARE_API_TOKEN=token,
        CLOUDFLARE_ACCOUNT_ID=account,
        DEX_REQUESTERS="S0SUPPORT",
        DEX_APPROVERS="S0MANAGER",
    )


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True,
        text=True, encoding="utf-8", timeout=DEADLINE_S,
    )  # fmt: skip


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The last stderr line, after checking the process failed the way a person can act on."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_simulate_on_a_port_in_use(tmp_path: Path, busy_port: int) -> None:
    done = _run(["simulate", "--port", str(busy_port)], _env(tmp_path), tmp_path)
    assert done.stderr.strip() == (
        f"dexbot simulate cannot start: cannot listen on 127.0.0.1:{busy_port}: it is already"
        " in use. Stop what is using it, or pick another port with --port."
    )
    assert _one_line(done)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read the fleet file {path}: No such file or directory"),
        ("{bad", "{path} is not valid JSON: Expecting property name enclosed in double quotes"),
        ('{"devices": 3}', "{path}: expected an object with a 'devices' list"),
        ('{"devices": [{"name": "a", "registrations": [{}]}]}', "{path} does not describe"),
    ],
)
def test_simulate_with_a_bad_fleet_file(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "fleet.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    done = _run(["simulate", "--port", "0", "--fleet", str(path)], _env(tmp_path), tmp_path)
    assert done.stderr.count("\n") == 1, done.stderr
    assert _one_line(done).startswith(
        "dexbot simulate cannot start: " + problem.format(path=path)
    ), done.stderr


async def test_serve_on_a_port_in_use(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path, busy_port: int
) -> None:
    env = _bot_env(
        tmp_path, dex_sim.base_url, dex_sim.token, dex_sim.account_id, fake_slack.api_url
    )
    done = await asyncio.to_thread(_run, ["serve", "--port", str(busy_port)], env, tmp_path)
    assert _one_line(done) == (
        f"dexbot cannot start: cannot listen on 127.0.0.1:{busy_port}: it is already in use."
        " Stop what is using it, or pick another port with --port."
    )


async def test_socket_with_slack_unreachable(dex_sim: SimHandle, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    env = _bot_env(tmp_path, dex_sim.base_url, dex_sim.token, dex_sim.account_id, nowhere)
    env.update(SLACK_APP_TOKEN="xapp-1-A0-1-abcdef", HEALTH_PORT=str(free_port()))
    done = await asyncio.to_thread(_run, ["socket"], env, tmp_path)
    line = _one_line(done)
    assert line.startswith(f"dexbot cannot start: cannot reach Slack at {nowhere} ("), line
    assert line.endswith(
        "Check the network (or SLACK_API_URL); dexbot will connect when started again."
    )
    assert "xapp-1-A0-1-abcdef" not in done.stderr


async def test_a_normal_start_is_quiet(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = _bot_env(
        tmp_path, dex_sim.base_url, dex_sim.token, dex_sim.account_id, fake_slack.api_url
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--port", str(free_port()), env=env,
        cwd=str(tmp_path), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(30):
            while not any("dexbot listening" in line for line in seen):
                line = (await proc.stderr.readline()).decode(errors="replace")
                assert line, "serve exited early:\n" + "".join(seen)
                seen.append(line)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=15)
    text = "".join(seen)
    assert "will be unused" not in text, text
    assert "alembic" not in text, text


def test_host_and_port_help_shows_the_defaults(tmp_path: Path) -> None:
    for command, port in (("serve", 3000), ("simulate", 8787)):
        done = _run([command, "--help"], _env(tmp_path), tmp_path)
        text = " ".join(done.stdout.split())
        assert "(default: 127.0.0.1)" in text and f"(default: {port})" in text, text
