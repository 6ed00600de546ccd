"""One half-second block of plausible traffic for the simulator's captures.

DNS lookups (answered with the address the client then connects to), an NXDOMAIN for an
internal name, TLS ClientHellos with SNI, a few HTTPS segments, client ACKs, one connection
refused with RST, and bulk QUIC (UDP 443) to the same servers. Frames come with where their
client port is, so ``write_pcap`` can give each repeat of the block fresh connections.
"""

from __future__ import annotations

import random
import struct

from bot.sim.dex.pcap import ethernet_frame, ipv4_packet, tcp_segment, udp_datagram

RESOLVER = "1.1.1.1"
SERVERS = (
    ("www.cloudflare.com", "104.16.124.96"),
    ("slack.com", "54.192.18.11"),
    ("dexbot-demo.cloudflareaccess.com", "104.18.30.50"),
)
INTERNAL_NAME = "wiki.corp.example"
REFUSING = "10.20.0.8"
SYN, SYN_ACK, ACK, PSH_ACK, RST_ACK = 0x02, 0x12, 0x10, 0x18, 0x14

#: (frame, offset of the client port in the TCP header or None, client port)
Frame = tuple[bytes, int | None, int]


def _qname(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def dns_query(qid: int, name: str) -> bytes:
    """A DNS query for ``name``'s A record."""
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _qname(name) + b"\0\1\0\1"


def dns_response(qid: int, name: str, address: str | None) -> bytes:
    """The answer: one A record, or NXDOMAIN when ``address`` is None."""
    flags, count = (0x8180, 1) if address else (0x8183, 0)
    head = struct.pack("!HHHHHH", qid, flags, 1, count, 0, 0) + _qname(name) + b"\0\1\0\1"
    if address is None:
        return head
    rdata = bytes(int(p) for p in address.split("."))
    return head + struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + rdata


def client_hello(sni: str, rng: random.Random) -> bytes:
    """A TLS 1.3-style ClientHello carrying ``sni``."""
    name = sni.encode()
    server_name = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    ext = struct.pack("!HH", 0, len(server_name)) + server_name
    body = (
        b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32)
        + b"\x00\x06\x13\x01\x13\x02\x13\x03" + b"\x01\x00" + struct.pack("!H", len(ext)) + ext
    )  # fmt: skip
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def block_frames(rng: random.Random, local: str, count: int) -> list[Frame]:
    """About ``count`` frames of one block, in time order."""
    frames: list[Frame] = []

    def udp(out: bool, port: int, payload: bytes) -> None:
        src, dst = (local, RESOLVER) if out else (RESOLVER, local)
        sport, dport = (port, 53) if out else (53, port)
        ip = ipv4_packet(src, dst, 17, udp_datagram(src, dst, sport, dport, payload), len(frames))
        frames.append((ethernet_frame(ip, out), None, port))

    def tcp(out: bool, server: str, port: int, seq: int, payload: bytes, flags: int) -> None:
        src, dst = (local, server) if out else (server, local)
        sport, dport = (port, 443) if out else (443, port)
        segment = tcp_segment(src, dst, sport, dport, seq, payload, flags)
        ip = ipv4_packet(src, dst, 6, segment, len(frames))
        frames.append((ethernet_frame(ip, out), 0 if out else 2, port))

    udp(True, 53000, dns_query(0x1000, INTERNAL_NAME))
    udp(False, 53000, dns_response(0x1000, INTERNAL_NAME, None))
    tcp(True, REFUSING, 50100, 7, b"", SYN)
    tcp(False, REFUSING, 50100, 0, b"", RST_ACK)
    flows = []
    for n, (name, address) in enumerate(SERVERS):
        port = 50000 + n
        udp(True, 53001 + n, dns_query(0x2000 + n, name))
        udp(False, 53001 + n, dns_response(0x2000 + n, name, address))
        tcp(True, address, port, 1000, b"", SYN)
        tcp(False, address, port, 9000, b"", SYN_ACK)
        tcp(True, address, port, 1001, b"", ACK)
        tcp(True, address, port, 1001, client_hello(name, rng), PSH_ACK)
        flows.append((address, port))
    # A few HTTPS segments per flow (no retransmissions: every block repeats, and one a
    # block would read as steady loss; tests/insight covers those); the bulk is QUIC, as
    # for most web traffic today. Few TCP frames per block keeps write_pcap's per-repeat port
    # patching cheap.
    seqs = {port: 9001 for _, port in flows}
    for n in range(6):
        for address, port in flows:
            tcp(False, address, port, seqs[port], rng.randbytes(1400), PSH_ACK)
            seqs[port] += 1400
        tcp(True, flows[n % len(flows)][0], flows[n % len(flows)][1], 1518, b"", ACK)
    while len(frames) < count:
        address, port = flows[rng.randrange(len(flows))]
        out = rng.random() < 0.2
        src, dst = (local, address) if out else (address, local)
        sport, dport = (port, 443) if out else (443, port)
        size = rng.choice((1200, 1250, 1350)) if not out else rng.choice((40, 60, 1200))
        payload = rng.randbytes(size)
        ip = ipv4_packet(src, dst, 17, udp_datagram(src, dst, sport, dport, payload), len(frames))
        frames.append((ethernet_frame(ip, out), None, port))
    return frames
