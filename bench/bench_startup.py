"""Benchmark: ``dexbot serve`` from exec to the first 200 on ``/healthz``.

Each run execs ``python -m bot serve`` (what the ``dexbot`` console script runs) with
``PYTHONPATH`` set to a source tree (this repository by default), a SQLite database, the
DEX simulator and the fake Slack (both in this process, on loopback), then polls
``/healthz`` every 2 ms until it answers 200, and stops the process with SIGTERM. Two
cases: a database already at the newest schema (a restart, the usual case) and a fresh one
(first start: migrations run before the web server listens). ``--baseline DIR`` runs
another tree (say an export of ``main``) the same way, interleaved, for a before/after in
one run. Prints wall time and the CPU time of the process up to that 200 (from
``/proc/PID/schedstat``: other processes' load moves it much less), and the heaviest imports
of that start-up, from ``python -X importtime``.

Each tree's bytecode is compiled first (``python -m compileall``), as ``pip install`` does
for an installed package and as any restart finds it: without that, an environment with
``PYTHONDONTWRITEBYTECODE=1`` (this sandbox sets it) compiles every one of the bot's modules
from source on every start, about 0.1 s. ``--no-compile`` times that case.

    python bench/bench_startup.py --runs 9
    python bench/bench_startup.py --runs 9 --baseline /tmp/dexbot-main
    python bench/bench_startup.py --runs 9 --no-compile
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bot.sim.dex import DexSimulator
from bot.sim.slack import FakeSlack
from bot.sim.world import free_port, process_env

HERE = Path(__file__).resolve().parent.parent
ARGV = [sys.executable, "-m", "bot"]


def environment(sim: DexSimulator, slack: FakeSlack, db: Path, tree: Path) -> dict[str, str]:
    """The process environment: the local world's, with ``PYTHONPATH=tree`` (ahead of the
    editable install)."""
    assert sim.base_url, "the simulator is not started"
    return process_env(sim, slack, f"sqlite+aiosqlite:///{db}", PYTHONPATH=str(tree))


def cpu_seconds(pid: int) -> float:
    """CPU time the process's main thread has run so far (Linux ``schedstat``, ns): less
    moved by other processes' load than wall time; NaN where there is no /proc."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return float("nan")


async def time_to_healthy(env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Seconds from exec to the first 200 on /healthz: wall time, and the process's CPU."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    async with httpx.AsyncClient(timeout=1) as http:
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *ARGV, "serve", "--port", str(port),
            env=env, cwd=str(cwd),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while True:
                try:
                    if (await http.get(url)).status_code == 200:
                        return time.perf_counter() - t0, cpu_seconds(proc.pid)
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
    """Per top-level package, the largest cumulative import time (us) in what ``serve``
    loads (a package's figure includes what it imports in turn); the ``top`` largest."""
    # As in ``bot.cli.main``: no cyclic collection while the runners are imported.
    code = "import bot.cli, gc; gc.disable(); import bot.runners, bot.logs, bot.web"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env, cwd=str(cwd), capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    roots: dict[str, int] = {}
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split(":", 1)[1].split("|")
        root = name.strip().split(".")[0]
        roots[root] = max(roots.get(root, 0), int(cumulative))
    return sorted(((us, root) for root, us in roots.items()), reverse=True)[:top]


def compile_tree(tree: Path) -> None:
    """Write the bytecode of the tree's packages (into their ``__pycache__``, git-ignored)."""
    dirs = [str(tree / d) for d in ("bot", "handlers", "migrations")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *dirs], check=True, stdout=subprocess.DEVNULL
    )


async def main(runs: int, baseline: Path | None, *, compiled: bool = True) -> None:
    """Start ``dexbot serve`` ``runs`` times per case and tree; print median and min."""
    work = Path(tempfile.mkdtemp(prefix="dexbench-startup-"))
    sim = DexSimulator(seed=1, speed=0)
    await sim.start()
    slack = await FakeSlack(files_dir=work / "slack-files").start()
    trees = {"this tree": HERE, **({"baseline": baseline} if baseline else {})}
    try:
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for label, tree in trees.items():
            if compiled:
                await asyncio.to_thread(compile_tree, tree)
            env = environment(sim, slack, work / f"{label}.db", tree)
            argv = [*ARGV, "migrate"]
            await asyncio.to_thread(
                subprocess.run, argv, env=env, cwd=work, check=True, capture_output=True
            )
        for i in range(runs):
            for label, tree in trees.items():
                env = environment(sim, slack, work / f"{label}.db", tree)
                times.setdefault((label, "migrated DB"), []).append(
                    await time_to_healthy(env, work)
                )
                fresh = environment(sim, slack, work / f"{label}-{i}.db", tree)
                times.setdefault((label, "fresh DB"), []).append(await time_to_healthy(fresh, work))
        print(f"command           {' '.join(ARGV)} serve   ({runs} runs per case, interleaved)")
        print(
            f"bytecode          {'compiled first' if compiled else 'not compiled (--no-compile)'}"
        )
        print(f"load average      {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at the end)")
        for (label, case), both in times.items():
            got, cpu = [w for w, _ in both], [c for _, c in both]
            print(
                f"{label:10} {case:12} median {statistics.median(got):.3f} s, "
                f"min {min(got):.3f} s; CPU median {statistics.median(cpu):.3f} s, "
                f"min {min(cpu):.3f} s  (wall: {', '.join(f'{t:.2f}' for t in got)})"
            )
        print("slowest top-level imports (cumulative, python -X importtime, this tree):")
        env = environment(sim, slack, work / "x.db", HERE)
        for us, name in await asyncio.to_thread(slowest_imports, env, work, 8):
            print(f"  {us / 1000:7.1f} ms  {name}")
    finally:
        await slack.stop()
        await sim.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="starts per case")
    parser.add_argument("--baseline", type=Path, help="another source tree to time alike")
    parser.add_argument(
        "--no-compile", action="store_true", help="leave the trees' bytecode as it is"
    )
    args = parser.parse_args()
    baseline = args.baseline.resolve() if args.baseline else None
    asyncio.run(main(args.runs, baseline, compiled=not args.no_compile))
