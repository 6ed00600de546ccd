"""Speed-test numbers, failure causes and before/after, each a pure function."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from bot.dex.models import DeviceLiveStatus
from bot.insight import (
    FailureCause,
    FailureFacts,
    SpeedTestSummary,
    StatusSnapshot,
    Unreadable,
    compare_status,
    explain_failure,
    summarize,
)
from bot.insight.model import SpeedComparison, SpeedResult
from bot.insight.status import Change


def speed_zip(path: Path, results: object) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("results.json", json.dumps(results))
    return path


def test_both_interfaces_and_the_comparison(tmp_path: Path) -> None:
    results = {"results": [
        {"interface": "default", "download_mbps": 500.0, "upload_mbps": 100.0,
         "latency_ms": 12.5, "jitter_ms": 1.5, "loss_pct": 0.0, "success": True},
        {"interface": "tunnel", "download_mbps": 295.0, "upload_mbps": 110.0,
         "latency_ms": 20.0, "jitter_ms": 2.0, "loss_pct": 0.5, "success": True},
    ]}  # fmt: skip
    summary = summarize("speed-test", speed_zip(tmp_path / "a.zip", results))
    assert isinstance(summary, SpeedTestSummary)
    assert summary.results[1] == SpeedResult("tunnel", True, 295.0, 110.0, 20.0, 2.0, 0.5)
    assert summary.comparisons == (
        SpeedComparison("download", 295.0, 500.0, 41),
        SpeedComparison("upload", 110.0, 100.0, -10),
    )


def test_one_interface_and_unknown_fields(tmp_path: Path) -> None:
    results = {"default": {"download": 80, "latency": "fast", "success": True}}
    summary = summarize("speed-test", speed_zip(tmp_path / "a.zip", results))
    assert isinstance(summary, SpeedTestSummary)
    assert summary.results == (SpeedResult("default", True, download_mbps=80.0),)
    assert summary.comparisons == ()


def test_a_failed_interface_is_not_compared(tmp_path: Path) -> None:
    results = {"results": [
        {"interface": "default", "download_mbps": 500.0, "success": True},
        {"interface": "tunnel", "success": False, "error": "tunnel not connected"},
    ]}  # fmt: skip
    summary = summarize("speed-test", speed_zip(tmp_path / "a.zip", results))
    assert isinstance(summary, SpeedTestSummary)
    assert summary.results[1].error == "tunnel not connected" and summary.comparisons == ()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "results.json is not valid JSON"),
        (b"[1, 2]", "results.json holds no per-interface results"),
        (b"\xff\xfe\x00garbage", "results.json is not valid JSON"),
    ],
)
def test_bad_results_json(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("results.json", content)
    assert summarize("speed-test", path) == Unreadable("speed-test", reason)


CASES = [
    (FailureFacts("pcap", upload_too_large=True), FailureCause.UPLOAD_TOO_LARGE),
    (FailureFacts("pcap", platform="ios"), FailureCause.UNSUPPORTED_PLATFORM),
    (FailureFacts("pcap", platform="windows", client_version="2024.6.1.0"),
     FailureCause.CLIENT_TOO_OLD),
    (FailureFacts("pcap", platform="windows", client_version="2025.1.1.0",
                  other_capture_running=True), FailureCause.SECOND_CAPTURE_WINDOWS),
    (FailureFacts("pcap", platform="mac", other_capture_running=True), FailureCause.UNKNOWN),
    (FailureFacts("pcap", last_status="disconnected", disconnected_s=660),
     FailureCause.DISCONNECTED),
    (FailureFacts("pcap", last_status="disconnected", disconnected_s=120), FailureCause.UNKNOWN),
    (FailureFacts("warp-diag", platform="linux", client_version="2025.2.0.0",
                  last_status="connected"), FailureCause.UNKNOWN),
]  # fmt: skip


@pytest.mark.parametrize(("facts", "cause"), CASES)
def test_failure_causes(facts: FailureFacts, cause: FailureCause) -> None:
    assert explain_failure(facts).cause is cause


def test_disconnected_minutes_are_reported() -> None:
    facts = FailureFacts("pcap", last_status="disconnected", disconnected_s=725)
    assert explain_failure(facts).disconnected_min == 12


def live(**wire: object) -> DeviceLiveStatus:
    rtt = {"rttUs": {"downstream": 14000, "upstream": 9000}}
    base = {"deviceId": "d1", "status": "connected", "mode": "warp+doh", "colo": "SJC",
            "version": "2025.1.861.0", "rtt": rtt}  # fmt: skip
    return DeviceLiveStatus.model_validate({**base, **wire})


def test_snapshot_from_a_live_status() -> None:
    assert StatusSnapshot.from_live(live()) == StatusSnapshot(
        "connected", "warp+doh", "SJC", "2025.1.861.0", 14.0
    )


def test_what_changed_between_request_and_completion() -> None:
    before = StatusSnapshot.from_live(live())
    after = StatusSnapshot.from_live(
        live(status="disconnected", colo="LAX", rtt={"rttUs": {"downstream": 16000}})
    )
    change = compare_status(before, after)
    assert change.changes == (
        Change("status", "connected", "disconnected"),
        Change("colo", "SJC", "LAX"),
    )  # RTT moved 2 ms: noise, not a change
    assert compare_status(before, before).changes == ()
    assert compare_status(None, after).changes == ()
