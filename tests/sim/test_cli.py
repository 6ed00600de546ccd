"""``dexbot simulate`` as a process: one start-up line, then Cloudflare's API on the port."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import httpx

from bot.config import LOCAL_SIM_ACCOUNT, LOCAL_SIM_TOKEN


async def run_and_query(env: dict[str, str], token: str, account: str) -> tuple[str, list]:
    """Start ``python -m bot simulate --port 0``, read its line, list devices, stop it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "simulate", "--port", "0", "--seed", "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode()
        match = re.search(r"(http://127\.0\.0\.1:\d+/client/v4)", line)
        assert match, line
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
            response = await client.get(
                f"{match.group(1)}/accounts/{account}/dex/commands/devices",
                params={"page": 1, "per_page": 10},
            )
        assert response.status_code == 200, response.text
        return line, response.json()["result"]["devices"]
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), timeout=20) == 0


async def test_simulate_with_local_defaults() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    line, devices = await run_and_query(env, LOCAL_SIM_TOKEN, LOCAL_SIM_ACCOUNT)
    assert LOCAL_SIM_ACCOUNT in line and LOCAL_SIM_TOKEN in line
    assert "ann-macbook" in {d["deviceName"] for d in devices}


async def test_simulate_never_prints_a_token_from_the_environment() -> None:
    secret, account = "cf-secret-token-do-not-print", "ab" * 16
    env = {**os.environ, "CLOUDFLARE_API_TOKEN": secret, "CLOUDFLARE_ACCOUNT_ID": account}
    line, devices = await run_and_query(env, secret, account)
    assert secret not in line
    assert "CLOUDFLARE_API_TOKEN" in line and account in line
    assert len(devices) == 8
