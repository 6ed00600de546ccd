"""Cloudflare's ``filename`` is remote input: it never becomes a local path unchecked."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.dex import local_artifact_name, remote_artifact_name
from bot.dex.download import MAX_NAME_BYTES

CID = "5758fefe-ae7e-4538-a39b-1fef6abcb909"


@pytest.mark.parametrize(
    ("filename", "remote", "local"),
    [
        ("pcap-1.zip", "pcap-1.zip", "pcap-1.zip"),
        (
            f"https://api.cloudflare.com/client/v4/accounts/a/dex/commands/{CID}/downloads/x.zip",
            "x.zip",
            "x.zip",
        ),
        (
            "https://example.com/d/capture%20one.zip?sig=abc#frag",
            "capture one.zip",
            "capture one.zip",
        ),
        ("capture%20one.zip", "capture one.zip", "capture one.zip"),
        ("what?#1.zip", "what?#1.zip", "what_#1.zip"),
        ("../../etc/passwd", "passwd", "passwd"),
        ("..%2F..%2Fetc%2Fpasswd", "passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini", "system.ini"),
        ("", f"{CID}.zip", f"{CID}.zip"),
        (None, f"{CID}.zip", f"{CID}.zip"),
        ("https://example.com/", f"{CID}.zip", f"{CID}.zip"),
        ("..", f"{CID}.zip", f"{CID}.zip"),
        (".bashrc", ".bashrc", "bashrc"),
        ("a%00b.zip", "a\x00b.zip", "a_b.zip"),
        ("bell\x07.zip", "bell\x07.zip", "bell_.zip"),
        ("con:stream.zip", "con:stream.zip", "con_stream.zip"),
    ],
)
def test_names(filename: str | None, remote: str, local: str) -> None:
    assert remote_artifact_name(filename, CID) == remote
    assert local_artifact_name(remote, CID) == local


@pytest.mark.parametrize("hostile", ["...", "\x00\x00", "/", ". .", "\u202e"])
def test_nothing_usable_falls_back_to_the_command_id(hostile: str) -> None:
    assert local_artifact_name(hostile, CID) == f"{CID}.zip"


def test_long_names_are_capped_keeping_the_extension() -> None:
    name = local_artifact_name("é" * 300 + ".zip", CID)
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name.endswith(".zip")


@pytest.mark.parametrize(
    "filename", ["../../etc/passwd", "/etc/passwd", "a/../../b", "..", "%2e%2e%2f", "C:\\x"]
)
def test_the_local_name_is_always_one_component(filename: str, tmp_path: Path) -> None:
    local = local_artifact_name(remote_artifact_name(filename, CID), CID)
    assert (tmp_path / local).resolve().parent == tmp_path.resolve()
    assert not local.startswith(".")
    assert "/" not in local and "\\" not in local
