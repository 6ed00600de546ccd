"""libpcap files with real packets: Ethernet II, IPv4, TCP and UDP, checksums included.

Written in chunks to any binary file object, so a capture of hundreds of MB never sits in
memory: a block of packets is built once and written again and again with later timestamps.
"""

from __future__ import annotations

import random
import struct
from typing import IO

PCAP_MAGIC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
GLOBAL_HEADER = struct.Struct("<IHHiIII")
RECORD_HEADER = struct.Struct("<IIII")
_BLOCK_PACKETS = 512
_BLOCK_SPAN_US = 500_000  # each block covers half a second of capture


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(addr: str) -> bytes:
    return bytes(int(part) for part in addr.split("."))


def ipv4_packet(src: str, dst: str, proto: int, payload: bytes, ident: int) -> bytes:
    """An IPv4 header (with its checksum) followed by ``payload``."""
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        ident & 0xFFFF,
        0x4000,
        64,
        proto,
        0,
        _ip(src),
        _ip(dst),
    )
    csum = checksum(header)
    return header[:10] + struct.pack("!H", csum) + header[12:] + payload


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    return _ip(src) + _ip(dst) + struct.pack("!BBH", 0, proto, length)


def tcp_segment(src: str, dst: str, sport: int, dport: int, seq: int, payload: bytes) -> bytes:
    """A TCP segment (PSH+ACK) with a correct checksum over the pseudo-header."""
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 64240, 0, 0)
    csum = checksum(_pseudo(src, dst, 6, len(header) + len(payload)) + header + payload)
    return header[:16] + struct.pack("!H", csum) + header[18:] + payload


def udp_datagram(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP datagram with a correct checksum over the pseudo-header."""
    length = 8 + len(payload)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    csum = checksum(_pseudo(src, dst, 17, length) + header + payload) or 0xFFFF
    return header[:6] + struct.pack("!H", csum) + payload


def ethernet_frame(payload: bytes, outbound: bool) -> bytes:
    """An Ethernet II frame carrying IPv4."""
    host, gateway = bytes.fromhex("a4834e10c2d7"), bytes.fromhex("0026bb5e1f42")
    dst, src = (gateway, host) if outbound else (host, gateway)
    return dst + src + b"\x08\x00" + payload


def _packet(rng: random.Random, local: str, index: int) -> bytes:
    """One plausible packet: HTTPS traffic to Cloudflare or a DNS query, either direction."""
    outbound = rng.random() < 0.5
    if rng.random() < 0.15:
        name = rng.choice((b"\x07example\x03com", b"\x0acloudflare\x03com", b"\x04slack\x03com"))
        dns = struct.pack("!HHHHHH", rng.getrandbits(16), 0x0100, 1, 0, 0, 0) + name + b"\0\0\1\0\1"
        src, dst = (local, "1.1.1.1") if outbound else ("1.1.1.1", local)
        sport, dport = (rng.randint(49152, 65535), 53) if outbound else (53, 51000)
        l4, proto = udp_datagram(src, dst, sport, dport, dns), 17
    else:
        size = rng.choice((0, 64, 517, 1200, 1400))
        payload = bytes(rng.getrandbits(8) for _ in range(size))
        remote = f"104.16.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        src, dst = (local, remote) if outbound else (remote, local)
        sport, dport = (51000 + index % 16, 443) if outbound else (443, 51000 + index % 16)
        l4, proto = tcp_segment(src, dst, sport, dport, rng.getrandbits(32), payload), 6
    return ethernet_frame(ipv4_packet(src, dst, proto, l4, index), outbound)


def write_pcap(
    out: IO[bytes],
    size: int,
    *,
    start_us: int,
    local_ip: str = "192.168.1.23",
    snaplen: int = 160,
    seed: int = 0,
) -> int:
    """Write a libpcap capture of about ``size`` bytes (at least the header) to ``out``.

    Packets are cut to ``snaplen`` bytes as ``tcpdump -s`` would. Returns the bytes written.
    """
    snaplen = max(64, snaplen)
    out.write(GLOBAL_HEADER.pack(PCAP_MAGIC, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
    written = GLOBAL_HEADER.size
    rng = random.Random(seed)
    block = bytearray()
    offsets: list[tuple[int, int]] = []  # (offset of record header, microseconds into block)
    for index in range(_BLOCK_PACKETS):
        frame = _packet(rng, local_ip, index)
        captured = frame[:snaplen]
        offsets.append((len(block), index * _BLOCK_SPAN_US // _BLOCK_PACKETS))
        block += RECORD_HEADER.pack(0, 0, len(captured), len(frame)) + captured
    repeat = 0
    while written < size - RECORD_HEADER.size:
        base = start_us + repeat * _BLOCK_SPAN_US
        for offset, delta in offsets:
            stamp = base + delta
            struct.pack_into("<II", block, offset, stamp // 1_000_000, stamp % 1_000_000)
        room = size - written
        if room >= len(block):
            out.write(block)
            written += len(block)
        else:
            # The last, partial block: whole records only, so the file stays valid.
            cut = max(o for o, _ in offsets if o <= room)
            if cut:
                out.write(block[:cut])
                written += cut
            break
        repeat += 1
    return written
