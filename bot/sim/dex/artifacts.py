"""Command artifacts: real ZIP files, generated on first download into a temporary directory.

A pcap zip holds ``capture-default.pcap``, ``capture-tunnel.pcap`` and ``results.json``; a
warp-diag zip follows a real bundle's layout and formats (``bot/sim/dex/warpdiag.py``); a
speed-test zip holds ``results.json`` with per-interface numbers. Files are
written in chunks (ZIP_STORED) so an artifact of hundreds of MB never sits in memory, and
served from disk. ``results.json``'s layout is the simulator's own: Cloudflare does not
document it. When a capture fails (``partial_success``), its ``.pcap`` is left out.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bot.sim.dex.clock import isoformat
from bot.sim.dex.pcap import write_pcap
from bot.sim.dex.state import Command
from bot.sim.dex.warpdiag import write_bundle


class ArtifactStore:
    """ZIP artifacts on disk, one per command, built once; ``close()`` deletes them all."""

    def __init__(self) -> None:
        self._dir: Path | None = None  # made on first download, so idle simulators leave nothing
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def directory(self) -> Path | None:
        """Where the artifacts are written; None until the first download."""
        return self._dir

    def _ensure_dir(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="dexsim-artifacts-"))
        return self._dir

    async def path_for(self, command: Command, size: int, colo: str) -> Path:
        """The artifact's path, generating it (off the event loop) the first time."""
        lock = self._locks.setdefault(command.id, asyncio.Lock())
        async with lock:
            directory = self._ensure_dir()
            path = directory / command.filename
            if not path.exists():
                partial = directory / (command.filename + ".part")
                await asyncio.to_thread(build_artifact, partial, command, size, colo)
                partial.rename(path)
            return path

    def clear(self) -> None:
        """Delete every artifact."""
        self.close()
        self._locks.clear()

    def close(self) -> None:
        """Delete the directory and everything in it."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def build_artifact(path: Path, command: Command, size: int, colo: str) -> None:
    """Write ``command``'s ZIP to ``path``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        if command.type == "pcap":
            _pcap_zip(zf, command, size)
        elif command.type == "warp-diag":
            _warp_diag_zip(zf, command, size, colo)
        else:
            _speed_test_zip(zf, command)


def _pcap_zip(zf: zipfile.ZipFile, command: Command, size: int) -> None:
    start_us = int(command.created.timestamp() * 1_000_000)
    snaplen = int(command.args.get("packet-size-bytes", 160))
    captures: list[dict[str, Any]] = []
    plan = [("default", "192.168.1.23", size * 2 // 3), ("tunnel", "172.16.0.2", size // 3)]
    for index, (interface, local_ip, share) in enumerate(plan):
        name = f"capture-{interface}.pcap"
        if interface == "tunnel" and command.partial:
            captures.append(
                {
                    "interface": interface,
                    "file": name,
                    "success": False,
                    "error": "capture on the tunnel interface failed: interface not available",
                }
            )
            continue
        with zf.open(name, "w", force_zip64=share > 1 << 30) as out:
            written = write_pcap(
                out,
                share,
                start_us=start_us,
                local_ip=local_ip,
                snaplen=snaplen,
                seed=int(command.id[:8], 16) + index,
            )
        captures.append({"interface": interface, "file": name, "success": True, "bytes": written})
    results = {
        "command_id": command.id,
        "type": "pcap",
        "started": isoformat(command.created),
        "args": command.args,
        "captures": captures,
    }
    zf.writestr("results.json", json.dumps(results, indent=2))


def _warp_diag_zip(zf: zipfile.ZipFile, command: Command, size: int, colo: str) -> None:
    files = write_bundle(zf, command.id, command.created, size, colo)
    summary = {
        "command_id": command.id,
        "type": "warp-diag",
        "args": command.args,
        "files": files,
    }
    zf.writestr("results.json", json.dumps(summary, indent=2))


def _speed_test_zip(zf: zipfile.ZipFile, command: Command) -> None:
    """Per-interface numbers; the tunnel is a little slower and further than default."""
    rng = random.Random(command.id)
    default = {
        "download_mbps": round(rng.uniform(200, 900), 1),
        "upload_mbps": round(rng.uniform(40, 300), 1),
        "latency_ms": round(rng.uniform(5, 25), 1),
        "jitter_ms": round(rng.uniform(0.3, 4), 1),
        "loss_pct": 0.0,
    }
    tunnel = {
        "download_mbps": round(default["download_mbps"] * rng.uniform(0.5, 0.95), 1),
        "upload_mbps": round(default["upload_mbps"] * rng.uniform(0.6, 0.98), 1),
        "latency_ms": round(default["latency_ms"] + rng.uniform(2, 15), 1),
        "jitter_ms": round(default["jitter_ms"] + rng.uniform(0.1, 2), 1),
        "loss_pct": round(rng.choice((0.0, 0.0, 0.1, 0.5)), 1),
    }
    numbers = {"default": default, "tunnel": tunnel}
    tests = [
        {"interface": name, **numbers.get(name, default), "success": True}
        for name in command.args.get("interfaces", ["default", "tunnel"])
    ]
    zf.writestr(
        "results.json",
        json.dumps({"command_id": command.id, "type": "speed-test", "results": tests}, indent=2),
    )
