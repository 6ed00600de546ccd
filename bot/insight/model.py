"""The typed results of artifact summaries: plain frozen dataclasses, no words.

Every sentence a user reads is written by ``handlers/blocks/insight.py`` from these values;
here there are only counts, names and kinds, so a summary can be compared in a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class SummaryBudget:
    """How much work a summary may do on one artifact.

    ``max_uncompressed_bytes`` bounds the zip's declared total and the bytes really read
    (a zip bomb is refused); the time and packet budgets stop a pcap early ("first N
    packets") and stop the warp-diag rule scan early. ``clock`` is injectable so tests are
    deterministic.
    """

    max_uncompressed_bytes: int = 1 << 30
    time_budget_s: float = 20.0
    packet_budget: int = 2_000_000
    max_line_bytes: int = 64 * 1024
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)


class Severity(StrEnum):
    """A warp-diag finding's weight; ``rank`` orders them, most serious first."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical, 1 for warning, 2 for info."""
        return ("critical", "warning", "info").index(self.value)


@dataclass(frozen=True)
class Unreadable:
    """The artifact (or one file in it) could not be read; ``reason`` is short and factual."""

    kind: str
    reason: str


# -- speed test ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeedResult:
    """One interface's speed test; ``None`` where results.json did not say."""

    interface: str
    success: bool
    download_mbps: float | None = None
    upload_mbps: float | None = None
    latency_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class SpeedComparison:
    """``slower`` is how much lower the tunnel's figure is than default's, in percent
    (negative: the tunnel is faster). ``metric`` is ``download`` or ``upload``."""

    metric: str
    tunnel_mbps: float
    default_mbps: float
    slower_pct: int


@dataclass(frozen=True)
class SpeedTestSummary:
    """Per-interface speed results and, when both ran, tunnel versus default."""

    results: tuple[SpeedResult, ...]
    comparisons: tuple[SpeedComparison, ...] = ()
    kind: str = "speed-test"


# -- pcap ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Talker:
    """A remote endpoint and the bytes exchanged with it; ``hostname`` from DNS or SNI."""

    address: str
    bytes: int
    packets: int
    hostname: str | None = None


@dataclass(frozen=True)
class RcodeCount:
    """DNS responses with one rcode (``NXDOMAIN``…) and up to three of the names asked."""

    rcode: str
    count: int
    names: tuple[str, ...]


@dataclass(frozen=True)
class DnsStats:
    """DNS over UDP port 53: queries, responses by rcode, queries unanswered within 2 s."""

    queries: int = 0
    responses: tuple[RcodeCount, ...] = ()
    unanswered: int = 0
    unanswered_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class TcpStats:
    """Connection attempts (SYN), refusals (SYN answered by RST), resets after the
    handshake, and data segments with how many repeated a sequence number already seen."""

    syns: int = 0
    refused: int = 0
    resets: int = 0
    data_segments: int = 0
    retransmitted: int = 0

    @property
    def retransmit_pct(self) -> float:
        """Retransmitted segments as a share of data segments, in percent."""
        return 100.0 * self.retransmitted / self.data_segments if self.data_segments else 0.0


@dataclass(frozen=True)
class NameCount:
    """A name (an SNI, an alert description) and how often it was seen."""

    name: str
    count: int


@dataclass(frozen=True)
class TlsStats:
    """ClientHellos by SNI (``None`` name: no SNI or cut by the snap length) and plaintext
    alerts by description (``bad_certificate``…)."""

    handshakes: tuple[NameCount, ...] = ()
    alerts: tuple[NameCount, ...] = ()

    @property
    def handshake_count(self) -> int:
        """All ClientHellos seen."""
        return sum(h.count for h in self.handshakes)


@dataclass(frozen=True)
class IcmpStats:
    """ICMP/ICMPv6 destination unreachable (other than frag-needed) and fragmentation
    needed / packet too big, with the smallest MTU those messages reported."""

    unreachable: int = 0
    frag_needed: int = 0
    smallest_mtu: int | None = None


class HintKind(StrEnum):
    """What a hint is about; the renderer words it from ``numbers``."""

    DNS_NXDOMAIN = "dns_nxdomain"
    DNS_FAILURE = "dns_failure"
    DNS_UNANSWERED = "dns_unanswered"
    TCP_REFUSED = "tcp_refused"
    TCP_RESETS = "tcp_resets"
    TCP_RETRANSMITS = "tcp_retransmits"
    TLS_ALERTS = "tls_alerts"
    MTU = "mtu"


@dataclass(frozen=True)
class Hint:
    """A hint drawn from the counts: its kind, the numbers behind it and example names."""

    kind: HintKind
    numbers: tuple[tuple[str, float], ...]
    names: tuple[str, ...] = ()

    def number(self, key: str) -> float:
        """The number called ``key`` (KeyError if absent)."""
        return dict(self.numbers)[key]


@dataclass(frozen=True)
class CaptureStats:
    """What one interface's pcap holds. ``stopped_early`` means only the first ``packets``
    were read (time or packet budget); ``truncated`` means the file ended mid-record."""

    file_format: str
    packets: int
    bytes: int
    duration_s: float
    talkers: tuple[Talker, ...]
    dns: DnsStats
    tcp: TcpStats
    tls: TlsStats
    icmp: IcmpStats
    hints: tuple[Hint, ...]
    stopped_early: bool = False
    truncated: bool = False
    not_ip: int = 0


@dataclass(frozen=True)
class InterfaceCapture:
    """One interface of a pcap command: whether it succeeded (results.json), and either its
    stats or why its file could not be read."""

    interface: str
    success: bool | None
    stats: CaptureStats | None = None
    unreadable: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PcapSummary:
    """Both interfaces of a packet capture."""

    interfaces: tuple[InterfaceCapture, ...]
    kind: str = "pcap"


# -- warp-diag ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WarpFacts:
    """The bundle's headline facts; ``None`` where the file was missing or said nothing."""

    version: str | None = None
    platform: str | None = None
    status: str | None = None
    mode: str | None = None
    latency_ms: float | None = None
    loss_pct: float | None = None
    since_handshake_s: int | None = None
    split_tunnel_mode: str | None = None
    split_tunnel_entries: int | None = None
    interface_kind: str | None = None
    captive_network: bool | None = None
    account_type: str | None = None
    organization: str | None = None


@dataclass(frozen=True)
class Finding:
    """A rule that fired: its finding and remediation (from the rule file), the file and
    the masked line that triggered it, and how many lines matched."""

    rule_id: str
    severity: Severity
    finding: str
    remediation: str
    docs: str
    file: str
    line: str
    matches: int = 1


@dataclass(frozen=True)
class FileNote:
    """A file that was read with trouble: ``problem`` is ``encoding`` or ``binary``."""

    file: str
    problem: str
    bad_lines: int = 0


@dataclass(frozen=True)
class WarpDiagSummary:
    """A warp-diag bundle: facts, findings ranked by severity, files not in the bundle,
    files read with trouble, and whether the rule scan stopped on its time budget."""

    facts: WarpFacts
    findings: tuple[Finding, ...]
    missing: tuple[str, ...]
    notes: tuple[FileNote, ...] = ()
    stopped_early: bool = False
    kind: str = "warp-diag"


Summary = SpeedTestSummary | PcapSummary | WarpDiagSummary | Unreadable
