"""libpcap files with real packets: Ethernet II, IPv4, TCP and UDP, checksums included.

Written in chunks to any binary file object, so a capture of hundreds of MB never sits in
memory: a block of packets is built once and written again and again with later timestamps
and, for TCP, fresh client ports (checksums patched incrementally, RFC 1624), so each repeat
is a new set of connections rather than a retransmission of the last.

A block tells a small story worth summarising (see ``bot/sim/dex/traffic.py``): DNS lookups
answered with addresses, one NXDOMAIN for an internal name, TLS handshakes with SNI, some
HTTPS data, one refused connection, and bulk QUIC.
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


def tcp_segment(
    src: str, dst: str, sport: int, dport: int, seq: int, payload: bytes, flags: int = 0x18
) -> bytes:
    """A TCP segment (PSH+ACK unless ``flags`` says) with a correct checksum."""
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, flags, 64240, 0, 0)
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


def _patch_port(block: bytearray, at: int, port_offset: int, new: int) -> None:
    """Set a TCP port in a frame at ``at`` and fix the checksum for it (RFC 1624, eqn. 3)."""
    tcp = at + 34  # Ethernet (14) + IPv4 (20)
    old = struct.unpack_from("!H", block, tcp + port_offset)[0]
    csum = struct.unpack_from("!H", block, tcp + 16)[0]
    total = (~csum & 0xFFFF) + (~old & 0xFFFF) + new
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    struct.pack_into("!H", block, tcp + port_offset, new)
    struct.pack_into("!H", block, tcp + 16, ~total & 0xFFFF)


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
    from bot.sim.dex.traffic import block_frames

    snaplen = max(64, snaplen)
    out.write(GLOBAL_HEADER.pack(PCAP_MAGIC, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
    written = GLOBAL_HEADER.size
    rng = random.Random(seed)
    block = bytearray()
    offsets: list[tuple[int, int]] = []  # (offset of record header, microseconds into block)
    ports: list[tuple[int, int, int]] = []  # (offset of frame, port field offset, first port)
    frames = block_frames(rng, local_ip, _BLOCK_PACKETS)
    for index, (frame, port_field, port) in enumerate(frames):
        captured = frame[:snaplen]
        offsets.append((len(block), index * _BLOCK_SPAN_US // len(frames)))
        block += RECORD_HEADER.pack(0, 0, len(captured), len(frame))
        if port_field is not None:
            ports.append((len(block), port_field, port))
        block += captured
    repeat = 0
    while written < size - RECORD_HEADER.size:
        base = start_us + repeat * _BLOCK_SPAN_US
        for offset, delta in offsets:
            stamp = base + delta
            struct.pack_into("<II", block, offset, stamp // 1_000_000, stamp % 1_000_000)
        if repeat:
            for at, field, first in ports:  # new connections: shift every client port
                _patch_port(block, at, field, 49152 + (first - 49152 + repeat * 64) % 16384)
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
