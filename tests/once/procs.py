"""Real ``python -m bot serve`` processes for the fault campaign: same simulator, fake Slack
and database as the in-process ``bot`` harness, killed (or frozen) by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bot.sim.slack import FAKE_SIGNING_SECRET
from bot.sim.world import free_port
from tests.plugins.bot import BotHarness

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def serve_process(
    bot: BotHarness, tmp_path: Path, name: str, **env_extra: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``python -m bot serve`` on a free port (its URL with it); SIGKILLed on the way out."""
    port = free_port()
    with bot_process(bot, tmp_path, name, ["serve", "--port", str(port)], env_extra) as proc:
        yield proc, f"http://127.0.0.1:{port}"


@contextmanager
def worker_process(
    bot: BotHarness, tmp_path: Path, name: str, **env_extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m bot worker`` (health on a free port); SIGKILLed on the way out."""
    extra = {"WORKER_HEALTH_PORT": str(free_port()), **env_extra}
    with bot_process(bot, tmp_path, name, ["worker"], extra) as proc:
        yield proc


@contextmanager
def bot_process(
    bot: BotHarness, tmp_path: Path, name: str, args: list[str], env_extra: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m bot ARGS`` against the harness's simulator, fake Slack and database."""
    s = bot.settings
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": s.slack_bot_token.get_secret_value() if s.slack_bot_token else "",
        "SLACK_SIGNING_SECRET": FAKE_SIGNING_SECRET,
        "SLACK_API_URL": s.slack_api_url,
        "CLOUDFLARE_API_URL": s.cloudflare_api_url,
        "CLOUDFLARE_API_TOKEN": bot.sim.token,
        "CLOUDFLARE_ACCOUNT_ID": bot.sim.account_id,
        "DATABASE_URL": s.database_url,
        "DEX_REQUESTERS": "S0SUPPORT",
        "DEX_APPROVERS": "S0MANAGER",
        **env_extra,
    }
    if s.dex_approval_channel:
        env["DEX_APPROVAL_CHANNEL"] = s.dex_approval_channel
    log = (tmp_path / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()


async def wait_ready(url: str, proc: subprocess.Popen[bytes], deadline: float = 30) -> None:
    """Until ``/healthz`` answers (the process migrated and listens)."""
    import asyncio

    async with httpx.AsyncClient(timeout=2) as http, asyncio.timeout(deadline):
        while True:
            assert proc.poll() is None, "serve exited during start-up"
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)  # polling a condition with a deadline, not a timed wait


def logs(tmp_path: Path) -> str:
    """What the processes logged, to explain a failure."""
    return "\n".join(p.read_text() for p in sorted(tmp_path.glob("*.log")))
