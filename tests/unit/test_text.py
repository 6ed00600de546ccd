"""Hidden characters never reach a card: the form's reason and every piece of outside text."""

from __future__ import annotations

import pytest

from bot.domain.errors import inert
from bot.domain.text import HIDDEN, clean_reason

SPOOF = "VPN\u202e sp\u2066oo\u2069fed\u200b\u200c\u200d\u2060\ufeff \u202adrops\u202c\u200e\u200f"


@pytest.mark.parametrize("clean", [clean_reason, inert])
def test_bidi_controls_and_zero_width_characters_are_dropped(clean: object) -> None:
    assert callable(clean)
    assert clean(SPOOF) == "VPN spoofed drops"
    for point in HIDDEN:
        assert clean(f"a{chr(point)}b") == "ab"


def test_the_hidden_set_covers_the_issue_ranges() -> None:
    wanted = {*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200B, 0x200C, 0x200D, 0xFEFF}
    assert wanted <= HIDDEN
    assert clean_reason(None) == "" and clean_reason("  a \n b ") == "a b"
