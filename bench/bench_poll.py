"""Benchmark: what one poll cycle costs at 10, 100, 1,000 and 5,000 in-flight commands.

For each size it starts the DEX simulator in-process (clock frozen), seeds it and a SQLite
file database directly with that many dispatched commands (ten per request, as the create
call allows), optionally adds ``--foreign`` commands made by others in the same window, and
runs two ``Poller.cycle()`` passes, on SQLite and on PostgreSQL (a throw-away database on
``--pg``, dropped afterwards),: a quiet one (nothing changed: the pure polling cost), then
one after moving the simulated clock so that every command changed status (each change
recorded with its outbox rows, ``BATCH`` changes a transaction). It prints Cloudflare
requests and wall time for both.

    python bench/bench_poll.py
    python bench/bench_poll.py --sizes 100 1000 --foreign 500 --engines sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bot.app import build_services
from bot.config import Settings
from bot.sim.dex import DexSimulator
from bot.sim.dex.state import Command
from bot.store.commands import CommandStore
from bot.store.db import migrate
from bot.store.tables import CaptureRequestRow, DexCommandRow
from bot.worker.poller import BATCH, PER_PAGE, Poller, page_cap


def seed_sim(sim: DexSimulator, count: int, start: datetime) -> list[Command]:
    """``count`` pcap commands on the eligible devices, one millisecond apart."""
    devices = [d for d in sim.state.devices if d.eligible]
    made = []
    for i in range(count):
        device = devices[i % len(devices)]
        reg = device.registrations[0]
        created = start + timedelta(milliseconds=i)
        command = Command(
            id=str(uuid.uuid4()),
            type="pcap",
            device_id=device.device_id,
            user_email=reg.email,
            registration_id=reg.registration_id,
            args={},
            created=created,
            timeline=[
                (created, "PENDING_EXEC"),
                (created + timedelta(seconds=20), "PENDING_UPLOAD"),
                (created + timedelta(seconds=40), "SUCCESS"),
            ],
            seq=len(sim.state.commands),
        )
        sim.state.commands.append(command)
        made.append(command)
    return made


async def seed_store(services: object, commands: list[Command], now: datetime) -> None:
    """One DISPATCHED request per ten commands, with the commands as the poller left them."""
    sessions = services.requests.sessions  # type: ignore[attr-defined]
    async with sessions() as s, s.begin():
        for n in range(0, len(commands), 10):
            batch = commands[n : n + 10]
            rid = uuid.uuid4().hex
            s.add(
                CaptureRequestRow(
                    id=rid,
                    team_id="T0BENCH",
                    channel_id="C0BENCH",
                    requester_id="U0BENCH",
                    target_user_id=None,
                    target_email=batch[0].user_email,
                    command_type="pcap",
                    args={},
                    devices=[{"device_id": c.device_id, "name": c.device_id} for c in batch],
                    reason="bench",
                    state="dispatched",
                    created_at=now,
                    updated_at=now,
                    expires_at=now + timedelta(hours=1),
                    parent_channel="C0BENCH",
                    parent_ts="1.000001",
                    card_channel=None,
                    card_ts=None,
                    error=None,
                    dispatch_attempts=1,
                    dispatch_started_at=now,
                )
            )
            await s.flush()
            for c in batch:
                s.add(
                    DexCommandRow(
                        command_id=c.id,
                        request_id=rid,
                        device_id=c.device_id,
                        registration_id=c.registration_id,
                        user_email=c.user_email,
                        command_type="pcap",
                        status="PENDING_EXEC",
                        created_date=c.created,
                        completed_date=None,
                        filename=None,
                        status_changed_at=now,
                        stale_flagged=False,
                    )
                )


@contextlib.asynccontextmanager
async def database(engine: str, work: Path, count: int, pg: str) -> AsyncIterator[str]:
    """A fresh database URL on ``engine``; a PostgreSQL one is dropped afterwards."""
    if engine == "sqlite":
        yield f"sqlite+aiosqlite:///{work}/poll-{count}.db"
        return
    name = f"dexbench_poll_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg, timeout=5)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def one_size(count: int, foreign: int, db_url: str) -> dict[str, float]:
    """Seed ``count`` in-flight commands; time a quiet cycle and a cycle of changes."""
    sim = DexSimulator(seed=1, speed=0, filler=40)
    base_url = await sim.start()
    now = sim.clock.now()
    ours = seed_sim(sim, count, now - timedelta(seconds=10))
    seed_sim(sim, foreign, now - timedelta(seconds=4))  # others' commands, newer than ours
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-bench",
        cloudflare_api_url=base_url,
        cloudflare_api_token=sim.token,
        cloudflare_account_id=sim.account_id,
        database_url=db_url,
    )
    services = build_services(settings, clock=sim.clock.now)
    try:
        await migrate(services.engine)
        await seed_store(services, ours, now)
        poller = Poller(services, CommandStore(services.requests.sessions))

        sim.requests.clear()
        t0 = time.perf_counter()
        quiet = await poller.cycle()
        quiet_s = time.perf_counter() - t0
        quiet_requests = len(sim.requests)
        assert quiet.changes == 0 and quiet.in_flight == count, quiet

        sim.clock.advance(15)  # every command has now been picked up: PENDING_UPLOAD
        sim.requests.clear()
        t0 = time.perf_counter()
        busy = await poller.cycle()
        busy_s = time.perf_counter() - t0
        busy_requests = len(sim.requests)
        assert busy.changes == count, busy
    finally:
        await services.dex.aclose()
        await services.engine.dispose()
        await sim.stop()
    return {
        "count": count,
        "pages_min": math.ceil(count / PER_PAGE),
        "cap": page_cap(count),
        "quiet_requests": quiet_requests,
        "quiet_s": quiet_s,
        "busy_requests": busy_requests,
        "busy_s": busy_s,
    }


async def main(sizes: list[int], foreign: int, engines: list[str], pg: str) -> None:
    """Run every size on every engine and print one row each."""
    work = Path(tempfile.mkdtemp(prefix="dexbench-poll-"))
    try:
        print(f"foreign commands in the window: {foreign}; changes per transaction: {BATCH}")
        print(
            "engine      in-flight  ceil(n/50)  cap  quiet: requests  time     "
            "all changed: requests  time     per change"
        )
        for engine in engines:
            for n in sizes:
                async with database(engine, work, n, pg) as url:
                    r = await one_size(n, foreign, url)
                print(
                    f"{engine:<10}  {n:>9,}  {r['pages_min']:>10}  {r['cap']:>3}  "
                    f"{r['quiet_requests']:>15}  "
                    f"{r['quiet_s'] * 1000:>6.0f} ms  {r['busy_requests']:>21}  "
                    f"{r['busy_s']:>6.2f} s   {r['busy_s'] / n * 1000:.2f} ms"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 5000])
    parser.add_argument("--foreign", type=int, default=0, help="others' commands in the window")
    parser.add_argument(
        "--engines", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin database"
    )
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.foreign, args.engines, args.pg))
