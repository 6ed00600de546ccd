"""Pure summaries of command artifacts: pcap, warp-diag, speed test.

No Slack, no database, no HTTP: functions over a zip on disk, deterministic, never raising on
any bytes. The worker calls::

    rules = load_rules(settings.insight_rules_file)           # once, at start-up
    summary = summarize("pcap", zip_path, limits=SummaryBudget(...), rules=rules)
    rendered = handlers.blocks.insight.render_summary(summary, ...)

``summarize`` returns a ``PcapSummary``, ``WarpDiagSummary``, ``SpeedTestSummary`` or
``Unreadable`` (with a short reason to show after "I couldn't read this capture:").
``explain_failure`` words nothing either: it returns a typed ``FailureExplanation``;
``compare_status`` returns what changed between two ``StatusSnapshot`` values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.insight.failure import FailureCause, FailureExplanation, FailureFacts, explain_failure
from bot.insight.model import (
    CaptureStats,
    Finding,
    Hint,
    HintKind,
    InterfaceCapture,
    PcapSummary,
    Severity,
    SpeedTestSummary,
    Summary,
    SummaryBudget,
    Unreadable,
    WarpDiagSummary,
)
from bot.insight.rules import RuleFileError, RuleSet, load_rules
from bot.insight.status import Change, StatusChange, StatusSnapshot, compare_status

if TYPE_CHECKING:
    from bot.insight.safezip import SafeZip

__all__ = [
    "CaptureStats",
    "Change",
    "FailureCause",
    "FailureExplanation",
    "FailureFacts",
    "Finding",
    "Hint",
    "HintKind",
    "InterfaceCapture",
    "PcapSummary",
    "RuleFileError",
    "RuleSet",
    "Severity",
    "SpeedTestSummary",
    "StatusChange",
    "StatusSnapshot",
    "Summary",
    "SummaryBudget",
    "Unreadable",
    "WarpDiagSummary",
    "compare_status",
    "explain_failure",
    "load_rules",
    "summarize",
]

KINDS = ("pcap", "warp-diag", "speed-test")
INTERFACES = ("default", "tunnel")


def summarize(
    kind: str, zip_path: Path, *, limits: SummaryBudget | None = None, rules: RuleSet | None = None
) -> Summary:
    """Summarise the artifact at ``zip_path`` of command type ``kind``; never raises.

    ``rules`` (warp-diag only) defaults to the shipped rule set. Blocking and CPU-bound:
    call it from a thread (``asyncio.to_thread``).
    """
    # The readers (dpkt above all) load on the first summary, not with every process that
    # imports this package: ``dexbot serve`` answers /healthz that much sooner.
    from bot.insight.safezip import ArtifactUnreadable, SafeZip
    from bot.insight.speedtest import summarize_speed_test
    from bot.insight.warpdiag import summarize_warp_diag

    limits = limits or SummaryBudget()
    if kind not in KINDS:
        return Unreadable(kind, f"no summary for {kind!r} commands")
    try:
        with SafeZip(zip_path, limits) as archive:
            if kind == "speed-test":
                return summarize_speed_test(archive)
            if kind == "warp-diag":
                return summarize_warp_diag(archive, rules or load_rules(), limits)
            return _pcap(archive, limits)
    except ArtifactUnreadable as exc:
        return Unreadable(kind, exc.reason)
    except Exception as exc:  # never raise on any bytes: the upload must still happen
        return Unreadable(kind, f"unexpected {type(exc).__name__} while reading it")


def _pcap(archive: SafeZip, limits: SummaryBudget) -> PcapSummary | Unreadable:
    from bot.insight.pcap import PcapUnreadable, triage

    outcome = _results(archive)
    names = [f"capture-{i}.pcap" for i in INTERFACES]
    if not any(archive.has(n) for n in names) and not outcome:
        return Unreadable("pcap", "the zip holds no capture-default.pcap or capture-tunnel.pcap")
    out = []
    for interface, name in zip(INTERFACES, names, strict=True):
        success, error = outcome.get(interface, (None, None))
        if not archive.has(name):
            if interface in outcome:
                out.append(InterfaceCapture(interface, success, error=error))
            continue
        try:
            with archive.open(name) as stream:
                stats = triage(stream, limits)
        except PcapUnreadable as exc:
            out.append(InterfaceCapture(interface, success, unreadable=exc.reason, error=error))
            continue
        out.append(InterfaceCapture(interface, success, stats=stats, error=error))
    return PcapSummary(tuple(out))


def _results(archive: SafeZip) -> dict[str, tuple[bool | None, str | None]]:
    """Per-interface success from results.json (assumed layout: docs/simulator.md)."""
    if not archive.has("results.json"):
        return {}
    try:
        data: Any = json.loads(archive.read_bytes("results.json"))
    except (ValueError, UnicodeDecodeError):
        return {}
    captures = data.get("captures") if isinstance(data, dict) else None
    out: dict[str, tuple[bool | None, str | None]] = {}
    if isinstance(captures, list):
        for c in captures:
            if isinstance(c, dict) and isinstance(c.get("interface"), str):
                ok = c.get("success")
                err = c.get("error")
                out[c["interface"]] = (
                    ok if isinstance(ok, bool) else None,
                    str(err)[:300] if err is not None else None,
                )
    return out
