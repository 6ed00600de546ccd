"""Benchmark: relay a large artifact from Cloudflare (the simulator) into a Slack thread (the
fake Slack Web API), the bot's way and a plain pipe's way, side by side in one run.

- bot: ``bot.worker.artifacts.ArtifactRelay`` as the deliverer calls it: the download
  streamed to a temporary file with its SHA-256 and, when Cloudflare gives the length, the
  upload running beside it (``files.getUploadURLExternal``, a POST of the bytes with
  ``Content-Length``, ``files.completeUploadExternal`` into the thread). Timed from the
  call, i.e. before the first download request, to the completed upload.
- pipe: ``curl`` from the simulator's download URL piped into ``curl`` POSTing to a fake
  Slack upload URL (reserved before the clock starts): the same bytes over the same loopback,
  with nothing kept on disk and no Slack API calls.

The simulator and the fake Slack run in a child process (this script with ``--serve``), so
both relays meet the same servers and neither shares an interpreter with them. The simulator
builds the ZIP before the clock starts. Memory is the growth of this process's RSS (the bot
alone) over the baseline, sampled every 20 ms with psutil. Each relay's bytes are checked
against the SHA-256 the fake Slack computed on what it received.

    python bench/bench_relay.py --mb 500 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

SUPPORT_CHANNEL = "C0SUPPORT"


async def serve(mb: int) -> None:
    """Child process: run the simulator and the fake Slack; answer queries on stdin."""
    from bot.dex import CommandSpec, CommandType, DexClient
    from bot.sim.dex import DexSimulator
    from bot.sim.slack import FakeSlack

    work = Path(tempfile.mkdtemp(prefix="dexbench-serve-"))
    sim = DexSimulator(seed=1, speed=0)
    base_url = await sim.start()
    slack = await FakeSlack(files_dir=work / "slack-files").start()
    try:
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
        info = {
            "dex_url": base_url,
            "token": sim.token,
            "account": sim.account_id,
            "slack_api_url": slack.api_url,
            "command_id": created.id,
            "filename": command.filename,
            "email": ann.person_email,
            "download_url": f"{base_url}/accounts/{sim.account_id}/dex/commands/"
            f"{created.id}/downloads/{command.filename}",
            "built": time.perf_counter() - t0,
        }
        print(json.dumps(info), flush=True)
        loop = asyncio.get_running_loop()
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            f = slack.workspace.files.get(line)
            answer = {"sha256": f.sha256, "size": f.size, "shared": bool(f.shares)} if f else {}
            print(json.dumps(answer), flush=True)
            if f is not None and f.path is not None:
                f.path.unlink(missing_ok=True)  # keep the disk from filling over the runs
    finally:
        await slack.stop()
        await sim.stop()
        shutil.rmtree(work, ignore_errors=True)


async def sample_rss(proc: psutil.Process, peak: list[int], stop: asyncio.Event) -> None:
    """Record the highest RSS seen until ``stop`` is set."""
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.02)


class Servers:
    """The ``--serve`` child: its announcement, and file look-ups by id."""

    def __init__(self, proc: asyncio.subprocess.Process, info: dict[str, Any]) -> None:
        self.proc = proc
        self.info = info

    @classmethod
    async def start(cls, mb: int) -> Servers:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", "--mb", str(mb),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        return cls(proc, json.loads(await proc.stdout.readline()))

    async def file(self, file_id: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{file_id}\n".encode())
        await self.proc.stdin.drain()
        return dict(json.loads(await self.proc.stdout.readline()))

    async def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        await self.proc.wait()


async def pipe_once(srv: Servers, slack: Any, size: int) -> tuple[float, float]:
    """``curl | curl`` of the artifact into a fresh upload URL: seconds taken, CPU seconds."""
    got = await slack.files_getUploadURLExternal(filename="pipe.zip", length=size)
    down = shlex.join(
        ["curl", "-sSf", "-H", f"Authorization: Bearer {srv.info['token']}",
         srv.info["download_url"]]
    )  # fmt: skip
    up = shlex.join(
        ["curl", "-sSf", "-o", "/dev/null", "-X", "POST", "-T", "-",
         "-H", f"Content-Length: {size}", "-H", "Transfer-Encoding:", "-H", "Expect:",
         "-H", "Content-Type: application/octet-stream",
         str(got["upload_url"])]
    )  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_shell(
        f"set -o pipefail; {down} | {up}", executable="/bin/bash"
    )
    rc = await proc.wait()
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    assert rc == 0, f"curl | curl failed ({rc})"
    received = await srv.file(str(got["file_id"]))
    assert received.get("size") == size, f"the pipe delivered {received}"
    return elapsed, cpu


async def main(mb: int, runs: int) -> None:
    """Relay one ``mb``-MiB artifact ``runs`` times each way, interleaved; print the figures."""
    from bot.app import build_services
    from bot.config import Settings
    from bot.domain.lifecycle import Effect, EffectKind, Event
    from bot.sim.slack import FAKE_BOT_TOKEN
    from bot.store.db import migrate
    from bot.store.outbox import OutboxItem
    from bot.store.tables import CaptureRequestRow

    srv = await Servers.start(mb)
    info = srv.info
    work = Path(tempfile.mkdtemp(prefix="dexbench-relay-"))
    settings = Settings(
        _env_file=None,
        slack_bot_token=FAKE_BOT_TOKEN,
        slack_api_url=info["slack_api_url"],
        cloudflare_api_url=info["dex_url"],
        cloudflare_api_token=info["token"],
        cloudflare_account_id=info["account"],
        database_url=f"sqlite+aiosqlite:///{work}/relay.db",
        dex_artifact_dir=str(work),
    )
    services = build_services(settings)
    try:
        await migrate(services.engine)
        slack = services.slack
        parent = await slack.chat_postMessage(channel=SUPPORT_CHANNEL, text="bench")
        rid = uuid.uuid4().hex
        now = datetime.now(UTC)
        async with services.requests.sessions() as s, s.begin():
            s.add(
                CaptureRequestRow(
                    id=rid, team_id="T0", channel_id=SUPPORT_CHANNEL, requester_id="U0",
                    target_user_id=None, target_email=info["email"], command_type="pcap",
                    args={}, devices=[], reason="bench", state="dispatched", created_at=now,
                    updated_at=now, expires_at=now + timedelta(hours=1),
                    parent_channel=SUPPORT_CHANNEL, parent_ts=str(parent["ts"]),
                    card_channel=None, card_ts=None, error=None, dispatch_attempts=1,
                    dispatch_started_at=now,
                )
            )  # fmt: skip
        req = await services.requests.get(rid)
        upload = services.deliverer.upload
        assert req is not None and upload is not None

        proc = psutil.Process(os.getpid())
        bot_times: list[float] = []
        pipe_times: list[float] = []
        growths: list[float] = []
        cpus: list[float] = []
        pipe_cpus: list[float] = []
        size = 0
        for run in range(runs):
            effect = Effect(
                EffectKind.UPLOAD,
                rid,
                Event.COMMAND_STATUS,
                tag=f"{info['command_id']}:{run}",
                facts={
                    "command_id": info["command_id"],
                    "filename": info["filename"],
                    "command_type": "pcap",
                },
            )
            item = OutboxItem(
                key=effect.key, effect=effect, attempts=1, interrupted=False, result=None
            )
            baseline = proc.memory_info().rss
            peak = [baseline]
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(proc, peak, stop))
            cpu0 = proc.cpu_times()
            t0 = time.perf_counter()
            result = await upload(item, req)
            bot_times.append(time.perf_counter() - t0)
            cpu1 = proc.cpu_times()
            cpus.append(cpu1.user - cpu0.user + cpu1.system - cpu0.system)
            stop.set()
            await sampler
            growths.append((peak[0] - baseline) / 2**20)
            received = await srv.file(str(result["file_id"]))
            assert received.get("shared"), "the bot's upload was not shared"
            assert received.get("sha256") == result["sha256"], "Slack got other bytes"
            size = int(result["size"])
            took, cpu = await pipe_once(srv, slack, size)
            pipe_times.append(took)
            pipe_cpus.append(cpu)

        bot_t, pipe_t = statistics.median(bot_times), statistics.median(pipe_times)
        print(f"artifact          {size:,} bytes ({size / 2**20:.0f} MiB), {runs} runs each")
        print(f"artifact build    {info['built']:.1f} s (simulator, not timed)")
        print(f"bot relay         median {bot_t:.2f} s ({size / 1e6 / bot_t:.0f} MB/s); "
              + ", ".join(f"{t:.2f}" for t in bot_times))  # fmt: skip
        print(f"curl | curl       median {pipe_t:.2f} s ({size / 1e6 / pipe_t:.0f} MB/s); "
              + ", ".join(f"{t:.2f}" for t in pipe_times))  # fmt: skip
        print("bot CPU time      " + ", ".join(f"{c:.2f}" for c in cpus) + " s (all threads)")
        print("curl CPU time     " + ", ".join(f"{c:.2f}" for c in pipe_cpus) + " s (both curls)")
        print(f"bot / pipe speed  {pipe_t / bot_t:.2f}x (median times)")
        print(f"peak RSS growth   max {max(growths):.1f} MiB (bot process only); "
              + ", ".join(f"{g:.1f}" for g in growths))  # fmt: skip
        print("sha256            every relay matched what Slack received")
    finally:
        await services.aclose()
        await srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="artifact size in MiB")
    parser.add_argument("--runs", type=int, default=3, help="relays each way, interleaved")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    asyncio.run(serve(args.mb) if args.serve else main(args.mb, args.runs))
