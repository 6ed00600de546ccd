"""Shared pieces of the Block Kit renderers: the ``Rendered`` result, Slack's limits, formatting.

Everything here is pure: no Slack client, no I/O and no clock reads. Functions that show a
time relative to "now" take ``now`` as an argument so that renders are reproducible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.blockkit import LIMITS, blocks_problems

#: Shown wherever a value is missing, so that a user never reads "None".
MISSING = "–"
ELLIPSIS = "…"

# The limits themselves live in bot.blockkit, shared with the fake Slack that enforces them.
MESSAGE_MAX_BLOCKS = LIMITS["message_blocks"]
MODAL_MAX_BLOCKS = LIMITS["modal_blocks"]
FALLBACK_TEXT_MAX = LIMITS["fallback_text"]
SECTION_TEXT_MAX = LIMITS["section_text"]
FIELD_TEXT_MAX = LIMITS["field_text"]
HEADER_TEXT_MAX = LIMITS["header_text"]

Surface = Literal["message", "modal"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class Rendered:
    """What a renderer returns: the notification fallback ``text`` and the ``blocks``.

    Callers pass both to Slack (``chat.postMessage(text=..., blocks=...)``); ``blocks`` are
    plain dicts, already ``to_dict()``-ed.
    """

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def check_limits(rendered: Rendered, *, surface: Surface = "message") -> Rendered:
    """Return ``rendered`` unchanged if it fits Slack's limits; raise ValueError if not.

    ``surface`` picks the block budget: 50 blocks in a message, 100 in a modal. A message
    must also carry a non-blank fallback text (a modal has none).
    """
    if len(rendered.text) > FALLBACK_TEXT_MAX:
        raise ValueError(
            f"fallback text is {len(rendered.text)} characters; max {FALLBACK_TEXT_MAX}"
        )
    if surface == "message" and not rendered.text.strip():
        raise ValueError("a message needs a fallback text for notifications and screen readers")
    problems = blocks_problems(rendered.blocks, surface)
    if problems:
        raise ValueError("; ".join(problems))
    return rendered


# -- text ------------------------------------------------------------------------------


def escape_mrkdwn(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` the way Slack requires.

    Slack reads ``<!channel>``, ``<@U123>`` and ``<https://…|label>`` as control sequences;
    escaped, text from outside (device names, emails, reasons) is shown literally and can
    never ping anyone or disguise a link.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters, ending in an ellipsis when cut."""
    if n < 1:
        raise ValueError("truncate needs room for at least one character")
    if len(text) <= n:
        return text
    return text[: n - 1].rstrip() + ELLIPSIS


def outside(text: str | None, limit: int = 100) -> str:
    """Text that came from outside, made safe to show: truncated, escaped, "–" if missing.

    Truncation happens before escaping so that an ``&amp;`` entity is never cut in half.
    """
    if text is None or not str(text).strip():
        return MISSING
    return escape_mrkdwn(truncate(str(text).strip(), limit))


def fit_escaped(text: str, limit: int) -> str:
    """``text`` escaped and, if need be, truncated so that the escaped form fits ``limit``.

    Cuts the raw text (never inside an ``&amp;`` entity); escaping can grow it fivefold.
    """
    n = limit
    while n >= 1:
        escaped = escape_mrkdwn(truncate(text, n))
        if len(escaped) <= limit:
            return escaped
        # An escaped character is at most 5 long, so this never skips a length that fits.
        n -= max(1, (len(escaped) - limit) // 5)
    return "…"  # nothing of it fits escaped; never raise over a label


def user_ref(user_id: str) -> str:
    """A mention of a Slack user (``<@U012ABCDEF>``); ValueError for anything not an id."""
    if not _USER_ID.match(user_id):
        raise ValueError(f"not a Slack user id: {user_id!r}")
    return f"<@{user_id}>"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 device``, ``3 devices``."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


# -- numbers and times -----------------------------------------------------------------


def format_bytes(size: float | None) -> str:
    """A byte count for people: ``512 B``, ``1.5 KB``, ``12.0 MB`` (powers of 1,024)."""
    if size is None or size < 0:
        return MISSING
    if size < 1024:
        return f"{int(size)} B"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def as_utc(dt: datetime) -> datetime:
    """``dt`` in UTC; a naive datetime is taken to be UTC already (Cloudflare's habit)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_timestamp(value: str | datetime | None) -> datetime | None:
    """Parse Cloudflare's timestamps (``2023-10-11 00:00:00+00`` or ISO with ``Z``).

    Returns an aware UTC datetime, or None for anything missing or unparseable: a bad
    timestamp should blank one cell, not break a whole message.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    try:
        return as_utc(datetime.fromisoformat(value.strip()))
    except (ValueError, TypeError):
        return None


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} h"
    return f"{hours // 24} d"


def relative_time(then: datetime | None, now: datetime) -> str:
    """``just now``, ``3 min ago``, ``2 h ago``, ``4 d ago``; ``in 3 h`` for the future.

    Counts are rounded down, and anything within a minute either way is ``just now``
    (clocks drift). Missing -> "–".
    """
    if then is None:
        return MISSING
    seconds = (as_utc(now) - as_utc(then)).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    if seconds > 0:
        return f"{_span(seconds)} ago"
    return f"in {_span(-seconds)}"


def format_utc(dt: datetime | None, now: datetime) -> str:
    """``14:00 UTC`` when ``dt`` falls on ``now``'s UTC day, else ``Nov 23 14:00 UTC``.

    A different year is spelled out (``Nov 23 2027 14:00 UTC``). Missing -> "–".
    """
    if dt is None:
        return MISSING
    dt, now = as_utc(dt), as_utc(now)
    if dt.date() == now.date():
        return f"{dt:%H:%M} UTC"
    # Month names spelled here, not by strftime("%b"), which follows the process locale.
    day = f"{_MONTHS[dt.month - 1]} {dt.day}"
    if dt.year != now.year:
        day += f" {dt.year}"
    return f"{day} {dt:%H:%M} UTC"


# -- small renders ---------------------------------------------------------------------


def ephemeral_error(message: str) -> Rendered:
    """A plain-words error for the person who typed the command (``:warning: …``).

    The message is escaped: it often quotes what the user typed.
    """
    safe = escape_mrkdwn(truncate(message.strip() or "Something went wrong.", 2900))
    text = f":warning: {safe}"
    block = SectionBlock(text=MarkdownTextObject(text=text)).to_dict()
    return check_limits(Rendered(text=text, blocks=[block]))
