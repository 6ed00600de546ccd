"""What the thread shows next to an artifact: golden renders of real summaries.

The summaries come from the same known-content artifacts as tests/insight, so a golden file
shows what a support engineer reads for that capture. After an intended change:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_blocks_insight.py
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bot.insight import (
    FailureCause,
    FailureExplanation,
    StatusSnapshot,
    Summary,
    Unreadable,
    compare_status,
    summarize,
)
from bot.insight.model import (
    Finding,
    PcapSummary,
    Severity,
    SpeedResult,
    SpeedTestSummary,
    WarpDiagSummary,
)
from bot.insight.speedtest import compare
from handlers.blocks.common import check_limits
from handlers.blocks.insight import render_failure, render_status_change, render_summary
from tests.insight.bundles import bundle
from tests.insight.packets import pcap_zip, trouble, write_pcap
from tests.insight.test_warpdiag import TRIGGERS
from tests.unit.test_blocks_readonly import HOSTILE, assert_golden, dump


def pcap_summary(tmp_path: Path) -> Summary:
    return summarize("pcap", pcap_zip(tmp_path / "p.zip", write_pcap(trouble()), None))


def test_pcap_golden(tmp_path: Path) -> None:
    assert_golden("insight_pcap", render_summary(pcap_summary(tmp_path), label="ann-macbook"))


def test_pcap_first_n_packets(tmp_path: Path) -> None:
    from bot.insight import SummaryBudget

    path = pcap_zip(tmp_path / "p.zip", write_pcap(trouble()))
    summary = summarize("pcap", path, limits=SummaryBudget(packet_budget=20))
    text = dump(render_summary(summary))
    assert "first 20 packets" in text


def test_warp_diag_golden(tmp_path: Path) -> None:
    changes = {**TRIGGERS["tls-inspection"], **TRIGGERS["other-vpn"], "warp_account_txt": None}
    summary = summarize("warp-diag", bundle(tmp_path / "w.zip", **changes))
    assert_golden("insight_warp_diag", render_summary(summary, label="ann-macbook"))


def test_warp_diag_calm_golden(tmp_path: Path) -> None:
    summary = summarize("warp-diag", bundle(tmp_path / "w.zip", warp_stats_txt=None))
    assert_golden("insight_warp_diag_calm", render_summary(summary))


def speed() -> SpeedTestSummary:
    results = (
        SpeedResult("default", True, 500.0, 100.0, 12.5, 1.5, 0.0),
        SpeedResult("tunnel", True, 295.0, 110.0, 20.0, 2.0, 0.5),
    )
    return SpeedTestSummary(results, compare(results))


def test_speed_test_golden() -> None:
    rendered = render_summary(speed(), label="bob-thinkpad")
    assert_golden("insight_speed_test", rendered)
    assert "tunnel 41% slower than default on download" in rendered.text
    assert "tunnel 10% faster than default on upload" in rendered.text


def test_unreadable_golden() -> None:
    summary = Unreadable("pcap", "not a pcap or pcapng file (magic number 47494638)")
    rendered = render_summary(summary, label="ann-macbook")
    assert_golden("insight_unreadable", rendered)
    assert rendered.text.startswith("I couldn't read this capture: not a pcap")


@pytest.mark.parametrize("cause", list(FailureCause))
def test_every_failure_cause_has_words(cause: FailureCause) -> None:
    e = FailureExplanation(cause, "ios", "2024.6.1.0", "2024.12.492.0", 12)
    rendered = render_failure(e)
    assert rendered.text and "None" not in rendered.text


def test_failure_goldens() -> None:
    rendered = [
        render_failure(FailureExplanation(FailureCause.DISCONNECTED, disconnected_min=12)),
        render_failure(FailureExplanation(FailureCause.UNKNOWN)),
    ]
    assert_golden("insight_failure_disconnected", rendered[0])
    assert_golden("insight_failure_unknown", rendered[1])
    assert "disconnected for 12 minutes" in rendered[0].text
    assert rendered[1].text.startswith("I don't know why it failed")


def test_status_change_golden() -> None:
    before = StatusSnapshot("connected", "warp+doh", "SJC", "2025.1.861.0", 14.0)
    after = replace(before, status="disconnected", colo="LAX", rtt_ms=48.0)
    rendered = render_status_change(compare_status(before, after))
    assert_golden("insight_status_change", rendered)
    assert "status connected → disconnected" in rendered.text
    same = render_status_change(compare_status(before, before))
    assert "Nothing changed since the request." in same.text


def test_outside_text_never_pings(tmp_path: Path) -> None:
    pcap = pcap_summary(tmp_path)
    assert isinstance(pcap, PcapSummary)
    iface = pcap.interfaces[1]
    hostile_pcap = replace(pcap, interfaces=(pcap.interfaces[0], replace(iface, error=HOSTILE)))
    finding = Finding("x", Severity.CRITICAL, HOSTILE, HOSTILE, "https://a|b>c", HOSTILE, HOSTILE)
    diag = summarize("warp-diag", bundle(tmp_path / "w.zip", platform_txt=HOSTILE))
    assert isinstance(diag, WarpDiagSummary)
    for rendered in (
        render_summary(hostile_pcap, label=HOSTILE),
        render_summary(replace(diag, findings=(finding,))),
        render_summary(Unreadable("pcap", HOSTILE)),
        render_summary(SpeedTestSummary((SpeedResult(HOSTILE, False, error=HOSTILE),))),
    ):
        text = json.dumps(rendered.blocks)
        assert "<!channel>" not in text and "<@U123>" not in text and "|bank>" not in text


def test_fifty_findings_fit_slack(tmp_path: Path) -> None:
    diag = summarize("warp-diag", bundle(tmp_path / "w.zip"))
    assert isinstance(diag, WarpDiagSummary)
    long = "x" * 5000
    many = tuple(
        Finding(f"r{i}", Severity.WARNING, long, long, "https://x", "daemon.log", long)
        for i in range(50)
    )
    rendered = check_limits(render_summary(replace(diag, findings=many)))
    assert len(rendered.blocks) <= 50
    assert "and 40 more findings" in json.dumps(rendered.blocks)
