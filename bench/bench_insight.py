"""Benchmark: summarise a 50 MB pcap artifact and a 100 MB warp-diag bundle.

Builds both with the DEX simulator's artifact writer into a temporary directory (not timed),
then times ``bot.insight.summarize`` on each and prints wall time and the growth of this
process's resident memory over its baseline (psutil, sampled every 20 ms from a thread).
The pcap uses Cloudflare's default snap length (160 bytes), the worst case: the most packets
per MB.

    .venv/bin/python bench/bench_insight.py --pcap-mb 50 --diag-mb 100 [--snaplen 160]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bot.insight import PcapSummary, SummaryBudget, WarpDiagSummary, summarize
from bot.sim.dex.artifacts import build_artifact
from bot.sim.dex.state import Command


def command(kind: str, args: dict[str, object]) -> Command:
    """A finished simulator command of ``kind``."""
    now = datetime(2026, 3, 10, 10, 40, tzinfo=UTC)
    return Command(
        "5758fefe-8e4c-4bd0-9a8c-2f9b0c1d2e3f", kind, "d1", "ann@example.com", "r1",
        args, now, [(now, "SUCCESS")],
    )  # fmt: skip


def measure(kind: str, path: Path) -> tuple[float, float, float, object]:
    """Summarise ``path``; return (wall s, CPU s, peak RSS growth in MiB, summary).

    CPU time is printed too: on a shared machine it moves less than wall time.
    """
    proc = psutil.Process(os.getpid())
    baseline = proc.memory_info().rss
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], proc.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0, c0 = time.perf_counter(), time.thread_time()
    summary = summarize(kind, path, limits=SummaryBudget(time_budget_s=600, packet_budget=10**9))
    elapsed, cpu = time.perf_counter() - t0, time.thread_time() - c0
    stop.set()
    sampler.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    return elapsed, cpu, (peak[0] - baseline) / 2**20, summary


def main() -> None:
    """Build the artifacts, summarise each once, print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pcap-mb", type=int, default=50)
    parser.add_argument("--diag-mb", type=int, default=100)
    parser.add_argument("--snaplen", type=int, default=160)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dexbench-insight-"))
    try:
        pcap = work / "pcap.zip"
        build_artifact(pcap, command("pcap", {"packet-size-bytes": args.snaplen}),
                       args.pcap_mb * 10**6, "SJC")  # fmt: skip
        diag = work / "diag.zip"
        build_artifact(diag, command("warp-diag", {}), args.diag_mb * 10**6, "SJC")
        elapsed, cpu, growth, summary = measure("pcap", pcap)
        assert isinstance(summary, PcapSummary), summary
        packets = sum(i.stats.packets for i in summary.interfaces if i.stats)
        print(f"pcap zip          {pcap.stat().st_size:,} bytes, snaplen {args.snaplen}")
        print(f"pcap packets      {packets:,}")
        print(
            f"pcap summarise    {elapsed:.2f} s wall, {cpu:.2f} s CPU"
            f" ({packets / cpu:,.0f} packets per CPU second)"
        )
        print(f"pcap RSS growth   {growth:.1f} MiB")
        elapsed, cpu, growth, summary = measure("warp-diag", diag)
        assert isinstance(summary, WarpDiagSummary), summary
        print(f"warp-diag zip     {diag.stat().st_size:,} bytes")
        print(
            f"warp-diag summary {elapsed:.2f} s wall, {cpu:.2f} s CPU,"
            f" {len(summary.findings)} findings"
        )
        print(f"warp-diag RSS     {growth:.1f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
