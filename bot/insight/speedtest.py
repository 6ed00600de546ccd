"""Speed test: the numbers in the artifact's ``results.json``, per interface, and tunnel versus
default when both ran.

Cloudflare does not document ``results.json``. Assumed (and written by the simulator; see
docs/simulator.md, "Assumptions: artifact formats"): an object whose ``results`` is a list of
``{interface, success, download_mbps, upload_mbps, latency_ms, jitter_ms, loss_pct, error?}``,
or an object keyed by interface name whose values carry those fields. Speeds are megabits per
second, latency and jitter milliseconds, loss a percentage. A field that is missing or not a
number is shown as unknown rather than guessed.
"""

from __future__ import annotations

import json
import math
from typing import Any

from bot.insight.model import SpeedComparison, SpeedResult, SpeedTestSummary, Unreadable
from bot.insight.safezip import SafeZip

#: The field names read, each with the aliases tried in order.
ASSUMED_FIELDS: dict[str, tuple[str, ...]] = {
    "download_mbps": ("download_mbps", "download"),
    "upload_mbps": ("upload_mbps", "upload"),
    "latency_ms": ("latency_ms", "latency"),
    "jitter_ms": ("jitter_ms", "jitter"),
    "loss_pct": ("loss_pct", "packet_loss_pct", "loss"),
}


def summarize_speed_test(archive: SafeZip) -> SpeedTestSummary | Unreadable:
    """Read ``results.json`` from an opened speed-test zip."""
    if not archive.has("results.json"):
        return Unreadable("speed-test", "the zip has no results.json")
    try:
        data = json.loads(archive.read_bytes("results.json"))
    except (ValueError, UnicodeDecodeError):
        return Unreadable("speed-test", "results.json is not valid JSON")
    entries = _entries(data)
    if not entries:
        return Unreadable("speed-test", "results.json holds no per-interface results")
    results = tuple(_result(name, entry) for name, entry in entries)
    return SpeedTestSummary(results=results, comparisons=compare(results))


def compare(results: tuple[SpeedResult, ...]) -> tuple[SpeedComparison, ...]:
    """Tunnel versus default on download and upload, when both have the figure."""
    by_name = {r.interface: r for r in results if r.success}
    tunnel, default = by_name.get("tunnel"), by_name.get("default")
    if tunnel is None or default is None:
        return ()
    out = []
    for metric in ("download", "upload"):
        t = getattr(tunnel, f"{metric}_mbps")
        d = getattr(default, f"{metric}_mbps")
        if t is not None and d:
            out.append(SpeedComparison(metric, t, d, round((d - t) / d * 100)))
    return tuple(out)


def _entries(data: Any) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return [
            (str(e.get("interface") or f"interface {i + 1}"), e)
            for i, e in enumerate(data["results"])
            if isinstance(e, dict)
        ]
    if isinstance(data, dict):
        return [(str(k), v) for k, v in data.items() if isinstance(v, dict)]
    return []


def _result(name: str, entry: dict[str, Any]) -> SpeedResult:
    values = {key: _number(entry, aliases) for key, aliases in ASSUMED_FIELDS.items()}
    error = entry.get("error")
    success = entry.get("success")
    ok = bool(success) if isinstance(success, bool) else error is None
    return SpeedResult(
        interface=name[:40],
        success=ok,
        error=str(error)[:300] if error is not None else None,
        **values,
    )


def _number(entry: dict[str, Any], aliases: tuple[str, ...]) -> float | None:
    for key in aliases:
        value = entry.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value) if math.isfinite(value) else None
    return None
