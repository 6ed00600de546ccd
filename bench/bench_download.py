"""Benchmark: stream a large DEX artifact to disk with ``DexClient.download_artifact``.

Starts the DEX simulator in-process on a loopback port, creates a pcap command, moves the
simulated clock until it succeeds, makes its artifact ``--mb`` MB, builds that file up front
(so only the download is timed), then downloads it and prints throughput and the growth of
this process's resident memory (psutil, sampled every 20 ms), which includes the simulator.

    /work/venv/bin/python bench/bench_download.py --mb 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import psutil

from bot.dex import CommandSpec, CommandType, DexClient
from bot.sim.dex import DexSimulator


async def sample_rss(proc: psutil.Process, peak: list[int], stop: asyncio.Event) -> None:
    """Record the highest RSS seen until ``stop`` is set."""
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.02)


async def main(mb: int, chunk_kib: int) -> None:
    """Run one download of an ``mb``-MB artifact and print the figures."""
    sim = DexSimulator(seed=1, speed=0)
    base_url = await sim.start()
    dest = Path(tempfile.mkdtemp(prefix="dexbench-"))
    try:
        async with DexClient(base_url, sim.token, sim.account_id) as client:
            [ann] = [d async for d in client.iter_devices("ann-macbook")]
            assert ann.person_email
            spec = CommandSpec(
                device_id=ann.device_id, user_email=ann.person_email, type=CommandType.PCAP
            )
            [created] = await client.create_commands([spec])
            sim.clock.advance(120)
            sim.configure({"artifact_bytes": mb * 1024 * 1024})
            [row] = (await client.list_commands(device_id=ann.device_id)).items
            assert row.status == "SUCCESS", row

            command = sim.state.command(created.id)
            assert command is not None
            t0 = time.perf_counter()
            await sim.artifacts.path_for(command, sim.config.artifact_bytes, "SJC")
            built = time.perf_counter() - t0

            proc = psutil.Process(os.getpid())
            baseline = proc.memory_info().rss
            peak = [baseline]
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(proc, peak, stop))
            t0 = time.perf_counter()
            got = await client.download_artifact(
                row.id, row.filename, dest, chunk_size=chunk_kib * 1024
            )
            elapsed = time.perf_counter() - t0
            stop.set()
            await sampler

        size_mb = got.size / 1e6
        print(f"artifact          {got.size:,} bytes ({got.size / 2**20:.0f} MiB)")
        print(f"artifact build    {built:.1f} s (simulator, not timed below)")
        print(f"download          {elapsed:.2f} s, {size_mb / elapsed:.0f} MB/s")
        print(f"chunk size        {chunk_kib} KiB")
        print(f"RSS baseline      {baseline / 2**20:.1f} MiB")
        print(f"peak RSS growth   {(peak[0] - baseline) / 2**20:.1f} MiB")
        print(f"sha256            {got.sha256}")
    finally:
        await sim.stop()
        shutil.rmtree(dest, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500, help="artifact size in MiB")
    parser.add_argument("--chunk-kib", type=int, default=1024, help="download chunk size")
    args = parser.parse_args()
    asyncio.run(main(args.mb, args.chunk_kib))
