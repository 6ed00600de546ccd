"""The counters behind a capture summary, fed one decoded packet at a time.

Memory is bounded whatever the capture holds: the flow table, the per-direction sequence
sets and the pending DNS queries each have a cap, past which the oldest state is dropped
(so a count can only be lower than the truth, never higher).
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from typing import Any

import dpkt

from bot.insight.model import (
    CaptureStats,
    DnsStats,
    Hint,
    HintKind,
    IcmpStats,
    NameCount,
    RcodeCount,
    Talker,
    TcpStats,
    TlsStats,
)

DNS_TIMEOUT_S = 2.0
MAX_FLOWS = 65_536
MAX_SEQS_PER_DIRECTION = 8_192
MAX_PENDING_DNS = 65_536
MAX_ADDRESSES = 65_536
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
#: Alerts that mark certificate trouble, the usual sign of TLS inspection.
INSPECTION_ALERTS = frozenset(
    {"bad_certificate", "unknown_ca", "certificate_unknown", "handshake_failure",
     "unsupported_certificate", "certificate_expired", "certificate_revoked", "decrypt_error"}
)  # fmt: skip
_ERRORS = (dpkt.UnpackError, struct.error, IndexError, ValueError, KeyError, TypeError)
_SYN_SENT, _ESTABLISHED, _CLOSED = 0, 1, 2
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10


def _alert_name(code: int) -> str:
    name = dpkt.ssl.alert_description_str.get(code)
    if not name:
        return f"alert_{code}"
    return name.split("_AD_", 1)[-1].lower()


def _ntop(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


class Counters:
    """Everything counted so far; ``stats()`` freezes it into a ``CaptureStats``."""

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0
        self.first_ts: float | None = None
        self.last_ts = 0.0
        self.not_ip = 0
        self.addr_packets: Counter[bytes] = Counter()
        self.addr_bytes: Counter[bytes] = Counter()
        self.names: dict[bytes, str] = {}  # address -> hostname (SNI wins over DNS)
        self.sni_names: set[bytes] = set()
        # DNS
        self.queries = 0
        self.pending: dict[tuple[bytes, int, int], tuple[float, str]] = {}
        self.rcodes: dict[str, list[Any]] = {}
        self.unanswered = 0
        self.unanswered_names: list[str] = []
        # TCP
        self.flows: dict[tuple[bytes, int, bytes, int], list[Any]] = {}
        self.seqs: dict[tuple[bytes, int, bytes, int], set[int]] = {}
        self.syns = self.refused = self.resets = self.data_segments = self.retransmitted = 0
        # TLS and ICMP
        self.hellos: Counter[str] = Counter()
        self.alerts: Counter[str] = Counter()
        self.unreachable = self.frag_needed = 0
        self.smallest_mtu: int | None = None

    # -- feeding ---------------------------------------------------------------------

    def packet(self, ts: float, buf: bytes, decode: Any) -> None:
        """Count one captured frame at time ``ts``."""
        self.packets += 1
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = max(self.last_ts, ts)
        try:
            ip = decode(buf)
        except _ERRORS:
            ip = None
        if isinstance(ip, dpkt.ip.IP):
            length, l4, proto = ip.len, ip.data, ip.p
        elif isinstance(ip, dpkt.ip6.IP6):
            length, l4, proto = ip.plen + 40, ip.data, ip.nxt
        else:
            self.not_ip += 1
            self.bytes += len(buf)
            return
        self.bytes += length
        src, dst = ip.src, ip.dst
        for addr in (src, dst):
            if addr in self.addr_packets or len(self.addr_packets) < MAX_ADDRESSES:
                self.addr_packets[addr] += 1
                self.addr_bytes[addr] += length
        if isinstance(l4, dpkt.tcp.TCP):
            self._tcp(ip, l4, src, dst, length)
        elif isinstance(l4, dpkt.udp.UDP):
            if l4.sport == 53 or l4.dport == 53:
                self._dns(ts, l4, src, dst)
        elif proto in (1, 58) and isinstance(l4, dpkt.icmp.ICMP | dpkt.icmp6.ICMP6):
            self._icmp(l4, proto)

    def _tcp(self, ip: Any, tcp: Any, src: bytes, dst: bytes, length: int) -> None:
        key = (src, tcp.sport, dst, tcp.dport)
        back = (dst, tcp.dport, src, tcp.sport)
        flags = tcp.flags
        header = (ip.hl * 4) if isinstance(ip, dpkt.ip.IP) else 40
        payload_len = length - header - tcp.off * 4
        flow = self.flows.get(key) or self.flows.get(back)
        if flags & _SYN and not flags & _ACK:
            self.syns += 1
            if flow is None and len(self.flows) < MAX_FLOWS:
                self.flows[key] = [_SYN_SENT, key]
            return
        if flags & _SYN and flags & _ACK:
            if flow is not None and flow[0] == _SYN_SENT and flow[1] == back:
                flow[0] = _ESTABLISHED
            return
        if flags & _RST:
            if flow is not None and flow[0] == _SYN_SENT and flow[1] == back:
                self.refused += 1
                flow[0] = _CLOSED
            elif flow is not None and flow[0] == _ESTABLISHED:
                self.resets += 1
                flow[0] = _CLOSED
            return
        if payload_len <= 0:
            return
        if flow is None and len(self.flows) < MAX_FLOWS:
            self.flows[key] = [_ESTABLISHED, key]  # joined mid-stream: the handshake was earlier
        self.data_segments += 1
        seen = self.seqs.get(key)
        if seen is None:
            seen = self.seqs[key] = set()
        if tcp.seq in seen:
            self.retransmitted += 1
        else:
            if len(seen) >= MAX_SEQS_PER_DIRECTION:
                seen.clear()
            seen.add(tcp.seq)
        data = tcp.data
        if data[:1] in (b"\x16", b"\x15"):
            self._tls(data, src, dst)

    def _tls(self, data: bytes, src: bytes, dst: bytes) -> None:
        if data[0] == 0x15 and len(data) >= 7 and data[3:5] == b"\x00\x02":
            try:
                alert = dpkt.ssl.TLSAlert(dpkt.ssl.TLSRecord(data).data)
            except _ERRORS:
                return
            self.alerts[_alert_name(alert.description)] += 1
            return
        if len(data) < 6 or data[5] != 1:  # not a ClientHello
            return
        sni = ""
        try:
            record = dpkt.ssl.TLSRecord(data)
            hello = dpkt.ssl.TLSHandshake(record.data).data
            for ext_type, ext in getattr(hello, "extensions", ()):
                if ext_type == 0 and len(ext) > 5:
                    sni = ext[5 : 5 + struct.unpack("!H", ext[3:5])[0]].decode("ascii", "replace")
        except (*_ERRORS, dpkt.ssl.SSL3Exception):
            sni = ""  # cut by the snap length, or not a hello dpkt understands
        self.hellos[sni] += 1
        if sni:
            self.names[dst] = sni
            self.sni_names.add(dst)

    def _dns(self, ts: float, udp: Any, src: bytes, dst: bytes) -> None:
        try:
            msg = dpkt.dns.DNS(udp.data)
            name = msg.qd[0].name if msg.qd else ""
        except _ERRORS:
            return
        if msg.qr == dpkt.dns.DNS_Q:
            self.queries += 1
            key = (src, udp.sport, msg.id)
            if key not in self.pending:
                if len(self.pending) >= MAX_PENDING_DNS:
                    self._expire(ts)
                self.pending[key] = (ts, name)
            return
        asked = self.pending.pop((dst, udp.dport, msg.id), None)
        if asked is not None and ts - asked[0] > DNS_TIMEOUT_S:
            self._unanswered(asked[1])
        rcode = RCODES.get(msg.rcode, f"RCODE{msg.rcode}")
        entry = self.rcodes.setdefault(rcode, [0, []])
        entry[0] += 1
        if name and name not in entry[1] and len(entry[1]) < 3:
            entry[1].append(name)
        for answer in msg.an:
            raw = getattr(answer, "ip6", None) if answer.type == 28 else None
            raw = raw or (getattr(answer, "ip", None) if answer.type == 1 else None)
            if raw and raw not in self.sni_names and name:
                self.names.setdefault(raw, name)

    def _unanswered(self, name: str) -> None:
        self.unanswered += 1
        if name and name not in self.unanswered_names and len(self.unanswered_names) < 3:
            self.unanswered_names.append(name)

    def _expire(self, now: float) -> None:
        """Settle queries older than the timeout (they count as unanswered)."""
        for key, (ts, name) in list(self.pending.items()):
            if now - ts > DNS_TIMEOUT_S:
                del self.pending[key]
                self._unanswered(name)
        if len(self.pending) >= MAX_PENDING_DNS:
            self.pending.clear()  # a flood of queries inside 2 s: forget rather than grow

    def _icmp(self, icmp: Any, proto: int) -> None:
        mtu: int | None = None
        if proto == 1 and icmp.type == 3:
            if icmp.code == 4:
                mtu = int(getattr(icmp.data, "mtu", 0)) or None
                self.frag_needed += 1
            else:
                self.unreachable += 1
        elif proto == 58 and icmp.type == 2:
            self.frag_needed += 1
            body = icmp.data  # dpkt leaves Packet Too Big's body undecoded: a 32-bit MTU first
            raw = body if isinstance(body, bytes) else bytes(body)
            mtu = struct.unpack("!I", raw[:4])[0] if len(raw) >= 4 else None
        elif proto == 58 and icmp.type == 1:
            self.unreachable += 1
        if mtu is not None:
            self.smallest_mtu = mtu if self.smallest_mtu is None else min(self.smallest_mtu, mtu)

    # -- results ---------------------------------------------------------------------

    def stats(self, fmt: str, *, stopped_early: bool, truncated: bool) -> CaptureStats:
        """Freeze the counts (settling DNS queries still pending at the end)."""
        for ts, name in sorted(self.pending.values()):
            if self.last_ts - ts >= DNS_TIMEOUT_S:
                self._unanswered(name)
        self.pending.clear()
        dns = DnsStats(
            queries=self.queries,
            responses=tuple(
                RcodeCount(rcode, count, tuple(names))
                for rcode, (count, names) in sorted(
                    self.rcodes.items(), key=lambda kv: (-kv[1][0], kv[0])
                )
            ),
            unanswered=self.unanswered,
            unanswered_names=tuple(self.unanswered_names),
        )
        tcp = TcpStats(self.syns, self.refused, self.resets, self.data_segments, self.retransmitted)
        tls = TlsStats(
            handshakes=_ranked(self.hellos),
            alerts=_ranked(self.alerts),
        )
        icmp = IcmpStats(self.unreachable, self.frag_needed, self.smallest_mtu)
        return CaptureStats(
            file_format=fmt,
            packets=self.packets,
            bytes=self.bytes,
            duration_s=round(self.last_ts - self.first_ts, 3) if self.first_ts else 0.0,
            talkers=self._talkers(),
            dns=dns,
            tcp=tcp,
            tls=tls,
            icmp=icmp,
            hints=hints(dns, tcp, tls, icmp),
            stopped_early=stopped_early,
            truncated=truncated,
            not_ip=self.not_ip,
        )

    def _talkers(self) -> tuple[Talker, ...]:
        if not self.addr_packets:
            return ()
        # The capturing host is in every packet: the most frequent address is local.
        local = min(self.addr_packets, key=lambda a: (-self.addr_packets[a], a))
        remotes = sorted(
            (a for a in self.addr_bytes if a != local),
            key=lambda a: (-self.addr_bytes[a], a),
        )[:5]
        return tuple(
            Talker(_ntop(a), self.addr_bytes[a], self.addr_packets[a], self.names.get(a))
            for a in remotes
        )


def _ranked(counts: Counter[str]) -> tuple[NameCount, ...]:
    return tuple(NameCount(n, c) for n, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def hints(dns: DnsStats, tcp: TcpStats, tls: TlsStats, icmp: IcmpStats) -> tuple[Hint, ...]:
    """Hints drawn from the counts; each carries the numbers it rests on, nothing more."""
    out: list[Hint] = []
    by_rcode = {r.rcode: r for r in dns.responses}
    total = sum(r.count for r in dns.responses)
    if "NXDOMAIN" in by_rcode:
        r = by_rcode["NXDOMAIN"]
        out.append(Hint(HintKind.DNS_NXDOMAIN, (("count", r.count), ("responses", total)), r.names))
    failed = [by_rcode[c] for c in ("SERVFAIL", "REFUSED") if c in by_rcode]
    if failed:
        names = tuple(n for r in failed for n in r.names)[:3]
        nums = tuple((r.rcode.lower(), float(r.count)) for r in failed)
        out.append(Hint(HintKind.DNS_FAILURE, (*nums, ("responses", total)), names))
    if dns.unanswered:
        nums = (("count", dns.unanswered), ("queries", dns.queries))
        out.append(Hint(HintKind.DNS_UNANSWERED, nums, dns.unanswered_names))
    if tcp.refused:
        out.append(Hint(HintKind.TCP_REFUSED, (("count", tcp.refused), ("syns", tcp.syns))))
    if tcp.resets:
        out.append(Hint(HintKind.TCP_RESETS, (("count", tcp.resets),)))
    if tcp.retransmitted >= 10 and tcp.retransmit_pct >= 2.0:
        nums = (
            ("count", tcp.retransmitted),
            ("segments", tcp.data_segments),
            ("pct", round(tcp.retransmit_pct, 1)),
        )
        out.append(Hint(HintKind.TCP_RETRANSMITS, nums))
    marks = [a for a in tls.alerts if a.name in INSPECTION_ALERTS]
    if marks:
        nums = tuple((a.name, float(a.count)) for a in marks)
        out.append(Hint(HintKind.TLS_ALERTS, nums, tuple(a.name for a in marks)))
    if icmp.frag_needed:
        mtu: tuple[tuple[str, float], ...] = (("count", icmp.frag_needed),)
        if icmp.smallest_mtu:
            mtu += (("mtu", icmp.smallest_mtu),)
        out.append(Hint(HintKind.MTU, mtu))
    return tuple(out)
