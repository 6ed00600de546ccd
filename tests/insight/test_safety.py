"""Safe on any bytes: every bad artifact of issue 12 item 6 gets a reason, never an exception."""

from __future__ import annotations

import json
import random
import struct
import zipfile
from pathlib import Path

import pytest

from bot.insight import SummaryBudget, Unreadable, WarpDiagSummary, summarize
from bot.insight.model import FileNote
from tests.insight.bundles import bundle

KINDS = ("pcap", "warp-diag", "speed-test")


@pytest.mark.parametrize("kind", KINDS)
def test_a_non_zip_is_unreadable(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(b"<html>502 Bad Gateway</html>")
    summary = summarize(kind, path)
    assert isinstance(summary, Unreadable)
    assert summary.reason.startswith("not a readable zip")


@pytest.mark.parametrize("kind", KINDS)
def test_a_truncated_zip_is_unreadable(tmp_path: Path, kind: str) -> None:
    whole = bundle(tmp_path / "whole.zip").read_bytes()
    path = tmp_path / "a.zip"
    path.write_bytes(whole[: len(whole) // 2])
    summary = summarize(kind, path)
    assert isinstance(summary, Unreadable) and summary.reason.startswith("not a readable zip")


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    summary = summarize("pcap", tmp_path / "nowhere.zip")
    assert isinstance(summary, Unreadable)


def test_a_malformed_member_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        noise = random.Random(1).randbytes(5000).hex()  # does not deflate much
        zf.writestr("results.json", json.dumps({"results": [], "noise": noise}))
    data = bytearray(path.read_bytes())
    data[50:70] = b"\xff" * 20  # garble the deflated bytes (after the 42-byte local header)
    path.write_bytes(bytes(data))
    summary = summarize("speed-test", path)
    assert isinstance(summary, Unreadable)
    assert summary.reason.startswith("a file in the zip is damaged"), summary.reason


def test_a_declared_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("capture-default.pcap", bytes(5_000_000))  # 5 MB of zeros, ~5 KB zipped
    assert path.stat().st_size < 10_000
    summary = summarize("pcap", path, limits=SummaryBudget(max_uncompressed_bytes=1_000_000))
    assert summary == Unreadable(
        "pcap", "it would unpack to 5,000,000 bytes, over the 1,000,000 byte limit"
    )


def test_a_bomb_that_lies_about_its_size_is_stopped(tmp_path: Path) -> None:
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("capture-default.pcap", bytes(5_000_000))
    data = bytearray(path.read_bytes())
    # Rewrite the declared size (local header and central directory) to 1,000 bytes.
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(sig)
        struct.pack_into("<I", data, at + offset, 1000)
    path.write_bytes(bytes(data))
    summary = summarize("pcap", path, limits=SummaryBudget(max_uncompressed_bytes=100_000))
    # The declared size passes; zipfile stops inflating at it, and the CRC catches the lie.
    assert summary == Unreadable(
        "pcap", "a file in the zip is damaged (Bad CRC-32 for file 'capture-default.pcap')"
    )


def test_the_real_size_counter_stops_reading_past_the_limit(tmp_path: Path) -> None:
    from bot.insight.safezip import ArtifactUnreadable, SafeZip

    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", bytes(600_000))
        zf.writestr("b.txt", bytes(600_000))
    limits = SummaryBudget(max_uncompressed_bytes=1_300_000)
    with SafeZip(path, limits) as archive:
        archive.read_bytes("a.txt")
        archive.charge(200_000)  # as if a.txt had inflated to more than it declared
        with pytest.raises(ArtifactUnreadable, match="unpacks to more than 1,300,000 bytes"):
            archive.read_bytes("b.txt")


def test_an_encrypted_member_is_unreadable(tmp_path: Path) -> None:
    path = bundle(tmp_path / "a.zip")
    data = bytearray(path.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) != -1:  # set the "encrypted" flag everywhere
        data[at + 8] |= 1
        at += 4
    path.write_bytes(bytes(data))
    summary = summarize("warp-diag", path)
    assert isinstance(summary, Unreadable)


def test_a_file_in_an_unexpected_encoding_is_noted_not_fatal(tmp_path: Path) -> None:
    latin = "Version: 2025.1.861.0 (Société)\n".encode("latin-1")
    path = bundle(tmp_path / "a.zip", version_txt=latin)
    summary = summarize("warp-diag", path)
    assert isinstance(summary, WarpDiagSummary)
    assert summary.facts.version == "2025.1.861.0"
    assert summary.notes == (FileNote("version.txt", "encoding", 1),)


def test_utf16_files_from_windows_are_read(tmp_path: Path) -> None:
    ps = "Image Name   PID\nopenvpn.exe  4242\n".encode("utf-16")
    path = bundle(tmp_path / "a.zip", ps_txt=None, processes_txt=ps, platform_txt="Windows\n")
    summary = summarize("warp-diag", path)
    assert isinstance(summary, WarpDiagSummary)
    assert [f.rule_id for f in summary.findings] == ["other-vpn"]
    assert summary.findings[0].line == "openvpn.exe  4242" and summary.notes == ()


def test_a_binary_file_is_skipped_with_a_note(tmp_path: Path) -> None:
    path = bundle(tmp_path / "a.zip", daemon_log=b"\x00\x01\x02\n" * 100)
    summary = summarize("warp-diag", path)
    assert isinstance(summary, WarpDiagSummary)
    assert FileNote("daemon.log", "binary", 0) in summary.notes


def test_an_unknown_kind_is_unreadable(tmp_path: Path) -> None:
    assert summarize("tcpdump", bundle(tmp_path / "a.zip")) == Unreadable(
        "tcpdump", "no summary for 'tcpdump' commands"
    )
