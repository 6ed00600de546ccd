"""docs/shell.md shows tests/shell/capture.dex and a transcript of running it: both must match
the script, so a changed script (or a form that asks different questions) fails here until
the page is regenerated with ``dexbot shell --script tests/shell/capture.dex``."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "shell" / "capture.dex"
PAGE = ROOT / "docs" / "shell.md"
#: A line the person typed, as the transcript echoes it: after the shell's prompt
#: ("sam in #dex-support> "), a form's prompt ("[@ann] > ", "  > "), or a confirm ("[y/n] > ").
TYPED = re.compile(r"^(?:\S+ in #\S+> |.*[\])] > ?|\s+> ?)(.*)$")


def _block_after(page: str, intro: str) -> list[str]:
    """The lines of the first fenced block after ``intro``."""
    start = page.index(intro)
    opened = page.index("```", start)
    body = page.index("\n", opened) + 1
    return page[body : page.index("```", body)].rstrip("\n").split("\n")


def script_lines() -> list[str]:
    return [line for line in SCRIPT.read_text().splitlines() if not line.startswith("#")]


def typed_lines(transcript: list[str]) -> list[str]:
    return [m.group(1).strip() for line in transcript if (m := TYPED.match(line))]


def test_the_page_shows_the_script_as_it_is() -> None:
    shown = _block_after(PAGE.read_text(), "`tests/shell/capture.dex` (CI runs it too):")
    assert shown == SCRIPT.read_text().rstrip("\n").split("\n")


def test_the_transcript_is_a_run_of_that_script() -> None:
    page = PAGE.read_text()
    transcript = _block_after(page, "`dexbot shell --script tests/shell/capture.dex` printed:")
    assert typed_lines(transcript) == [line.strip() for line in script_lines()]


def test_typed_lines_are_read_from_every_kind_of_prompt() -> None:
    # The reader itself, so a transcript that matches by accident cannot pass.
    assert typed_lines(
        [
            'sam in #dex-support> /dex capture @ann pcap 5m --reason "VPN drops"',
            "  Whose device? (required) [@ann] > ",
            "  > ann-macbook",
            "  Approve? [y/n] > y",
            "  Reason (required) > to check",
            "[#dex-support] dexbot:",
            "    ↳ dexbot: Sent to ann-macbook",
        ]
    ) == ['/dex capture @ann pcap 5m --reason "VPN drops"', "", "ann-macbook", "y", "to check"]
