"""The simulator's artifacts, summarised: the shell and every scenario show these."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.insight import PcapSummary, SpeedTestSummary, WarpDiagSummary, summarize
from bot.insight.model import HintKind, WarpFacts
from bot.sim.dex.artifacts import build_artifact
from bot.sim.dex.state import Command

CREATED = datetime(2026, 3, 10, 10, 40, tzinfo=UTC)


def command(kind: str, **args: object) -> Command:
    return Command(
        id="5758fefe-8e4c-4bd0-9a8c-2f9b0c1d2e3f",
        type=kind,
        device_id="d1",
        user_email="ann@example.com",
        registration_id="r1",
        args=dict(args),
        created=CREATED,
        timeline=[(CREATED, "SUCCESS")],
    )


def test_a_simulated_warp_diag_reads_in_full(tmp_path: Path) -> None:
    path = tmp_path / "w.zip"
    build_artifact(path, command("warp-diag"), 300_000, "SJC")
    summary = summarize("warp-diag", path)
    assert isinstance(summary, WarpDiagSummary)
    f = summary.facts
    assert f == WarpFacts(
        version="2025.1.861.0", platform="macOS", status="Connected",
        mode="WarpWithDnsOverHttps", latency_ms=f.latency_ms, loss_pct=f.loss_pct,
        since_handshake_s=f.since_handshake_s, split_tunnel_mode="exclude",
        split_tunnel_entries=9, interface_kind="WiFi", captive_network=False,
        account_type="Team", organization="dexbot-demo",
    )  # fmt: skip
    assert f.latency_ms is not None and f.since_handshake_s is not None
    assert summary.missing == () and summary.findings == () and summary.notes == ()


@pytest.mark.parametrize("snaplen", [160, 1600])
def test_a_simulated_capture_has_something_to_say(tmp_path: Path, snaplen: int) -> None:
    path = tmp_path / "p.zip"
    build_artifact(path, command("pcap", **{"packet-size-bytes": snaplen}), 2_000_000, "SJC")
    summary = summarize("pcap", path)
    assert isinstance(summary, PcapSummary)
    default, tunnel = summary.interfaces
    for iface in (default, tunnel):
        s = iface.stats
        assert iface.success is True and s is not None
        blocks = s.dns.queries // 4  # each block asks 4 names, one of them internal
        assert s.dns.queries == 4 * blocks and s.dns.unanswered == 0
        nx = next(r for r in s.dns.responses if r.rcode == "NXDOMAIN")
        assert nx.count == blocks and nx.names == ("wiki.corp.example",)
        assert s.tcp.syns == 4 * blocks and s.tcp.refused == blocks
        # Each repeat of the block has fresh client ports: new connections, not retransmissions.
        assert s.tcp.retransmitted == 0 and s.tcp.data_segments > 0
        assert {t.hostname for t in s.talkers[:3]} == {
            "www.cloudflare.com", "slack.com", "dexbot-demo.cloudflareaccess.com",
        }  # fmt: skip
        assert {h.kind for h in s.hints} == {HintKind.DNS_NXDOMAIN, HintKind.TCP_REFUSED}


def test_a_simulated_speed_test_compares_interfaces(tmp_path: Path) -> None:
    path = tmp_path / "s.zip"
    build_artifact(path, command("speed-test"), 0, "SJC")
    summary = summarize("speed-test", path)
    assert isinstance(summary, SpeedTestSummary)
    assert [r.interface for r in summary.results] == ["default", "tunnel"]
    assert all(r.download_mbps and r.upload_mbps and r.latency_ms for r in summary.results)
    download = summary.comparisons[0]
    assert download.metric == "download" and 5 <= download.slower_pct <= 50
