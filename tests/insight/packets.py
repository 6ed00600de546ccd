"""Captures with known contents, built with dpkt (independent of the simulator's writer).

``trouble()`` is one story with every kind of trouble the triage counts; ``EXPECTED`` holds
what a reader must find in it, worked out by hand from the packets below.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

HOST, RESOLVER, ROUTER = "192.168.1.23", "1.1.1.1", "192.168.1.1"
WEB, BLOCKED, INTRANET = "93.184.216.34", "10.9.9.9", "104.16.1.1"
HOST6, REMOTE6 = "2001:db8::23", "2001:db8::2"
MAC_HOST, MAC_GW = bytes.fromhex("a4834e10c2d7"), bytes.fromhex("0026bb5e1f42")
T0 = 1_700_000_000.0


def ip4(text: str) -> bytes:
    return bytes(int(p) for p in text.split("."))


def ip6(text: str) -> bytes:
    import socket

    return socket.inet_pton(socket.AF_INET6, text)


def ether(ip: dpkt.Packet, v6: bool = False) -> bytes:
    kind = dpkt.ethernet.ETH_TYPE_IP6 if v6 else dpkt.ethernet.ETH_TYPE_IP
    return bytes(dpkt.ethernet.Ethernet(src=MAC_HOST, dst=MAC_GW, type=kind, data=ip))


def ipv4(src: str, dst: str, l4: dpkt.Packet, proto: int) -> dpkt.ip.IP:
    packet = dpkt.ip.IP(src=ip4(src), dst=ip4(dst), p=proto, ttl=64, data=l4)
    packet.len = 20 + len(bytes(l4))
    return packet


def tcp(src: str, sport: int, dst: str, dport: int, flags: int, seq: int, data: bytes = b""):
    segment = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=1, flags=flags, data=data)
    return ipv4(src, dst, segment, dpkt.ip.IP_PROTO_TCP)


def dns_query(qid: int, name: str, sport: int) -> dpkt.ip.IP:
    msg = dpkt.dns.DNS(id=qid, qr=dpkt.dns.DNS_Q, opcode=0, rd=1)
    msg.qd = [dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN)]
    udp = dpkt.udp.UDP(sport=sport, dport=53, data=bytes(msg))
    udp.ulen = 8 + len(udp.data)
    return ipv4(HOST, RESOLVER, udp, dpkt.ip.IP_PROTO_UDP)


def dns_answer(qid: int, name: str, dport: int, rcode: int, answer: str | None = None):
    msg = dpkt.dns.DNS(id=qid, qr=dpkt.dns.DNS_R, opcode=0, rd=1, ra=1, rcode=rcode)
    msg.qd = [dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN)]
    if answer:
        rr = dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN, ttl=60)
        rr.ip = ip4(answer)
        rr.rlen = 4
        msg.an = [rr]
    udp = dpkt.udp.UDP(sport=53, dport=dport, data=bytes(msg))
    udp.ulen = 8 + len(udp.data)
    return ipv4(RESOLVER, HOST, udp, dpkt.ip.IP_PROTO_UDP)


def client_hello(sni: str) -> bytes:
    name = sni.encode()
    server_name = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    ext = struct.pack("!HH", 0, len(server_name)) + server_name
    body = (
        b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
        + struct.pack("!H", len(ext)) + ext
    )  # fmt: skip
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def alert(description: int) -> bytes:
    return b"\x15\x03\x03\x00\x02\x02" + bytes([description])


def icmp4_unreach(code: int, mtu: int = 0) -> dpkt.ip.IP:
    quoted = bytes(tcp(HOST, 50000, WEB, 443, dpkt.tcp.TH_ACK, 1))[:28]
    body = dpkt.icmp.ICMP.Unreach(mtu=mtu, data=quoted)
    msg = dpkt.icmp.ICMP(type=3, code=code, data=body)
    return ipv4(ROUTER, HOST, msg, dpkt.ip.IP_PROTO_ICMP)


def icmp6(kind: int, mtu: int = 0) -> dpkt.ip6.IP6:
    body = dpkt.icmp6.ICMP6.TooBig(mtu=mtu) if kind == 2 else dpkt.icmp6.ICMP6.Unreach()
    msg = dpkt.icmp6.ICMP6(type=kind, code=0, data=body)
    packet = dpkt.ip6.IP6(src=ip6(REMOTE6), dst=ip6(HOST6), nxt=58, hlim=64, data=msg)
    packet.plen = len(bytes(msg))
    return packet


SYN, ACK, RST, PSH = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_RST, dpkt.tcp.TH_PUSH


@dataclass
class Capture:
    """Frames with timestamps, and the IP bytes per address (for the talkers check)."""

    frames: list[tuple[float, bytes]] = field(default_factory=list)

    def add(self, at: float, packet: dpkt.Packet, v6: bool = False) -> None:
        self.frames.append((T0 + at, ether(packet, v6)))


def trouble() -> Capture:
    """One capture with DNS failures, refusals, a reset, a retransmission, TLS alerts and
    ICMP frag-needed / packet-too-big."""
    c = Capture()
    # DNS: 7 queries; 3 NXDOMAIN, 1 SERVFAIL, 1 NOERROR; 2 never answered.
    for i, name in enumerate(("a.corp.example", "b.corp.example", "c.corp.example")):
        c.add(0.1 * i, dns_query(100 + i, name, 40000 + i))
        c.add(0.1 * i + 0.02, dns_answer(100 + i, name, 40000 + i, dpkt.dns.DNS_RCODE_NXDOMAIN))
    c.add(0.5, dns_query(200, "srv.example", 40010))
    c.add(0.55, dns_answer(200, "srv.example", 40010, dpkt.dns.DNS_RCODE_SERVFAIL))
    c.add(0.6, dns_query(300, "slow.example", 40020))
    c.add(0.7, dns_query(301, "lost.example", 40021))
    c.add(0.8, dns_query(400, "www.example.com", 40030))
    c.add(0.82, dns_answer(400, "www.example.com", 40030, dpkt.dns.DNS_RCODE_NOERR, WEB))
    # TCP flow 1: handshake, a ClientHello, three server segments (one sent twice), a reset.
    c.add(1.0, tcp(HOST, 50001, WEB, 443, SYN, 1000))
    c.add(1.05, tcp(WEB, 443, HOST, 50001, SYN | ACK, 5000))
    c.add(1.06, tcp(HOST, 50001, WEB, 443, ACK, 1001))
    c.add(1.07, tcp(HOST, 50001, WEB, 443, PSH | ACK, 1001, client_hello("www.example.com")))
    for n, seq in enumerate((5001, 6401, 6401, 7801)):
        c.add(1.1 + 0.01 * n, tcp(WEB, 443, HOST, 50001, PSH | ACK, seq, bytes(1400)))
    c.add(1.2, tcp(WEB, 443, HOST, 50001, RST | ACK, 9201))
    # Flows 2 and 3: refused (SYN answered by RST, then RST+ACK).
    c.add(2.0, tcp(HOST, 50002, BLOCKED, 22, SYN, 2000))
    c.add(2.01, tcp(BLOCKED, 22, HOST, 50002, RST, 0))
    c.add(2.1, tcp(HOST, 50003, BLOCKED, 23, SYN, 3000))
    c.add(2.11, tcp(BLOCKED, 23, HOST, 50003, RST | ACK, 0))
    # Flow 4: a handshake to the intranet ends in TLS alerts both ways.
    c.add(3.0, tcp(HOST, 50004, INTRANET, 443, SYN, 4000))
    c.add(3.05, tcp(INTRANET, 443, HOST, 50004, SYN | ACK, 8000))
    c.add(3.06, tcp(HOST, 50004, INTRANET, 443, PSH | ACK, 4001, client_hello("intranet.corp")))
    c.add(3.1, tcp(INTRANET, 443, HOST, 50004, PSH | ACK, 8001, alert(40)))  # handshake_failure
    c.add(3.11, tcp(HOST, 50004, INTRANET, 443, PSH | ACK, 4100, alert(42)))  # bad_certificate
    # ICMP: frag-needed (MTU 1400) and host unreachable; ICMPv6 too big (1280) and unreachable.
    c.add(4.0, icmp4_unreach(4, mtu=1400))
    c.add(4.1, icmp4_unreach(1))
    c.add(4.2, icmp6(2, mtu=1280), v6=True)
    c.add(4.3, icmp6(1), v6=True)
    # The capture goes on past the DNS timeout, so the two lost queries count.
    c.add(10.0, tcp(HOST, 50001, WEB, 443, ACK, 1100))
    return c


def write_pcap(capture: Capture, *, nano: bool = False, big_endian: bool = False) -> bytes:
    """The capture as libpcap in the byte order and precision asked for."""
    out = io.BytesIO()
    writer_cls = _BigEndianWriter if big_endian else _LittleEndianWriter
    writer = writer_cls(out, snaplen=65535, nano=nano)
    for ts, frame in capture.frames:
        writer.writepkt(frame, ts)
    return out.getvalue()


def write_pcapng(capture: Capture) -> bytes:
    """The capture as pcapng."""
    out = io.BytesIO()
    writer = dpkt.pcapng.Writer(out, snaplen=65535)
    for ts, frame in capture.frames:
        writer.writepkt(frame, ts)
    return out.getvalue()


class _BigEndianWriter(dpkt.pcap.Writer):
    _Writer__le = False  # dpkt writes the host's byte order; force big-endian


class _LittleEndianWriter(dpkt.pcap.Writer):
    _Writer__le = True


def pcap_zip(path: Path, default: bytes | None, tunnel: bytes | None = None) -> Path:
    """A pcap command's zip: the captures given and a results.json for them."""
    captures = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for interface, data in (("default", default), ("tunnel", tunnel)):
            if data is None:
                captures.append({"interface": interface, "success": False, "error": "failed"})
                continue
            zf.writestr(f"capture-{interface}.pcap", data)
            captures.append({"interface": interface, "success": True})
        zf.writestr("results.json", _json({"type": "pcap", "captures": captures}))
    return path


def _json(data: object) -> str:
    import json

    return json.dumps(data)
