"""Packet-capture triage over one pcap stream, with dpkt.

dpkt reads libpcap in both byte orders, micro- and nanosecond, and pcapng, from any file
object one record at a time, so a zip member is streamed and never held whole. It decodes
Ethernet, Linux cooked, BSD loopback and raw IP link layers, IPv4/IPv6, TCP, UDP, ICMP(v6),
DNS and TLS records. Hostile files are fenced here rather than trusted to dpkt: every read is
capped (a record or block claiming more than ``MAX_RECORD`` bytes is a "snaplen lie"), a
libpcap record longer than the file's snap length is a lie too, and anything dpkt cannot
decode is counted as such, never raised.
"""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import dpkt

from bot.insight.model import CaptureStats, SummaryBudget
from bot.insight.pcap_counts import Counters

#: No libpcap record is legitimately larger (libpcap's own maximum snap length), plus a
#: pcapng block's framing.
MAX_RECORD = 262_144 + 1024
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_LIBPCAP_MAGICS = {
    b"\xa1\xb2\xc3\xd4": "libpcap (big-endian, µs)",
    b"\xd4\xc3\xb2\xa1": "libpcap (little-endian, µs)",
    b"\xa1\xb2\x3c\x4d": "libpcap (big-endian, ns)",
    b"\x4d\x3c\xb2\xa1": "libpcap (little-endian, ns)",
}
_RAW_IP_LINKS = {12, 14, 101, 228, 229}
_DECODE_ERRORS = (dpkt.UnpackError, struct.error, IndexError, ValueError, KeyError, TypeError)


class PcapUnreadable(Exception):
    """The capture file cannot be read; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Fence:
    """A file wrapper that refuses oversized reads and notices a short final read."""

    raw: Any
    short_read: bool = False
    cap: int = MAX_RECORD
    _requested: list[int] = field(default_factory=list)

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.cap:
            raise PcapUnreadable(
                f"a record claims {n:,} bytes, more than any snap length allows (snaplen lie)"
            )
        data = self.raw.read(n)
        if 0 < len(data) < n:
            self.short_read = True
        return data

    def seek(self, *_: Any) -> int:  # dpkt's UniversalReader seeks; we pick the reader ourselves
        raise io.UnsupportedOperation("not seekable")


def triage(stream: IO[bytes], limits: SummaryBudget) -> CaptureStats:
    """Read one capture from ``stream`` and count what it holds (PcapUnreadable if it can't)."""
    head = stream.read(4)
    fence = _Fence(_Prefixed(head, stream))
    if head == PCAPNG_MAGIC:
        fmt = "pcapng"
        try:
            reader: Any = dpkt.pcapng.Reader(fence)
        except _DECODE_ERRORS as exc:
            raise PcapUnreadable(f"the pcapng header is damaged ({exc})") from None
        snaplen = 0
    elif head in _LIBPCAP_MAGICS:
        fmt = _LIBPCAP_MAGICS[head]
        try:
            reader = dpkt.pcap.Reader(fence)
        except _DECODE_ERRORS as exc:
            raise PcapUnreadable(f"the pcap header is damaged ({exc})") from None
        snaplen = reader.snaplen
    else:
        shown = head.hex() if head else "empty file"
        raise PcapUnreadable(f"not a pcap or pcapng file (magic number {shown})")
    decode = _decoder(reader.datalink())
    counters = Counters()
    started = limits.clock()
    stopped_early = truncated = False
    iterator = iter(reader)
    while True:
        try:
            ts, buf = next(iterator)
        except StopIteration:
            break
        except dpkt.NeedData:
            truncated = True  # the file ends inside a record header
            break
        except _DECODE_ERRORS as exc:
            raise PcapUnreadable(f"record {counters.packets + 1:,} is damaged ({exc})") from None
        if fence.short_read:
            truncated = True  # the last record was cut off; it is not counted
            break
        if snaplen and len(buf) > snaplen:
            raise PcapUnreadable(
                f"record {counters.packets + 1:,} holds {len(buf):,} bytes, more than the"
                f" file's snap length of {snaplen:,} (snaplen lie)"
            )
        counters.packet(float(ts), buf, decode)
        if counters.packets >= limits.packet_budget:
            stopped_early = _more(fence)
            break
        if counters.packets % 4096 == 0 and limits.clock() - started > limits.time_budget_s:
            stopped_early = _more(fence)
            break
    return counters.stats(fmt, stopped_early=stopped_early, truncated=truncated)


def _more(fence: _Fence) -> bool:
    """Whether anything follows (so "first N packets" is true, not a guess)."""
    return bool(fence.raw.read(1))


class _Prefixed(io.RawIOBase):
    """``head`` (already read to sniff the magic) followed by the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            out, self._head = self._head + self._stream.read(), b""
            return out
        if self._head:
            out, self._head = self._head[:n], self._head[n:]
            if len(out) < n:
                out += self._stream.read(n - len(out))
            return out
        return self._stream.read(n)


Decoder = Callable[[bytes], Any]


def _decoder(linktype: int) -> Decoder:
    """The IP packet inside a frame of ``linktype``, or None (not IP, or not decodable)."""

    def ethernet(buf: bytes) -> Any:
        # Untagged IPv4/IPv6 (nearly every frame): skip dpkt's Ethernet object, ~20% faster.
        kind = buf[12:14]
        if kind == b"\x08\x00":
            return dpkt.ip.IP(buf[14:])
        if kind == b"\x86\xdd":
            return dpkt.ip6.IP6(buf[14:])
        return dpkt.ethernet.Ethernet(buf).data  # VLAN tags, PPPoE, MPLS: dpkt unwraps them

    def loopback(buf: bytes) -> Any:
        return dpkt.loopback.Loopback(buf).data

    def sll(buf: bytes) -> Any:
        return dpkt.sll.SLL(buf).data

    def sll2(buf: bytes) -> Any:
        return dpkt.sll2.SLL2(buf).data

    def raw(buf: bytes) -> Any:
        if not buf:
            return None
        return dpkt.ip6.IP6(buf) if buf[0] >> 4 == 6 else dpkt.ip.IP(buf)

    table: dict[int, Decoder] = {1: ethernet, 0: loopback, 108: loopback, 113: sll, 276: sll2}
    if linktype in _RAW_IP_LINKS:
        return raw
    return table.get(linktype, lambda _buf: None)


def address(raw: bytes) -> str:
    """An IPv4 or IPv6 address in its usual text form."""
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)
