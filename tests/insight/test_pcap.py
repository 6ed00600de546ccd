"""Packet-capture triage on captures with known contents (built with dpkt, not the
simulator's writer): every count, in every file format the issue names."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from bot.insight import PcapSummary, SummaryBudget, Unreadable, summarize
from bot.insight.model import CaptureStats, HintKind, NameCount, RcodeCount
from tests.insight.packets import (
    BLOCKED,
    INTRANET,
    RESOLVER,
    ROUTER,
    WEB,
    Capture,
    pcap_zip,
    trouble,
    write_pcap,
    write_pcapng,
)

FORMATS = {
    "libpcap (little-endian, µs)": lambda c: write_pcap(c),
    "libpcap (big-endian, µs)": lambda c: write_pcap(c, big_endian=True),
    "libpcap (little-endian, ns)": lambda c: write_pcap(c, nano=True),
    "libpcap (big-endian, ns)": lambda c: write_pcap(c, nano=True, big_endian=True),
    "pcapng": write_pcapng,
}


def stats_of(path: Path, limits: SummaryBudget | None = None) -> CaptureStats:
    summary = summarize("pcap", path, limits=limits)
    assert isinstance(summary, PcapSummary), summary
    stats = summary.interfaces[0].stats
    assert stats is not None, summary.interfaces[0]
    return stats


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_count_of_the_trouble_capture(tmp_path: Path, fmt: str) -> None:
    capture = trouble()
    s = stats_of(pcap_zip(tmp_path / "a.zip", FORMATS[fmt](capture)))
    assert s.file_format == fmt
    assert s.packets == len(capture.frames) == 35
    assert s.duration_s == 10.0
    assert not s.stopped_early and not s.truncated and s.not_ip == 0

    assert s.dns.queries == 7
    assert s.dns.responses == (
        RcodeCount("NXDOMAIN", 3, ("a.corp.example", "b.corp.example", "c.corp.example")),
        RcodeCount("NOERROR", 1, ("www.example.com",)),
        RcodeCount("SERVFAIL", 1, ("srv.example",)),
    )
    assert (s.dns.unanswered, s.dns.unanswered_names) == (2, ("slow.example", "lost.example"))

    assert (s.tcp.syns, s.tcp.refused, s.tcp.resets) == (4, 2, 1)
    assert (s.tcp.data_segments, s.tcp.retransmitted) == (8, 1)
    assert s.tcp.retransmit_pct == 12.5

    assert s.tls.handshakes == (NameCount("intranet.corp", 1), NameCount("www.example.com", 1))
    assert s.tls.alerts == (NameCount("bad_certificate", 1), NameCount("handshake_failure", 1))

    assert (s.icmp.unreachable, s.icmp.frag_needed, s.icmp.smallest_mtu) == (2, 2, 1280)

    # Talkers: bytes are IP lengths; hostnames from the DNS answer and the SNI.
    talkers = [(t.address, t.hostname, t.packets) for t in s.talkers]
    assert talkers == [
        (WEB, "www.example.com", 10),
        (RESOLVER, None, 12),
        (INTRANET, "intranet.corp", 5),
        (BLOCKED, None, 4),
        (ROUTER, None, 2),
    ]
    assert s.talkers[0].bytes == 10 * 40 + 1400 * 4 + len(_hello_ip_payload("www.example.com"))

    kinds = [h.kind for h in s.hints]
    assert kinds == [
        HintKind.DNS_NXDOMAIN,
        HintKind.DNS_FAILURE,
        HintKind.DNS_UNANSWERED,
        HintKind.TCP_REFUSED,
        HintKind.TCP_RESETS,
        HintKind.TLS_ALERTS,
        HintKind.MTU,
    ]
    assert s.hints[0].number("count") == 3 and s.hints[0].number("responses") == 5
    assert s.hints[-1].number("mtu") == 1280
    # 1 of 8 is a lot, but 1 segment is too few to call loss: no retransmission hint.
    assert HintKind.TCP_RETRANSMITS not in kinds


def _hello_ip_payload(sni: str) -> bytes:
    from tests.insight.packets import client_hello

    return client_hello(sni)


def test_many_retransmissions_give_a_hint(tmp_path: Path) -> None:
    from tests.insight.packets import ACK, HOST, PSH, tcp

    c = Capture()
    for n in range(100):
        seq = 1000 + 100 * (n - (n % 10 == 9))  # every tenth segment repeats the one before
        c.add(n * 0.01, tcp(HOST, 50000, WEB, 443, PSH | ACK, seq, bytes(100)))
    s = stats_of(pcap_zip(tmp_path / "a.zip", write_pcap(c)))
    assert (s.tcp.data_segments, s.tcp.retransmitted) == (100, 10)
    (hint,) = s.hints
    assert hint.kind is HintKind.TCP_RETRANSMITS and hint.number("pct") == 10.0


def test_results_json_says_which_interface_failed(tmp_path: Path) -> None:
    summary = summarize("pcap", pcap_zip(tmp_path / "a.zip", write_pcap(trouble()), None))
    assert isinstance(summary, PcapSummary)
    default, tunnel = summary.interfaces
    assert default.success is True and default.stats is not None
    assert (tunnel.success, tunnel.stats, tunnel.error) == (False, None, "failed")


def test_the_packet_budget_stops_early_and_says_so(tmp_path: Path) -> None:
    s = stats_of(
        pcap_zip(tmp_path / "a.zip", write_pcap(trouble())), SummaryBudget(packet_budget=10)
    )
    assert s.stopped_early and s.packets == 10


def test_the_time_budget_stops_early(tmp_path: Path) -> None:
    big = Capture(trouble().frames * 300)  # 10,500 packets: the clock is read every 4,096
    ticks = iter(range(0, 10**6, 100))  # start 0 s; 100 s at 4,096 packets; 200 s at 8,192
    limits = SummaryBudget(time_budget_s=150, clock=lambda: float(next(ticks)))
    s = stats_of(pcap_zip(tmp_path / "a.zip", write_pcap(big)), limits)
    assert s.stopped_early and s.packets == 8192


def test_a_capture_cut_mid_record_keeps_what_came_before(tmp_path: Path) -> None:
    data = write_pcap(trouble())
    s = stats_of(pcap_zip(tmp_path / "a.zip", data[:-10]))
    assert s.truncated and s.packets == 34


def _reason(path: Path) -> str:
    summary = summarize("pcap", path)
    assert isinstance(summary, PcapSummary)
    iface = summary.interfaces[0]
    assert iface.stats is None and iface.unreadable, iface
    return iface.unreadable


def test_bad_magic_is_a_reason_not_an_exception(tmp_path: Path) -> None:
    reason = _reason(pcap_zip(tmp_path / "a.zip", b"GIF89a" + bytes(100)))
    assert reason == "not a pcap or pcapng file (magic number 47494638)"


def test_a_snaplen_lie_within_the_cap(tmp_path: Path) -> None:
    data = bytearray(write_pcap(trouble()))
    struct.pack_into("<I", data, 16, 60)  # the header now claims a 60-byte snap length
    reason = _reason(pcap_zip(tmp_path / "a.zip", bytes(data)))
    assert "more than the file's snap length of 60 (snaplen lie)" in reason


def test_a_record_claiming_gigabytes_is_refused_before_reading(tmp_path: Path) -> None:
    data = bytearray(write_pcap(trouble()))
    struct.pack_into("<I", data, 24 + 8, 0xFFFFFFF0)  # first record's captured length
    reason = _reason(pcap_zip(tmp_path / "a.zip", bytes(data)))
    assert "claims 4,294,967,280 bytes" in reason and "snaplen lie" in reason


def test_a_zip_with_no_capture_is_unreadable(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")
    assert summarize("pcap", path) == Unreadable(
        "pcap", "the zip holds no capture-default.pcap or capture-tunnel.pcap"
    )


def test_pcap_reader_streams_from_a_non_seekable_member() -> None:
    from bot.insight.pcap import triage

    class OneWay(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b):  # type: ignore[no-untyped-def]
            chunk = self._data.read(min(len(b), 7))  # tiny reads, like a network stream
            b[: len(chunk)] = chunk
            return len(chunk)

    stats = triage(io.BufferedReader(OneWay(write_pcapng(trouble()))), SummaryBudget())
    assert stats.packets == 35 and stats.tcp.refused == 2
