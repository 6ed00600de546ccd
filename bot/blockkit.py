"""Slack's Block Kit limits, in one table, and a checker that lists every violation.

Both the renderers' own check (``handlers.blocks.common.check_limits``) and the fake Slack
(``bot.sim.slack``) use this module, so what the bot checks before sending is exactly what
the fake refuses. The numbers come from Slack's Block Kit reference (blocks, block elements,
composition objects and the view object). Pure: stdlib only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

Surface = Literal["message", "modal"]

#: Every limit the checker applies: name -> the largest length or count Slack accepts.
LIMITS: dict[str, int] = {
    "message_blocks": 50,
    "modal_blocks": 100,
    "header_text": 150,
    "section_text": 3000,
    "section_fields": 10,
    "field_text": 2000,
    "context_elements": 10,
    "context_text": 3000,
    "actions_elements": 25,
    "button_text": 75,
    "button_value": 2000,
    "button_url": 3000,
    "action_id": 255,
    "block_id": 255,
    "confirm_title": 100,
    "confirm_text": 300,
    "confirm_button": 30,
    "option_text": 75,
    "option_value": 150,
    "option_description": 75,
    "options": 100,
    "overflow_options": 5,
    "option_group_label": 75,
    "placeholder": 150,
    "input_label": 2000,
    "input_hint": 2000,
    "image_alt_text": 2000,
    "view_title": 24,
    "view_submit": 24,
    "view_close": 24,
    "private_metadata": 3000,
    "callback_id": 255,
    "external_id": 255,
    "fallback_text": 40_000,
}

OPTION_ELEMENTS = frozenset(
    {"static_select", "multi_static_select", "radio_buttons", "checkboxes", "overflow"}
)


def _text(obj: Any) -> str:
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else ""
    return obj if isinstance(obj, str) else ""


def _over(where: str, what: str, value: Any, limit_name: str) -> Iterator[str]:
    text = _text(value) if not isinstance(value, str) else value
    limit = LIMITS[limit_name]
    if len(text) > limit:
        yield f"{where} {what} is {len(text)} characters; Slack allows {limit}"


def _count(where: str, what: str, items: Any, limit_name: str) -> Iterator[str]:
    limit = LIMITS[limit_name]
    if isinstance(items, list) and len(items) > limit:
        yield f"{where} has {len(items)} {what}; Slack allows {limit}"


def _confirm(where: str, confirm: Any) -> Iterator[str]:
    if not isinstance(confirm, dict):
        return
    yield from _over(where, "confirm title", confirm.get("title"), "confirm_title")
    yield from _over(where, "confirm text", confirm.get("text"), "confirm_text")
    yield from _over(where, "confirm button", confirm.get("confirm"), "confirm_button")
    yield from _over(where, "deny button", confirm.get("deny"), "confirm_button")


def _option(where: str, option: Any) -> Iterator[str]:
    if not isinstance(option, dict):
        yield f"{where} option is not an object"
        return
    yield from _over(where, "option text", option.get("text"), "option_text")
    yield from _over(where, "option value", str(option.get("value", "")), "option_value")
    yield from _over(where, "option description", option.get("description"), "option_description")


def element_problems(where: str, el: Any) -> Iterator[str]:
    """Violations in one interactive or context element."""
    if not isinstance(el, dict):
        return
    kind = el.get("type")
    if isinstance(el.get("action_id"), str):
        yield from _over(where, "action_id", el["action_id"], "action_id")
    if kind == "button":
        yield from _over(where, "button text", el.get("text"), "button_text")
        yield from _over(where, "button value", str(el.get("value", "")), "button_value")
        yield from _over(where, "button url", str(el.get("url", "")), "button_url")
    if kind == "image":
        yield from _over(where, "alt_text", str(el.get("alt_text", "")), "image_alt_text")
    if "placeholder" in el:
        yield from _over(where, "placeholder", el.get("placeholder"), "placeholder")
    yield from _confirm(where, el.get("confirm"))
    if kind in OPTION_ELEMENTS:
        limit = "overflow_options" if kind == "overflow" else "options"
        yield from _count(where, "options", el.get("options"), limit)
    options = [*(el.get("options") or []), *(el.get("initial_options") or [])]
    if isinstance(el.get("initial_option"), dict):
        options.append(el["initial_option"])
    for group in el.get("option_groups") or []:
        if isinstance(group, dict):
            yield from _over(where, "option group label", group.get("label"), "option_group_label")
            options.extend(group.get("options") or [])
    for option in options:
        yield from _option(where, option)


def block_problems(index: int, block: Any) -> Iterator[str]:
    """Violations in one block (``index`` is its position, for the message)."""
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        yield f"blocks[{index}] has no type"
        return
    kind = block["type"]
    where = f"blocks[{index}] ({kind})"
    if isinstance(block.get("block_id"), str):
        yield from _over(where, "block_id", block["block_id"], "block_id")
    if kind == "section":
        yield from _over(where, "text", block.get("text"), "section_text")
        yield from _count(where, "fields", block.get("fields"), "section_fields")
        for n, field in enumerate(block.get("fields") or []):
            yield from _over(where, f"field {n}", field, "field_text")
        yield from element_problems(where + " accessory", block.get("accessory"))
    elif kind == "header":
        yield from _over(where, "text", block.get("text"), "header_text")
    elif kind == "context":
        yield from _count(where, "elements", block.get("elements"), "context_elements")
        for el in block.get("elements") or []:
            if isinstance(el, dict) and el.get("type") in ("mrkdwn", "plain_text"):
                yield from _over(where, "element text", el, "context_text")
            else:
                yield from element_problems(where, el)
    elif kind == "actions":
        yield from _count(where, "elements", block.get("elements"), "actions_elements")
        for el in block.get("elements") or []:
            yield from element_problems(where, el)
    elif kind == "input":
        yield from _over(where, "label", block.get("label"), "input_label")
        yield from _over(where, "hint", block.get("hint"), "input_hint")
        yield from element_problems(where + " element", block.get("element"))
    elif kind == "image":
        yield from _over(where, "alt_text", str(block.get("alt_text", "")), "image_alt_text")


def blocks_problems(blocks: Any, surface: Surface = "message") -> list[str]:
    """Every violation in a list of blocks for a message or a modal; empty when it fits."""
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    limit = LIMITS["modal_blocks" if surface == "modal" else "message_blocks"]
    problems = []
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks; a {surface} allows {limit}")
    for index, block in enumerate(blocks):
        problems.extend(block_problems(index, block))
    return problems


def view_problems(view: Any) -> list[str]:
    """Every violation in a modal view object (its blocks included); empty when it fits."""
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        return ["view must be an object with a type"]
    problems = blocks_problems(view.get("blocks"), "modal")
    if view["type"] == "modal":
        if not _text(view.get("title")):
            problems.append("a modal needs a title")
        for key in ("title", "submit", "close"):
            problems.extend(_over("view", key, view.get(key), f"view_{key}"))
    for key in ("private_metadata", "callback_id", "external_id"):
        problems.extend(_over("view", key, str(view.get(key) or ""), key))
    return problems


def input_block_ids(view: Any) -> set[str]:
    """The ``block_id`` of every input block of a view: what ``response_action: errors``
    may name."""
    blocks = view.get("blocks") if isinstance(view, dict) else None
    return {
        str(b["block_id"])
        for b in blocks or []
        if isinstance(b, dict) and b.get("type") == "input" and b.get("block_id")
    }
