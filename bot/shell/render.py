"""Block Kit -> terminal text, for ``dexbot shell``. Pure: blocks and a name book in, lines out.

What a person reads in Slack, flattened: headers, sections with their fields as
``Label: value`` lines, context lines, dividers, and buttons as numbered choices
(``[1] Approve  [2] Deny``) the shell lets them press. Slack's mrkdwn is read the way Slack
shows it: ``<@U…>`` becomes ``@handle``, ``<#C…>`` becomes ``#name``, links show their label,
known emoji codes become emoji, ``*bold*`` loses its stars, and ``&lt;``/``&gt;``/``&amp;``
are unescaped last, so escaped text stays literal (``&lt;@U1&gt;`` reads ``<@U1>``, no mention).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

INDENT = "  "
DIVIDER = "─" * 24

#: The emoji dexbot's messages use (and a few more); unknown codes are left as ``:code:``.
EMOJI: Mapping[str, str] = {
    "alarm_clock": "⏰",
    "arrow_up": "⬆️",
    "bar_chart": "📊",
    "bust_in_silhouette": "👤",
    "checkered_flag": "🏁",
    "double_vertical_bar": "⏸️",
    "grey_question": "❔",
    "heavy_multiplication_x": "✖️",
    "hourglass_flowing_sand": "⏳",
    "inbox_tray": "📥",
    "information_source": "ℹ️",
    "large_green_circle": "🟢",
    "mag": "🔍",
    "no_entry": "⛔",
    "no_entry_sign": "🚫",
    "outbox_tray": "📤",
    "paperclip": "📎",
    "red_circle": "🔴",
    "satellite_antenna": "📡",
    "warning": "⚠️",
    "white_check_mark": "✅",
    "white_circle": "⚪",
    "x": "❌",
}

_CONTROL = re.compile(r"<([^<>\s][^<>]*)>")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
_BOLD = re.compile(r"(?<![\w*])\*(\S(?:[^*\n]*?\S)?)\*(?![\w*])")


@dataclass(frozen=True)
class Names:
    """How to name ids in text: users by handle, channels and user groups by name."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)

    def user(self, user_id: str, label: str | None = None) -> str:
        """``@handle`` (or the label Slack sent, or the id) for a user id."""
        return "@" + (self.users.get(user_id) or label or user_id)

    def channel(self, channel_id: str, label: str | None = None) -> str:
        """``#name`` for a channel id."""
        return "#" + (self.channels.get(channel_id) or label or channel_id)


@dataclass(frozen=True)
class Confirm:
    """A button's confirm dialog."""

    title: str
    text: str
    ok: str
    back: str


@dataclass(frozen=True)
class Button:
    """A button as the shell offers it: a number to type, and what Slack would send."""

    number: int
    label: str
    action_id: str
    value: str | None
    block_id: str | None
    confirm: Confirm | None = None
    style: str | None = None


@dataclass
class Drawn:
    """Rendered text lines and the buttons numbered in them."""

    lines: list[str] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)


def mrkdwn(text: str, names: Names) -> str:
    """Slack mrkdwn as a person reads it (see the module docstring)."""

    def control(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return names.user(target[1:], label or None)
        if target.startswith("#"):
            return names.channel(target[1:], label or None)
        if target.startswith("!subteam^"):
            group = target.removeprefix("!subteam^")
            return label or "@" + (names.groups.get(group) or group)
        if target.startswith("!"):
            return label or "@" + target[1:].split("^", 1)[0]
        return label or target

    out = _CONTROL.sub(control, text)
    out = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), out)
    out = _BOLD.sub(r"\1", out)
    return out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def text_of(obj: Any, names: Names) -> str:
    """The text of a text object (mrkdwn read as above; plain_text as is)."""
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text") or "")
    if obj.get("type") == "mrkdwn":
        return mrkdwn(text, names)
    return text


def _field(obj: Any, names: Names) -> list[str]:
    """A section field: ``*Label*\\nvalue`` reads ``Label: value``, later lines aligned."""
    raw = str(obj.get("text") or "") if isinstance(obj, dict) else ""
    first, _, rest = raw.partition("\n")
    if rest and _BOLD.fullmatch(first.strip()):
        label = text_of({**obj, "text": first.strip()}, names)
        body = text_of({**obj, "text": rest}, names).split("\n")
        pad = " " * (len(label) + 2)
        return [f"{label}: {body[0]}", *(pad + line for line in body[1:])]
    return text_of(obj, names).split("\n")


def _confirm(obj: Any, names: Names) -> Confirm | None:
    if not isinstance(obj, dict):
        return None
    return Confirm(
        title=text_of(obj.get("title"), names),
        text=text_of(obj.get("text"), names),
        ok=text_of(obj.get("confirm"), names) or "Yes",
        back=text_of(obj.get("deny"), names) or "Cancel",
    )


def _element(
    el: Any, block_id: str | None, names: Names, drawn: Drawn, number: int
) -> tuple[str, int]:
    """One interactive element as a choice; returns its text and the next free number."""
    if not isinstance(el, dict):
        return "", number
    kind = el.get("type")
    if kind == "button":
        label = text_of(el.get("text"), names) or str(el.get("action_id"))
        drawn.buttons.append(
            Button(
                number=number,
                label=label,
                action_id=str(el.get("action_id") or ""),
                value=el.get("value"),
                block_id=block_id,
                confirm=_confirm(el.get("confirm"), names),
                style=el.get("style"),
            )
        )
        return f"[{number}] {label}", number + 1
    if kind in ("static_select", "overflow", "radio_buttons", "checkboxes"):
        options = " / ".join(text_of(o.get("text"), names) for o in el.get("options") or [])
        return f"({kind.replace('_', ' ')}: {options})", number
    return f"({kind or 'element'})", number


def _context(block: dict[str, Any], names: Names) -> list[str]:
    parts = []
    for el in block.get("elements") or []:
        if isinstance(el, dict) and el.get("type") == "image":
            parts.append(f"[{el.get('alt_text') or 'image'}]")
        else:
            parts.append(text_of(el, names))
    return "  ".join(p for p in parts if p).split("\n")


def _rich_text(obj: Any, names: Names) -> str:
    """The words of a rich_text block, roughly (mentions and links named)."""
    if isinstance(obj, list):
        return "".join(_rich_text(o, names) for o in obj)
    if not isinstance(obj, dict):
        return ""
    kind = obj.get("type")
    if kind == "text":
        return str(obj.get("text") or "")
    if kind == "user":
        return names.user(str(obj.get("user_id")))
    if kind == "channel":
        return names.channel(str(obj.get("channel_id")))
    if kind == "link":
        return str(obj.get("text") or obj.get("url") or "")
    if kind == "emoji":
        return EMOJI.get(str(obj.get("name")), f":{obj.get('name')}:")
    inner = _rich_text(obj.get("elements") or [], names)
    return inner + "\n" if kind in ("rich_text_section", "rich_text_preformatted") else inner


def render_blocks(blocks: list[Any], names: Names, *, first_number: int = 1) -> Drawn:
    """Blocks as lines; buttons are numbered from ``first_number`` in reading order."""
    drawn = Drawn()
    number = first_number
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        block_id = block.get("block_id")
        if kind == "header":
            drawn.lines.append(f"== {text_of(block.get('text'), names)} ==")
        elif kind == "section":
            if block.get("text"):
                drawn.lines.extend(text_of(block["text"], names).split("\n"))
            for item in block.get("fields") or []:
                drawn.lines.extend(_field(item, names))
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") != "image":
                shown, number = _element(accessory, block_id, names, drawn, number)
                drawn.lines.append(shown)
        elif kind == "context":
            drawn.lines.extend(INDENT + line for line in _context(block, names))
        elif kind == "divider":
            drawn.lines.append(DIVIDER)
        elif kind == "actions":
            shown_all = []
            for el in block.get("elements") or []:
                shown, number = _element(el, block_id, names, drawn, number)
                shown_all.append(shown)
            drawn.lines.append("  ".join(s for s in shown_all if s))
        elif kind == "image":
            drawn.lines.append(f"[image: {block.get('alt_text') or block.get('image_url')}]")
        elif kind == "rich_text":
            drawn.lines.extend(_rich_text(block.get("elements") or [], names).rstrip().split("\n"))
        elif kind == "input":
            drawn.lines.append(f"{text_of(block.get('label'), names)}: …")
        else:
            drawn.lines.append(f"[{kind} block]")
    return drawn


def render_message(
    text: str | None, blocks: list[Any] | None, names: Names, *, first_number: int = 1
) -> Drawn:
    """A message: its blocks, or its fallback ``text`` when it has none."""
    if blocks:
        return render_blocks(blocks, names, first_number=first_number)
    return Drawn(lines=mrkdwn(text or "", names).split("\n"))
