"""Benchmark: ``dexbot serve`` from exec to the first 200 on ``/healthz``.

Each run execs the ``dexbot`` console script of this interpreter's environment (falling
back to ``python -m bot``) with a SQLite database, the DEX simulator and the fake Slack
(both in this process, on loopback), then polls ``/healthz`` every 2 ms until it answers
200, and stops the process with SIGTERM. Two cases: a database already at the newest
schema (a restart, the usual case) and a fresh one (first start: migrations run before
the web server listens). Also prints the slowest imports of that start-up, from
``python -X importtime``.

    python bench/bench_startup.py --runs 9
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bot.sim.dex import DexSimulator
from bot.sim.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, FakeSlack


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dexbot_argv() -> list[str]:
    """How a deployment starts the bot: the console script, else ``python -m bot``."""
    script = Path(sys.executable).with_name("dexbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def environment(sim: DexSimulator, slack: FakeSlack, db: Path) -> dict[str, str]:
    """The process environment: ours minus any bot settings, plus the stand-ins'."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDFLARE_", "DEX_", "DATABASE_"))
    }
    env.update(
        SLACK_BOT_TOKEN=FAKE_BOT_TOKEN,
        SLACK_SIGNING_SECRET=FAKE_SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        CLOUDFLARE_API_URL=sim.base_url,
        CLOUDFLARE_API_TOKEN=sim.token,
        CLOUDFLARE_ACCOUNT_ID=sim.account_id,
        DATABASE_URL=f"sqlite+aiosqlite:///{db}",
        DEX_REQUESTERS="S0SUPPORT",
        DEX_APPROVERS="S0MANAGER",
    )
    return env


async def time_to_healthy(env: dict[str, str], cwd: Path) -> float:
    """Seconds from exec to the first 200 on /healthz."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    async with httpx.AsyncClient(timeout=1) as http:
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *dexbot_argv(), "serve", "--port", str(port),
            env=env, cwd=str(cwd),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while True:
                try:
                    if (await http.get(url)).status_code == 200:
                        return time.perf_counter() - t0
                except httpx.TransportError:
                    pass
                if proc.returncode is not None:
                    raise RuntimeError(f"dexbot serve exited with {proc.returncode}")
                await asyncio.sleep(0.002)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            await proc.wait()


def slowest_imports(env: dict[str, str], cwd: Path, top: int) -> list[tuple[int, str]]:
    """The ``top`` largest cumulative import times (us) of the modules ``serve`` loads."""
    code = "import bot.cli, bot.runners, bot.logs, bot.web"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env, cwd=str(cwd), capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    rows: list[tuple[int, str]] = []
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        if not name.startswith(" "):  # top-level imports only: nested ones are inside them
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:top]


async def main(runs: int) -> None:
    """Start ``dexbot serve`` ``runs`` times per case and print median and min."""
    work = Path(tempfile.mkdtemp(prefix="dexbench-startup-"))
    sim = DexSimulator(seed=1, speed=0)
    await sim.start()
    slack = await FakeSlack(files_dir=work / "slack-files").start()
    try:
        migrated = work / "migrated.db"
        env = environment(sim, slack, migrated)
        argv = [*dexbot_argv(), "migrate"]
        await asyncio.to_thread(subprocess.run, argv, env=env, cwd=work, check=True)
        warm = [await time_to_healthy(env, work) for _ in range(runs)]
        cold = []
        for i in range(runs):
            cold.append(await time_to_healthy(environment(sim, slack, work / f"{i}.db"), work))
        print(f"command           {' '.join(dexbot_argv())} serve   ({runs} runs per case)")
        for name, times in (("migrated DB", warm), ("fresh DB", cold)):
            print(
                f"{name:17} median {statistics.median(times):.3f} s, min {min(times):.3f} s"
                f"  ({', '.join(f'{t:.2f}' for t in times)})"
            )
        print("slowest top-level imports (cumulative, python -X importtime):")
        for us, name in await asyncio.to_thread(slowest_imports, env, work, 8):
            print(f"  {us / 1000:7.1f} ms  {name}")
    finally:
        await slack.stop()
        await sim.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="starts per case")
    asyncio.run(main(parser.parse_args().runs))
