"""Modals as prompts: each input block is asked in turn, then the view is submitted exactly as
Slack submits it (``view_submission`` with ``view.state.values``).

Enter keeps a field's current value, ``-`` empties it, ``/submit`` sends the form as it
stands and ``/cancel`` (or Ctrl-C at a terminal) closes it; a ``/dex …`` line asks whether to
leave the form and run it. Selects and radio buttons list their options numbered (type
the number, the value, or the start of the text); checkboxes take numbers separated by
commas. Like Slack, a required field left empty is asked again before anything is sent.
A people picker with ``dispatch_action`` sends its ``block_actions`` when the answer changes,
so the bot can update the view (the request modal lists the chosen person's devices).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.shell.render import Names, render_blocks, text_of
from bot.sim.people import by_handle

Ask = Callable[[str], Awaitable[str | None]]
KEEP, CLEAR, SUBMIT, CANCEL = "", "-", "/submit", "/cancel"
#: What a prompt returns when the person pressed Ctrl-C at it (``bot.shell.script``).
INTERRUPT = "\x03"
SELECTS = ("static_select", "radio_buttons")


class BadAnswer(ValueError):
    """The answer does not fit the field; the message says what would."""


@dataclass
class Field:
    """One input block of a view and the value it holds (Slack's state shape)."""

    block_id: str
    action_id: str
    kind: str
    label: str
    optional: bool
    dispatch: bool
    element: dict[str, Any]
    hint: str
    state: dict[str, Any]

    @property
    def options(self) -> list[dict[str, Any]]:
        """The element's options (selects, radio buttons, checkboxes)."""
        return list(self.element.get("options") or [])

    @property
    def empty(self) -> bool:
        """True when nothing is chosen or typed."""
        s = self.state
        return not (
            s.get("selected_user")
            or s.get("selected_option")
            or s.get("value")
            or s.get("selected_options")
        )


def initial_state(element: dict[str, Any]) -> dict[str, Any]:
    """A field's state before the person touches it: its ``initial_*`` value."""
    kind = str(element.get("type"))
    state: dict[str, Any] = {"type": kind}
    if kind == "users_select":
        state["selected_user"] = element.get("initial_user")
    elif kind in SELECTS:
        state["selected_option"] = element.get("initial_option")
    elif kind == "checkboxes":
        state["selected_options"] = list(element.get("initial_options") or [])
    else:
        state["value"] = element.get("initial_value")
    return state


def fields_of(
    view: dict[str, Any], names: Names, keep: dict[str, Field] | None = None
) -> list[Field]:
    """The view's input blocks in order; ``keep`` carries answers over a ``views.update``."""
    out = []
    for block in view.get("blocks") or []:
        if block.get("type") != "input" or not isinstance(block.get("element"), dict):
            continue
        el = block["element"]
        block_id, action_id = str(block.get("block_id")), str(el.get("action_id"))
        old = (keep or {}).get(block_id)
        same = old is not None and old.action_id == action_id and old.kind == el.get("type")
        out.append(
            Field(
                block_id=block_id,
                action_id=action_id,
                kind=str(el.get("type")),
                label=text_of(block.get("label"), names),
                optional=bool(block.get("optional")),
                dispatch=bool(block.get("dispatch_action")),
                element=el,
                hint=text_of(block.get("hint"), names),
                state=dict(old.state) if same and old else initial_state(el),
            )
        )
    return out


def state_values(fields: list[Field]) -> dict[str, Any]:
    """``view.state.values``: ``{block_id: {action_id: state}}``."""
    return {f.block_id: {f.action_id: dict(f.state)} for f in fields}


def shown_value(f: Field, names: Names) -> str:
    """A field's current value in words."""
    s = f.state
    if f.kind == "users_select":
        return names.user(s["selected_user"]) if s.get("selected_user") else ""
    if f.kind in SELECTS:
        return text_of((s.get("selected_option") or {}).get("text"), names)
    if f.kind == "checkboxes":
        return ", ".join(text_of(o.get("text"), names) for o in s.get("selected_options") or [])
    return str(s.get("value") or "")


def is_dex_line(text: str) -> bool:
    """Whether an answer is really a new ``/dex`` command (never a value for a field)."""
    return text == "/dex" or text.startswith("/dex ")


def _option(f: Field, answer: str, names: Names) -> dict[str, Any]:
    options = f.options
    if answer.isdigit() and 1 <= int(answer) <= len(options):
        return options[int(answer) - 1]
    wanted = answer.casefold()
    for o in options:
        if wanted in (str(o.get("value")).casefold(), text_of(o.get("text"), names).casefold()):
            return o
    starts = [o for o in options if text_of(o.get("text"), names).casefold().startswith(wanted)]
    if len(starts) == 1:
        return starts[0]
    raise BadAnswer(f"pick one of 1–{len(options)} (or type the start of an option)")


def answer(f: Field, text: str, names: Names) -> dict[str, Any]:
    """The field's new state for what the person typed (``-`` empties it)."""
    text = text.strip()
    if text == CLEAR:
        return initial_state({"type": f.kind})
    if f.kind == "users_select":
        person = by_handle(text.lstrip("@"))
        if person is None or person.is_bot:
            raise BadAnswer(f"no one called {text!r} here; try /who for the people")
        return {"type": f.kind, "selected_user": person.user_id}
    if f.kind in SELECTS:
        return {"type": f.kind, "selected_option": _option(f, text, names)}
    if f.kind == "checkboxes":
        picked = [_option(f, part.strip(), names) for part in text.split(",") if part.strip()]
        return {"type": f.kind, "selected_options": picked}
    if f.kind == "plain_text_input":
        limit = f.element.get("max_length")
        if isinstance(limit, int) and len(text) > limit:
            raise BadAnswer(f"at most {limit} characters")
        return {"type": f.kind, "value": text}
    raise BadAnswer(f"the shell cannot fill a {f.kind} field")


def question(f: Field, names: Names, error: str | None = None) -> list[str]:
    """What is shown before a field's prompt: its hint, its numbered options, any error."""
    lines = [f"    {f.hint}"] if f.hint else []
    if f.options:
        lines.insert(0, f"  {_label(f)}:")
    chosen = {str(o.get("value")) for o in f.state.get("selected_options") or []}
    for n, o in enumerate(f.options, 1):
        tick = ""
        if f.kind == "checkboxes":
            tick = "[x] " if str(o.get("value")) in chosen else "[ ] "
        lines.append(f"    {n}) {tick}{text_of(o.get('text'), names)}")
    if error:
        lines.append(f"    ⚠️ {error}")
    return lines


def _label(f: Field) -> str:
    return f.label if f.optional else f"{f.label} (required)"


def prompt(f: Field, names: Names) -> str:
    """The prompt: the label (just ``>`` under listed options) and, bracketed, what Enter keeps."""
    current = shown_value(f, names)
    keep = f"[{current}] " if current else ""
    return f"  {keep}> " if f.options else f"  {_label(f)} {keep}> "


def intro(view: dict[str, Any], names: Names) -> list[str]:
    """The modal's title and its non-input blocks (notes, ineligible devices…)."""
    title = text_of(view.get("title"), names) or "form"
    submit = text_of(view.get("submit"), names) or "Submit"
    info = [b for b in view.get("blocks") or [] if b.get("type") != "input"]
    lines = [
        f"┌ form “{title}” — Enter keeps a value, - empties it, "
        f"{SUBMIT} sends “{submit}”, {CANCEL} closes"
    ]
    lines += ["│ " + line for line in render_blocks(info, names).lines]
    return lines
