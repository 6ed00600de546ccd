"""Benchmark: relay a large artifact from Cloudflare (the simulator) into a Slack thread (the
fake Slack Web API) with ``bot.worker.artifacts.ArtifactRelay``: streamed download to a
temporary file with its SHA-256, ``files.getUploadURLExternal``, a streamed POST of the bytes
with ``Content-Length``, ``files.completeUploadExternal`` into the thread.

Everything runs in this process over loopback HTTP: simulator, fake Slack and bot. The
simulator builds the ZIP before the clock starts, so only the relay is timed. Memory is the
growth of the process's RSS over the baseline (psutil, sampled every 20 ms), which includes
the simulator and the fake Slack receiving the upload.

    /work/venv/bin/python bench/bench_relay.py --mb 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psutil

from bot.app import create_app
from bot.config import Settings
from bot.dex import CommandSpec, CommandType, DexClient
from bot.sim.dex import DexSimulator
from bot.sim.people import SUPPORT_CHANNEL
from bot.sim.slack import FAKE_BOT_TOKEN, FakeSlack
from bot.store.db import migrate
from bot.store.outbox import OutboxItem
from bot.store.tables import CaptureRequestRow


async def sample_rss(proc: psutil.Process, peak: list[int], stop: asyncio.Event) -> None:
    """Record the highest RSS seen until ``stop`` is set."""
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.02)


async def main(mb: int) -> None:
    """Relay one ``mb``-MiB artifact and print the figures."""
    work = Path(tempfile.mkdtemp(prefix="dexbench-relay-"))
    sim = DexSimulator(seed=1, speed=0)
    base_url = await sim.start()
    slack = await FakeSlack(files_dir=work / "slack-files").start()
    settings = Settings(
        _env_file=None,
        slack_bot_token=FAKE_BOT_TOKEN,
        slack_api_url=slack.api_url,
        cloudflare_api_url=base_url,
        cloudflare_api_token=sim.token,
        cloudflare_account_id=sim.account_id,
        database_url=f"sqlite+aiosqlite:///{work}/relay.db",
        dex_artifact_dir=str(work),
    )
    bot = create_app(settings, clock=sim.clock.now)
    try:
        await migrate(bot.services.engine)
        async with DexClient(base_url, sim.token, sim.account_id) as client:
            [ann] = [d async for d in client.iter_devices("ann-macbook")]
            assert ann.person_email
            spec = CommandSpec(
                device_id=ann.device_id, user_email=ann.person_email, type=CommandType.PCAP
            )
            [created] = await client.create_commands([spec])
        sim.clock.advance(60)
        sim.configure({"artifact_bytes": mb * 1024 * 1024})
        command = sim.state.command(created.id)
        assert command is not None
        t0 = time.perf_counter()
        await sim.artifacts.path_for(command, sim.config.artifact_bytes, "SJC")
        built = time.perf_counter() - t0

        parent = await bot.services.slack.chat_postMessage(channel=SUPPORT_CHANNEL, text="bench")
        rid = uuid.uuid4().hex
        now = sim.clock.now()
        async with bot.services.requests.sessions() as s, s.begin():
            s.add(
                CaptureRequestRow(
                    id=rid, team_id="T0", channel_id=SUPPORT_CHANNEL, requester_id="U0",
                    target_user_id=None, target_email=ann.person_email, command_type="pcap",
                    args={}, devices=[], reason="bench", state="dispatched", created_at=now,
                    updated_at=now, expires_at=now + timedelta(hours=1),
                    parent_channel=SUPPORT_CHANNEL, parent_ts=str(parent["ts"]),
                    card_channel=None, card_ts=None, error=None, dispatch_attempts=1,
                    dispatch_started_at=now,
                )
            )  # fmt: skip
        req = await bot.services.requests.get(rid)
        assert req is not None and bot.services.deliverer.upload is not None
        item = OutboxItem(
            key=f"{rid}:upload:{created.id}",
            request_id=rid,
            kind="upload",
            payload={
                "command_id": created.id,
                "filename": command.filename,
                "command_type": "pcap",
            },
            attempts=1,
            interrupted=False,
            result=None,
        )

        proc = psutil.Process(os.getpid())
        baseline = proc.memory_info().rss
        peak = [baseline]
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(proc, peak, stop))
        t0 = time.perf_counter()
        result = await bot.services.deliverer.upload(item, req)
        elapsed = time.perf_counter() - t0
        stop.set()
        await sampler

        [shared] = [f for f in slack.files() if f.shares]
        assert shared.sha256 == result["sha256"], "Slack got other bytes than Cloudflare sent"
        size = int(result["size"])
        print(f"artifact          {size:,} bytes ({size / 2**20:.0f} MiB)")
        print(f"artifact build    {built:.1f} s (simulator, not timed below)")
        print(f"relay             {elapsed:.2f} s, {size / 1e6 / elapsed:.0f} MB/s")
        print("                  (download to disk + upload from disk, one after the other)")
        print(f"RSS baseline      {baseline / 2**20:.1f} MiB")
        print(f"peak RSS growth   {(peak[0] - baseline) / 2**20:.1f} MiB")
        print(f"sha256            {result['sha256']} (matches what Slack received)")
    finally:
        await bot.aclose()
        await slack.stop()
        await sim.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="artifact size in MiB")
    asyncio.run(main(parser.parse_args().mb))
