"""Artifact summaries in the thread: speed test, packet capture, WARP diagnostic, and why a
command failed, and the device's status before and after.

Pure renderers over ``bot.insight`` values. Everything read from an artifact (host names,
log lines, reasons) is outside text: escaped, cut, and never able to ping anyone.
"""

from __future__ import annotations

from typing import Any

from bot.insight import (
    FailureCause,
    FailureExplanation,
    PcapSummary,
    SpeedTestSummary,
    StatusChange,
    StatusSnapshot,
    Summary,
    Unreadable,
    WarpDiagSummary,
)
from bot.insight.model import (
    CaptureStats,
    Finding,
    Hint,
    HintKind,
    InterfaceCapture,
    Severity,
    SpeedResult,
    WarpFacts,
)
from handlers.blocks.common import (
    MISSING,
    SECTION_TEXT_MAX,
    Rendered,
    check_limits,
    fit_escaped,
    format_bytes,
    outside,
    plural,
)

NOUN = {"pcap": "capture", "warp-diag": "WARP diagnostic", "speed-test": "speed test"}
MAX_FINDINGS = 10
NOT_IN_BUNDLE = "not in this bundle"
_SEVERITY_MARK = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":large_orange_circle:",
    Severity.INFO: ":large_blue_circle:",
}


def render_summary(summary: Summary, *, label: str | None = None) -> Rendered:
    """The thread message that goes next to the artifact; ``label`` names the device."""
    if isinstance(summary, Unreadable):
        rendered = render_unreadable(summary, label=label)
    elif isinstance(summary, SpeedTestSummary):
        rendered = _speed(summary, label)
    elif isinstance(summary, PcapSummary):
        rendered = _pcap(summary, label)
    else:
        rendered = _warp(summary, label)
    return check_limits(rendered)


def render_unreadable(summary: Unreadable, *, label: str | None = None) -> Rendered:
    """ "I couldn't read this capture: …" (the artifact is still attached)."""
    noun = NOUN.get(summary.kind, "artifact")
    text = f"I couldn't read this {noun}: {outside(summary.reason, 300)}."
    body = text + " The file is attached as it came."
    return Rendered(text, [_section(_title(noun, label) + "\n" + body)])


# -- speed test -----------------------------------------------------------------------


def _speed(summary: SpeedTestSummary, label: str | None) -> Rendered:
    lines = [_speed_line(r) for r in summary.results]
    for c in summary.comparisons:
        if c.slower_pct > 0:
            lines.append(f"tunnel {c.slower_pct}% slower than default on {c.metric}")
        elif c.slower_pct < 0:
            lines.append(f"tunnel {-c.slower_pct}% faster than default on {c.metric}")
        else:
            lines.append(f"tunnel as fast as default on {c.metric}")
    text = "Speed test: " + "; ".join(lines).replace("*", "")
    blocks = [_section(_title("Speed test", label)), _section("\n".join(lines))]
    return Rendered(_fallback(text), blocks)


def _speed_line(r: SpeedResult) -> str:
    name = f"*{outside(r.interface, 40)}*"
    if not r.success:
        return f"{name}: failed" + (f" ({outside(r.error, 200)})" if r.error else "")
    parts = [
        f"down {_num(r.download_mbps)} Mbps",
        f"up {_num(r.upload_mbps)} Mbps",
        f"latency {_num(r.latency_ms)} ms",
        f"jitter {_num(r.jitter_ms)} ms",
        f"loss {_num(r.loss_pct)}%",
    ]
    return f"{name}: " + " · ".join(parts)


# -- packet capture -------------------------------------------------------------------


def _pcap(summary: PcapSummary, label: str | None) -> Rendered:
    blocks: list[dict[str, Any]] = [_section(_title("Packet capture", label))]
    headline = []
    for iface in summary.interfaces:
        blocks.append(_section(_interface(iface)))
        if iface.stats is not None:
            hints = [f"• {_hint(h)}" for h in iface.stats.hints]
            if hints:
                blocks.append(_section("*What it suggests*\n" + "\n".join(hints)))
            headline.append(f"{iface.interface}: {plural(iface.stats.packets, 'packet')}")
        else:
            headline.append(f"{iface.interface}: not read")
    return Rendered(_fallback("Packet capture: " + "; ".join(headline)), blocks[:50])


def _interface(iface: InterfaceCapture) -> str:
    name = f"*{outside(iface.interface, 40)}*"
    if iface.stats is None:
        if iface.unreadable:
            return f"{name}: I couldn't read this capture: {outside(iface.unreadable, 300)}."
        if iface.success is False:
            why = f": {outside(iface.error, 300)}" if iface.error else ""
            return f"{name}: the capture failed{why}."
        return f"{name}: no capture file in the zip."
    s = iface.stats
    head = (
        f"{name} · {_packets(s)} · {format_bytes(s.bytes)} · {_num(s.duration_s)} s"
        f" · {outside(s.file_format, 40)}"
    )
    if iface.success is False:
        head += " · results.json says it failed"
    lines = [head]
    if s.talkers:
        talkers = [
            f"{outside(t.address, 45)}"
            + (f" ({outside(t.hostname, 80)})" if t.hostname else "")
            + f" {format_bytes(t.bytes)}"
            for t in s.talkers
        ]
        lines.append("Top talkers: " + ", ".join(talkers))
    lines.append(_dns_line(s))
    lines.append(_tcp_line(s))
    lines.append(_tls_line(s))
    icmp = s.icmp
    icmp_line = f"ICMP: {icmp.unreachable} unreachable · {icmp.frag_needed} fragmentation needed"
    icmp_line += " / packet too big"
    if icmp.smallest_mtu:
        icmp_line += f" (smallest MTU {icmp.smallest_mtu})"
    lines.append(icmp_line)
    return _fit("\n".join(lines))


def _packets(s: CaptureStats) -> str:
    if s.stopped_early:
        return f"first {s.packets:,} packets"
    text = plural(s.packets, "packet")
    return text + (" (the last record was cut off)" if s.truncated else "")


def _names(names: tuple[str, ...]) -> str:
    return f" ({', '.join(outside(n, 60) for n in names)})" if names else ""


def _dns_line(s: CaptureStats) -> str:
    parts = [plural(s.dns.queries, "query", "queries")]
    parts += [f"{r.rcode} {r.count}{_names(r.names)}" for r in s.dns.responses]
    parts.append(f"{s.dns.unanswered} unanswered within 2 s{_names(s.dns.unanswered_names)}")
    return "DNS: " + " · ".join(parts)


def _tcp_line(s: CaptureStats) -> str:
    t = s.tcp
    return (
        f"TCP: {plural(t.syns, 'connection attempt')} · {t.refused} refused"
        f" · {t.resets} reset after the handshake · {t.retransmitted} of"
        f" {plural(t.data_segments, 'data segment')} retransmitted ({t.retransmit_pct:.1f}%)"
    )


def _tls_line(s: CaptureStats) -> str:
    hellos = ", ".join(
        f"{outside(h.name, 60) if h.name else 'SNI not seen'} {h.count}"
        for h in s.tls.handshakes[:5]
    )
    text = f"TLS: {plural(s.tls.handshake_count, 'handshake')}"
    if hellos:
        text += f" ({hellos})"
    alerts = ", ".join(f"{outside(a.name, 40)} {a.count}" for a in s.tls.alerts[:5])
    return text + (f" · alerts: {alerts}" if alerts else " · no alerts")


def _hint(hint: Hint) -> str:
    n = dict(hint.numbers)
    names = _names(hint.names)
    k = hint.kind
    if k is HintKind.DNS_NXDOMAIN:
        return (
            f"{_i(n['count'])} of {_i(n['responses'])} DNS answers were NXDOMAIN{names}: if these"
            " are internal names, check Local Domain Fallback and the split-tunnel settings."
        )
    if k is HintKind.DNS_FAILURE:
        counts = " and ".join(f"{_i(v)} {key.upper()}" for key, v in hint.numbers[:-1])
        return (
            f"{counts} of {_i(n['responses'])} DNS answers{names}:"
            " the resolver could not answer those names."
        )
    if k is HintKind.DNS_UNANSWERED:
        return (
            f"{_i(n['count'])} of {_i(n['queries'])} DNS queries got no answer within 2 s{names}:"
            " something between the device and its resolver may be dropping DNS."
        )
    if k is HintKind.TCP_REFUSED:
        return (
            f"{_i(n['count'])} of {_i(n['syns'])} TCP connection attempts were refused (SYN"
            " answered by RST): nothing listens there, or a firewall rejects them."
        )
    if k is HintKind.TCP_RESETS:
        return f"{plural(_i(n['count']), 'TCP connection')} reset after the handshake."
    if k is HintKind.TCP_RETRANSMITS:
        return (
            f"{n['pct']}% of data segments were retransmitted ({_i(n['count'])} of"
            f" {_i(n['segments'])}): a sign of packet loss on the path."
        )
    if k is HintKind.TLS_ALERTS:
        alerts = ", ".join(f"{outside(key, 40)} {_i(v)}" for key, v in hint.numbers)
        return (
            f"TLS alerts {alerts}: certificate and handshake failures like these are the"
            " usual mark of TLS inspection or a firewall in the path."
        )
    mtu = f" (smallest MTU {_i(n['mtu'])})" if "mtu" in n else ""
    return (
        f"{_i(n['count'])} ICMP fragmentation-needed / packet-too-big messages{mtu}: packets"
        " were larger than the path allows; check the MTU."
    )


# -- WARP diagnostic ------------------------------------------------------------------

_FACT_FILES: dict[str, str] = {
    "version": "version.txt",
    "platform": "platform.txt",
    "status": "warp-status.txt",
    "mode": "warp-settings.txt",
    "tunnel": "warp-stats.txt",
    "handshake": "warp-stats.txt",
    "split": "warp-settings.txt",
    "iface": "warp-network.txt",
    "captive": "warp-network.txt",
}


def _warp(summary: WarpDiagSummary, label: str | None) -> Rendered:
    f = summary.facts
    missing = set(summary.missing)
    values = _fact_values(f)
    fields = []
    for key, title in (
        ("version", "Client"), ("platform", "Platform"), ("status", "Status"),
        ("mode", "Mode"), ("tunnel", "Tunnel"), ("handshake", "Last handshake"),
        ("split", "Split tunnel"), ("iface", "Interface"), ("captive", "Captive network"),
    ):  # fmt: skip
        value = NOT_IN_BUNDLE if _FACT_FILES[key] in missing else values[key]
        fields.append({"type": "mrkdwn", "text": f"*{title}*\n{value}"})
    blocks: list[dict[str, Any]] = [
        _section(_title("WARP diagnostic", label)),
        {"type": "section", "fields": fields[:10]},
    ]
    shown = summary.findings[:MAX_FINDINGS]
    for finding in shown:
        blocks.append(_section(_finding(finding)))
    if len(summary.findings) > len(shown):
        blocks.append(_context(f"and {len(summary.findings) - len(shown)} more findings"))
    if not summary.findings:
        blocks.append(_section("No known problem found by the rules."))
    notes = [_note(n.file, n.problem, n.bad_lines) for n in summary.notes[:5]]
    if summary.stopped_early:
        notes.append("The rule scan stopped at its time budget: later log lines were not checked.")
    if summary.missing:
        notes.append("Not in this bundle: " + ", ".join(summary.missing))
    if notes:
        blocks.append(_context(_fit("\n".join(notes))))
    counts = plural(len(summary.findings), "finding")
    text = f"WARP diagnostic: {counts}; status {values['status']}; client {values['version']}"
    return Rendered(_fallback(text), blocks)


def _fact_values(f: WarpFacts) -> dict[str, str]:
    tunnel = f"latency {_num(f.latency_ms)} ms · loss {_num(f.loss_pct)}%"
    split = MISSING
    if f.split_tunnel_mode:
        split = f"{f.split_tunnel_mode}, {plural(f.split_tunnel_entries or 0, 'entry', 'entries')}"
    captive = MISSING if f.captive_network is None else ("yes" if f.captive_network else "no")
    handshake = MISSING if f.since_handshake_s is None else _ago(f.since_handshake_s)
    return {
        "version": outside(f.version, 40),
        "platform": outside(f.platform, 40),
        "status": outside(f.status, 60),
        "mode": outside(f.mode, 60),
        "tunnel": tunnel,
        "handshake": handshake,
        "split": outside(split, 60) if split != MISSING else MISSING,
        "iface": outside(f.interface_kind, 40),
        "captive": captive,
    }


def _finding(f: Finding) -> str:
    mark = _SEVERITY_MARK.get(f.severity, "")
    quote = fit_escaped(f.line.replace("`", "'"), 400)
    where = f"{outside(f.file, 60)}, {plural(f.matches, 'line')}"
    link = f"<{f.docs.replace('|', '%7C').replace('>', '%3E')}|Cloudflare docs>"
    return _fit(
        f"{mark} *{f.severity.value}*: {outside(f.finding, 500)}\n> `{quote}` ({where})\n"
        f"{outside(f.remediation, 800)} {link}"
    )


def _note(file: str, problem: str, bad: int) -> str:
    name = outside(file, 60)
    if problem == "binary":
        return f"I couldn't read {name}: it is not text, so it was skipped."
    lines = plural(bad, "line")
    return f"I couldn't read {name} cleanly: {lines} not UTF-8 (shown with \ufffd)."


# -- failures and before/after --------------------------------------------------------


def render_failure(explanation: FailureExplanation) -> Rendered:
    """Why the command likely failed, in one short section."""
    e = explanation
    c = e.cause
    if c is FailureCause.DISCONNECTED:
        text = (
            f"The device was disconnected for {plural(e.disconnected_min or 10, 'minute')}:"
            " Cloudflare gives up on a command after 10 minutes without the client."
        )
    elif c is FailureCause.SECOND_CAPTURE_WINDOWS:
        text = (
            "Another capture was already running on this Windows device, and Windows can run"
            " only one at a time. Try again when it has finished."
        )
    elif c is FailureCause.UNSUPPORTED_PLATFORM:
        text = (
            f"Remote captures don't run on {outside(e.platform, 40)}: only on Windows, macOS"
            " and Linux."
        )
    elif c is FailureCause.CLIENT_TOO_OLD:
        text = (
            f"WARP {outside(e.client_version, 40)} is older than {outside(e.minimum_version, 40)},"
            " the first version that runs remote captures. Update the client and try again."
        )
    elif c is FailureCause.UPLOAD_TOO_LARGE:
        text = "The result was too large to upload."
    else:
        text = (
            "I don't know why it failed: Cloudflare gave no reason, and nothing I saw explains it."
        )
    return check_limits(Rendered(text, [_section(":warning: " + text)]))


_FIELD_NAMES = {
    "status": "status",
    "mode": "mode",
    "colo": "colo",
    "version": "client",
    "rtt_ms": "round trip",
}


def render_status_change(change: StatusChange) -> Rendered:
    """The device's status now and what changed since the request."""
    now = change.after
    head = "Device status now: " + (_snapshot(now) if now else "not known")
    if change.before is None or now is None:
        tail = "I have no earlier status to compare with."
    elif not change.changes:
        tail = "Nothing changed since the request."
    else:
        parts = [
            f"{_FIELD_NAMES[c.field]} {_value(c.field, c.before, bare=True)}"
            f" → {_value(c.field, c.after, bare=True)}"
            for c in change.changes
        ]
        tail = "Changed since the request: " + "; ".join(parts)
    text = f"{head}\n{tail}"
    return check_limits(Rendered(_fallback(text), [_section(_fit(text))]))


def _snapshot(s: StatusSnapshot) -> str:
    return " · ".join(
        _value(name, getattr(s, name)) for name in ("status", "mode", "colo", "version", "rtt_ms")
    )


def _value(name: str, value: str | float | None, *, bare: bool = False) -> str:
    if value is None:
        return MISSING
    if name == "rtt_ms":
        return f"{'' if bare else 'round trip '}{_num(float(value))} ms"
    return outside(str(value), 40)


# -- small pieces ---------------------------------------------------------------------


def _title(noun: str, label: str | None) -> str:
    title = f"*{noun[:1].upper()}{noun[1:]}*"
    return title + (f" · {outside(label, 80)}" if label else "")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(text)}]}


def _fit(text: str) -> str:
    """Already-escaped text cut to Slack's section limit (at a line, never mid-entity)."""
    if len(text) <= SECTION_TEXT_MAX:
        return text
    cut = text[: SECTION_TEXT_MAX - 1]
    return cut[: cut.rfind("\n")] + "\n…" if "\n" in cut else cut[: cut.rfind(" ")] + "…"


def _fallback(text: str) -> str:
    return text if len(text) <= 3000 else text[:2999] + "…"


def _num(value: float | None) -> str:
    if value is None:
        return MISSING
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def _i(value: float) -> int:
    return int(value)


def _ago(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def render_status_after(changes: list[tuple[str, StatusChange]]) -> Rendered:
    """One message for a finished request: each device's status now and what changed."""
    blocks: list[dict[str, Any]] = []
    lines = []
    for name, change in changes:
        one = render_status_change(change)
        blocks.append(_section(f"*{outside(name, 80)}*"))
        blocks.extend(one.blocks)
        lines.append(f"{name}: {one.text}")
    return check_limits(Rendered("\n".join(lines)[:3000] or "Device status", blocks[:50]))
