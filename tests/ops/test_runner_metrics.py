"""``/metrics`` from the real runners: ``dexbot worker`` and ``dexbot serve --no-worker`` as two
processes on one database (replicas), and ``dexbot socket`` in-process over the fake socket."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bot.runners import run_socket_mode
from bot.sim.people import SAM
from bot.sim.slack import FakeSlack
from bot.sim.world import free_port
from tests.app.test_socket_mode import slash, socket_settings
from tests.ops.conftest import Scrape, process_env, scrape, wait_until
from tests.plugins.dexsim import SimHandle


@contextlib.asynccontextmanager
async def dexbot_process(
    args: list[str], env: dict[str, str], cwd: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m bot ARGS`` until the block ends (then SIGTERM, as systemd would)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=str(cwd),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(cwd / f"{args[0]}.log").open("wb"),
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=20)


async def scrape_when_up(http: httpx.AsyncClient, url: str) -> Scrape:
    """The first scrape once the process listens."""

    async def attempt() -> Scrape | None:
        try:
            return await scrape(http, url)
        except httpx.TransportError:
            return None

    result: Scrape = await wait_until(attempt, deadline=30)
    return result


async def test_replicas_export_database_gauges_once(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/shared.db"
    worker_port, serve_port = free_port(), free_port()
    worker_env = process_env(dex_sim, fake_slack, db, WORKER_HEALTH_PORT=str(worker_port))
    serve_env = process_env(dex_sim, fake_slack, db)
    # Migrate once before the replicas start, as a deployment would: two processes creating
    # the same SQLite schema at once race each other (one of them fails on "already exists").
    async with dexbot_process(["migrate"], serve_env, tmp_path) as migrating:
        assert await asyncio.wait_for(migrating.wait(), timeout=60) == 0
    async with (
        dexbot_process(["worker"], worker_env, tmp_path),
        dexbot_process(["serve", "--no-worker", "--port", str(serve_port)], serve_env, tmp_path),
        httpx.AsyncClient(timeout=10) as http,
    ):
        worker_url = f"http://127.0.0.1:{worker_port}/metrics"
        serve_url = f"http://127.0.0.1:{serve_port}/metrics"
        await scrape_when_up(http, worker_url)

        async def worker_leads() -> Scrape | None:
            got = await scrape(http, worker_url)
            return got if got.value("dexbot_poller_lease_held") == 1 else None

        worker = await wait_until(worker_leads)
        serve = await scrape_when_up(http, serve_url)
        assert worker.value("dexbot_outbox_depth") == 0
        assert worker.value("dexbot_commands_in_flight") == 0
        assert serve.value("dexbot_poller_lease_held") == 0
        assert serve.value("dexbot_store_up") == 1
        assert not serve.has("dexbot_outbox_depth")  # the worker alone reports the outbox
        # The worker polls nothing yet (no commands in flight), but its health check read
        # the database and each process counts only its own Cloudflare requests.
        assert (await http.get(f"http://127.0.0.1:{worker_port}/readyz")).status_code == 200
        after = await scrape(http, worker_url)
        assert after.value(
            "dexbot_cloudflare_calls_total",
            method="GET",
            endpoint="/dex/commands/quota",
            status="200",
        ) == after.value("dexbot_cloudflare_rate_budget_used")


async def test_socket_mode_serves_metrics_and_times_acks(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    settings = socket_settings(dex_sim, fake_slack, tmp_path, port)
    bot = asyncio.create_task(run_socket_mode(settings, worker=False))
    try:
        await fake_slack.wait_socket_connected(timeout=15)
        assert "commands left" in (await slash(fake_slack, "quota", SAM)).lower()
        async with httpx.AsyncClient(timeout=10) as http:
            got = await scrape(http, f"http://127.0.0.1:{port}/metrics")
        assert got.value("dexbot_ack_latency_seconds_count", kind="command") == 1
        assert (
            got.value("dexbot_slack_calls_total", method="apps.connections.open", error="ok") == 2
        )
        assert got.value(
            "dexbot_cloudflare_calls_total",
            method="GET",
            endpoint="/dex/commands/quota",
            status="200",
        ) == len(await dex_sim.requests("GET", "/quota"))
    finally:
        bot.cancel()
        await asyncio.gather(bot, return_exceptions=True)
