"""`dexbot socket`: Socket Mode against the fake Slack's WebSocket endpoint, the DEX simulator
and a SQLite file. In-process (``run_socket_mode`` as a task) and as a real process.

What a person sees: ``/dex`` typed in Slack arrives as a ``slash_commands`` envelope, the bot
acks it within Slack's three seconds, and the answer appears as an ephemeral message posted
through the command's response_url.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.runners import run_socket_mode
from bot.sim.people import (
    MANAGERS_GROUP_ID,
    OUTSIDER,
    SAM,
    SUPPORT_CHANNEL,
    SUPPORT_GROUP_ID,
    Person,
)
from bot.sim.slack import FAKE_APP_TOKEN, FAKE_BOT_TOKEN, FakeSlack
from bot.sim.slack.payloads import slash_command_payload
from bot.sim.world import free_port
from tests.plugins.dexsim import SimHandle

REFUSAL = "not on dexbot's list"


async def slash(fake: FakeSlack, text: str, user: Person) -> str:
    """Type ``/dex <text>`` as ``user`` over Socket Mode; returns the ephemeral they see."""
    url = fake.new_response_url(channel=SUPPORT_CHANNEL, user=user.user_id)
    trigger = fake.new_trigger_id(user=user.user_id)
    payload = slash_command_payload(text, user.user_id, SUPPORT_CHANNEL, url, trigger)
    ack = await fake.socket_send("slash_commands", payload)  # fails past Slack's 3 s
    # An empty ack: nothing shows yet, the answer follows through the response_url.
    assert set(ack) == {"envelope_id"}, ack
    rid = url.rsplit("/", 1)[1]
    await fake.wait_for(lambda c: c.method == "response_url" and c.path.endswith(rid), timeout=10)
    [seen] = [e for e in fake.ephemerals(user.user_id) if e.source == "response_url"][-1:]
    assert seen.channel == SUPPORT_CHANNEL
    return seen.text


def socket_settings(sim: SimHandle, fake: FakeSlack, tmp_path: Path, port: int) -> Settings:
    return Settings(
        _env_file=None,
        slack_bot_token=FAKE_BOT_TOKEN,
        slack_app_token=FAKE_APP_TOKEN,
        slack_api_url=fake.api_url,
        cloudflare_api_url=sim.base_url,
        cloudflare_api_token=sim.token,
        cloudflare_account_id=sim.account_id,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/socket.db",
        dex_requesters=[SUPPORT_GROUP_ID],
        dex_approvers=[MANAGERS_GROUP_ID],
        health_host="127.0.0.1",
        health_port=port,
    )


async def test_in_process_ready_answers_and_survives_a_dropped_socket(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    settings = socket_settings(dex_sim, fake_slack, tmp_path, port)
    # Keep Slack's answer to apps.connections.open back: the bot is up but not connected.
    opening = fake_slack.hold("apps.connections.open")
    bot = asyncio.create_task(run_socket_mode(settings, worker=False))
    try:
        async with asyncio.timeout(15):
            await opening.reached.wait()
        assert fake_slack.last("apps.connections.open").token == FAKE_APP_TOKEN
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert (await http.get("/healthz")).json() == {"ok": True}
            ready = await http.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"] == {
                "database": "ok",
                "cloudflare": "ok",
                "socket": "not connected",
            }

            opening.release()
            await fake_slack.wait_socket_connected(timeout=10)
            assert "commands left" in (await slash(fake_slack, "quota", SAM)).lower()
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["socket"] == "ok"

            # Slack closes the socket (deploys do this): the bot asks for a new URL, gets a
            # new hello, and commands keep working with no one restarting anything. While
            # it is between sessions, /readyz says so.
            reopening = fake_slack.hold("apps.connections.open")
            assert await fake_slack.socket_drop() == 1
            async with asyncio.timeout(10):
                await reopening.reached.wait()
            ready = await http.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"]["socket"] == "not connected"
            reopening.release()
            await fake_slack.wait_socket_connected(timeout=10, nth=2)
            # One for the start-up check of the token, one per connection.
            assert fake_slack.count("apps.connections.open") == 3
            assert "commands left" in (await slash(fake_slack, "quota", SAM)).lower()
            assert (await http.get("/readyz")).json()["checks"]["socket"] == "ok"

            assert REFUSAL in await slash(fake_slack, "quota", OUTSIDER)
        assert [a.connection for a in fake_slack.socket_acks()] == [1, 2, 2]
        assert await dex_sim.requests("POST") == []
    finally:
        opening.release()
        bot.cancel()
        await asyncio.gather(bot, return_exceptions=True)
    # Stopping closed the session from the bot's side.
    assert not fake_slack.socket_connected()


async def test_stopping_while_still_connecting_releases_the_health_port(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    opening = fake_slack.hold("apps.connections.open")  # Slack never answers
    bot = asyncio.create_task(
        run_socket_mode(socket_settings(dex_sim, fake_slack, tmp_path, port), worker=False)
    )
    try:
        async with asyncio.timeout(15):
            await opening.reached.wait()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200
            bot.cancel()
            await asyncio.gather(bot, return_exceptions=True)
            # Stopped means stopped: nothing answers health checks any more.
            with pytest.raises(httpx.ConnectError):
                await http.get("/healthz")
    finally:
        opening.release()
        bot.cancel()
        await asyncio.gather(bot, return_exceptions=True)


def _env(sim: SimHandle, fake: FakeSlack, tmp_path: Path, port: int = 0) -> dict[str, str]:
    """The environment of a ``dexbot socket`` process wired to the stand-ins."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDFLARE_", "DEX_", "DATABASE_", "HEALTH_"))
    }
    env.update(
        SLACK_APP_TOKEN=FAKE_APP_TOKEN,
        SLACK_BOT_TOKEN=FAKE_BOT_TOKEN,
        SLACK_API_URL=fake.api_url,
        CLOUDFLARE_API_URL=sim.base_url,
        CLOUDFLARE_API_TOKEN=sim.token,
        CLOUDFLARE_ACCOUNT_ID=sim.account_id,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/socket.db",
        DEX_REQUESTERS=SUPPORT_GROUP_ID,
        DEX_APPROVERS=MANAGERS_GROUP_ID,
        HEALTH_PORT=str(port or free_port()),
    )
    return env


async def test_socket_process_connects_answers_refuses_and_stops_cleanly(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    env = _env(dex_sim, fake_slack, tmp_path, port)
    log_path = tmp_path / "socket.log"  # a file, not a pipe: a full pipe would stall the bot
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "socket",
            env=env,
            cwd=str(tmp_path),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        await fake_slack.wait_socket_connected(timeout=30)
        assert "commands left" in (await slash(fake_slack, "quota", SAM)).lower()
        assert REFUSAL in await slash(fake_slack, "quota", OUTSIDER)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert (await http.get("/healthz")).json() == {"ok": True}
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "cloudflare": "ok", "socket": "ok"}
        # Ctrl-C: the bot closes its session itself and exits 0.
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), timeout=15) == 0
        await fake_slack.socket.wait_disconnected(timeout=5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log


async def test_a_wrong_app_token_stops_start_up_with_a_clear_line(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = _env(dex_sim, fake_slack, tmp_path)
    env["SLACK_APP_TOKEN"] = "xapp-1-not-the-right-one"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "socket",
        env=env,
        cwd=str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    text = err.decode()
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in text
    assert "Traceback" not in text and "xapp-1-not-the-right-one" not in text
