"""Errors whose message is written for the person who typed the command."""

from __future__ import annotations


class UserFacingError(Exception):
    """A known problem; ``str(exc)`` is shown to the user as is (ephemeral)."""


class NotAllowed(UserFacingError):
    """The acting user may not do this."""


def inert(text: str | None, limit: int = 80) -> str:
    """Outside text (what someone typed, a device name) made safe to put in our messages.

    Our messages are mrkdwn with real mentions in them, so they are not escaped as a whole;
    instead every piece that came from outside loses ``<``, ``>``, ``&`` and backticks (no
    ``<!channel>`` can ping anyone) and is cut to ``limit`` characters.
    """
    cleaned = " ".join((text or "").split())
    cleaned = "".join(ch for ch in cleaned if ch not in "<>&`" and ch.isprintable())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
