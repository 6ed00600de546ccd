"""warp-diag triage: the bundle's headline facts, then the rules.

Files are found by base name (a bundle nested in a folder reads the same). Formats read, from
real bundles: ``warp-status.txt`` ``Ok(Connected)``; ``version.txt`` ``Version: 2023.7.159.0``;
``platform.txt`` one line; ``warp-settings.txt`` ``(source)\tMode: …`` lines and an
``Exclude|Include mode, with hosts/ips:`` header followed by indented entries;
``warp-stats.txt`` ``Time since last handshake: 54s``, ``Estimated latency: 14ms``,
``Estimated loss: 0.00%;``; ``warp-network.txt`` one JSON object (``v4_iface.kind`` is a
string like ``"Ethernet"`` or an object like ``{"WiFi": {"ssid": …}}``; ``captive_network``);
``warp-account.txt`` ``Account type: …`` and ``Organization: …``.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

from bot.insight.model import FileNote, Finding, Severity, SummaryBudget, WarpDiagSummary, WarpFacts
from bot.insight.rules import RuleSet, mask, version_tuple
from bot.insight.safezip import SafeZip

#: The files the summary reads facts from; a missing one is "not in this bundle".
FACT_FILES = (
    "warp-status.txt",
    "version.txt",
    "platform.txt",
    "warp-settings.txt",
    "warp-stats.txt",
    "warp-network.txt",
    "warp-account.txt",
)
_SMALL = 1 << 20  # fact files are a few KB; read at most this much of each


def summarize_warp_diag(archive: SafeZip, rules: RuleSet, limits: SummaryBudget) -> WarpDiagSummary:
    """Facts and findings from an opened warp-diag zip."""
    notes: list[FileNote] = []
    texts = {name: _text(archive, name, notes) for name in FACT_FILES if archive.has(name)}
    facts = parse_facts(texts)
    findings, stopped = _run_rules(archive, rules, limits, notes)
    findings += _version_findings(facts.version, rules)
    findings.sort(key=lambda f: (f.severity.rank, f.rule_id))
    missing = tuple(n for n in FACT_FILES if n not in texts)
    return WarpDiagSummary(facts, tuple(findings), missing, tuple(notes), stopped)


def parse_facts(texts: dict[str, str]) -> WarpFacts:
    """The headline facts from the fact files' text (keys are base names)."""
    status_text = texts.get("warp-status.txt", "")
    status = _first(r"Ok\(\s*([A-Za-z]+)", status_text) or _first(r"^\s*(\S.*)$", status_text)
    settings = texts.get("warp-settings.txt", "")
    split_mode, entries = _split_tunnel(settings)
    stats = texts.get("warp-stats.txt", "")
    network = _json(texts.get("warp-network.txt", ""))
    account = texts.get("warp-account.txt", "")
    return WarpFacts(
        version=_first(r"Version:\s*([\w.\-]+)", texts.get("version.txt", "")),
        platform=_first(r"^\s*(\S.{0,60}?)\s*$", texts.get("platform.txt", "")),
        status=status[:60] if status else None,
        mode=_first(r"Mode:\s*(\w+)", settings),
        latency_ms=_float(_first(r"Estimated latency:\s*([\d.]+)\s*ms", stats)),
        loss_pct=_float(_first(r"Estimated loss:\s*([\d.]+)\s*%", stats)),
        since_handshake_s=_duration(_first(r"Time since last handshake:\s*([\w.]+)", stats)),
        split_tunnel_mode=split_mode,
        split_tunnel_entries=entries,
        interface_kind=_iface_kind(network),
        captive_network=_captive(network),
        account_type=_first(r"Account type:\s*(.+?)\s*$", account),
        organization=_first(r"Organization:\s*(.+?)\s*$", account),
    )


def _text(archive: SafeZip, name: str, notes: list[FileNote]) -> str:
    lines = archive.lines(name)
    out, size = [], 0
    try:
        for line in lines:
            out.append(line)
            size += len(line)
            if size > _SMALL:
                break
    finally:
        lines.close()
    if lines.binary:
        notes.append(FileNote(name, "binary", lines.bad_lines))
        return ""
    if lines.bad_lines:
        notes.append(FileNote(name, "encoding", lines.bad_lines))
    return "\n".join(out)


def _run_rules(
    archive: SafeZip, rules: RuleSet, limits: SummaryBudget, notes: list[FileNote]
) -> tuple[list[Finding], bool]:
    started = limits.clock()
    compiled = [(rule, rule.regexes()) for rule in rules.rules]
    hits: dict[str, Finding] = {}
    noted = {n.file for n in notes}
    for name in archive.names():
        wanted = [(r, rx) for r, rx in compiled if any(fnmatch.fnmatch(name, g) for g in r.files)]
        if not wanted:
            continue
        lines = archive.lines(name)
        try:
            for block in lines.blocks():
                # Regex passes over a block of lines run in C, not once per line.
                for rule, regexes in wanted:
                    starts = {
                        block.rfind("\n", 0, m.start()) + 1
                        for rx in regexes
                        for m in rx.finditer(block)
                    }  # a line matched by several patterns (or twice) counts once
                    for start in sorted(starts):
                        end = block.find("\n", start)
                        _hit(hits, rule, name, block[start : end if end >= 0 else None])
                if limits.clock() - started > limits.time_budget_s:
                    return list(hits.values()), True
        finally:
            lines.close()
        if name not in noted and (lines.binary or lines.bad_lines):
            notes.append(FileNote(name, "binary" if lines.binary else "encoding", lines.bad_lines))
    return list(hits.values()), False


def _hit(hits: dict[str, Finding], rule: Any, name: str, line: str) -> None:
    found = hits.get(rule.id)
    if found is None:
        hits[rule.id] = Finding(
            rule.id, rule.severity, rule.finding, rule.remediation, rule.docs, name, mask(line)
        )
    else:
        hits[rule.id] = Finding(
            found.rule_id,
            found.severity,
            found.finding,
            found.remediation,
            found.docs,
            found.file,
            found.line,
            found.matches + 1,
        )


def _version_findings(version: str | None, rules: RuleSet) -> list[Finding]:
    policy = rules.versions
    have = version_tuple(version) if version else None
    if have is None:
        return []
    for bad in policy.bad:
        if version_tuple(bad.version) == have:
            return [
                Finding(
                    "bad-version", Severity.CRITICAL, f"WARP {version}: {bad.reason}",
                    policy.remediation, policy.docs, "version.txt", f"Version: {version}",
                )
            ]  # fmt: skip
    minimum = version_tuple(policy.minimum) if policy.minimum else None
    if minimum is not None and have < minimum:
        return [
            Finding(
                "old-version", Severity.WARNING,
                f"WARP {version} is older than the required {policy.minimum}.",
                policy.remediation, policy.docs, "version.txt", f"Version: {version}",
            )
        ]  # fmt: skip
    return []


def _split_tunnel(settings: str) -> tuple[str | None, int | None]:
    lines = settings.splitlines()
    for index, line in enumerate(lines):
        match = re.search(r"(Exclude|Include) mode, with hosts/ips:", line)
        if match:
            count = 0
            for entry in lines[index + 1 :]:
                if not entry.strip() or not entry[:1].isspace():
                    break
                count += 1
            return match.group(1).lower(), count
    return None, None


def _first(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1).strip() if match else None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _duration(text: str | None) -> int | None:
    """``54s``, ``3m``, ``1h2m5s`` or ``54`` -> seconds."""
    if not text:
        return None
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms]?)", text)
    if not parts:
        return None
    scale = {"h": 3600, "m": 60, "s": 1, "": 1}
    return int(sum(float(n) * scale[u] for n, u in parts))


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _iface_kind(network: dict[str, Any]) -> str | None:
    iface = network.get("v4_iface") or network.get("v6_iface")
    if not isinstance(iface, dict):
        return None
    kind = iface.get("kind")
    if isinstance(kind, str):
        return kind[:40]
    if isinstance(kind, dict) and kind:
        return str(next(iter(kind)))[:40]
    return None


def _captive(network: dict[str, Any]) -> bool | None:
    value = network.get("captive_network")
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    return bool(value)  # a non-empty object names the captive portal
