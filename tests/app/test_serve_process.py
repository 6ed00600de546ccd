"""`dexbot serve` as a real process: it starts, migrates, answers health checks and a signed
slash command, with the simulator and the fake Slack around it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from bot.sim.people import SAM, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_SIGNING_SECRET, FakeSlack
from bot.sim.slack.payloads import signed_headers, slash_command_body
from bot.sim.world import free_port, process_env
from tests.plugins.dexsim import SimHandle


async def wait_for_line(stream: asyncio.StreamReader, needle: str, deadline: float) -> None:
    async with asyncio.timeout(deadline):
        while True:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"process exited before printing {needle!r}")
            if needle in line.decode(errors="replace"):
                return


def serve_env(dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path) -> dict[str, str]:
    """The environment of a `dexbot serve` wired to the stand-ins (nothing of ours leaks in)."""
    return process_env(dex_sim, fake_slack, f"sqlite+aiosqlite:///{tmp_path}/serve.db")


async def test_serve_starts_and_answers(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    env = serve_env(dex_sim, fake_slack, tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--port",
        str(port),
        env=env,
        cwd=str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        await wait_for_line(proc.stderr, "dexbot listening", deadline=30)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"{base}/healthz")).json() == {"ok": True}
            ready = await http.get(f"{base}/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "cloudflare": "ok"}
            url = fake_slack.new_response_url(channel=SUPPORT_CHANNEL, user=SAM.user_id)
            body = slash_command_body("quota", SAM.user_id, SUPPORT_CHANNEL, url, "trig-1")
            resp = await http.post(
                f"{base}/slack/events",
                content=body,
                headers=signed_headers(FAKE_SIGNING_SECRET, body),
            )
            assert resp.status_code == 200
        await fake_slack.wait_for("response_url", timeout=15)
        assert "commands left" in fake_slack.responses(url)[0].text.lower()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=15)


async def test_a_token_cloudflare_refuses_stops_start_up_in_one_line(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = serve_env(dex_sim, fake_slack, tmp_path)
    env["CLOUDFLARE_API_TOKEN"] = "not-the-token-cloudflare-knows"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--port",
        str(free_port()),
        env=env,
        cwd=str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    text = err.decode()
    assert proc.returncode == 2, text
    assert "dexbot cannot start: Cloudflare refused CLOUDFLARE_API_TOKEN" in text
    assert "Traceback" not in text and "not-the-token-cloudflare-knows" not in text + out.decode()
