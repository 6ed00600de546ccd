"""Characters that change how text looks without being seen, and the one place that drops them.

A reason is shown to an approver on a card. Bidirectional controls (U+202A–U+202E,
U+2066–U+2069, and the marks U+200E, U+200F, U+061C) can make it read backwards or hide part
of it; zero-width characters (U+200B–U+200D, U+2060, U+FEFF) hide inside words. Both go
before a reason is stored or shown, on the slash path (the grammar) and the form path
(``clean_reason``). A zero-width joiner inside an emoji sequence goes too: the emoji then
shows as its parts, which hides nothing.
"""

from __future__ import annotations

BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])
ZERO_WIDTH = frozenset([0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF])
HIDDEN = BIDI_CONTROLS | ZERO_WIDTH
_DROP = dict.fromkeys(HIDDEN)


def strip_hidden(text: str) -> str:
    """``text`` without bidirectional controls and zero-width characters."""
    return text.translate(_DROP)


def clean_reason(text: str | None) -> str:
    """A reason as it is stored and shown: hidden characters dropped, whitespace collapsed.

    The form path calls this on the typed reason; the grammar does the same for ``--reason``.
    """
    return " ".join(strip_hidden(text or "").split())
