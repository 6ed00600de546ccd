"""What the shell prints: the fake Slack's events drawn as a conversation, and the transcript
that ``wait "text"`` reads.

Channel messages get a ``[#channel] author:`` header; replies are indented under a
``thread of "…" (request abc123)`` line naming their parent and, when it shows one, its
request id (two requests of the same kind otherwise read alike); an edit is marked
``(edited)`` with the message's earlier first line and shows the lines that changed (an edit
that changes nothing a person can see is not drawn); ephemeral messages say who alone can see
them; uploaded files show where they were saved. Buttons get numbers that stay the
same for the whole session, so ``1`` always presses the same button.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot.shell.render import Button, Names, mrkdwn, render_blocks, render_message
from bot.sim.slack import Event, FakeSlack
from bot.sim.slack.model import Ephemeral, Message, SlackFile

ERROR_PREFIX = ":warning:"
BODY = "  "
REPLY = "    ↳ "
REPLY_MORE = "      "
_BUTTON = re.compile(r"\[\d+\] ")
_REQUEST_ID = re.compile(r"Request `([0-9A-Za-z-]{4,40})`")


class Transcript:
    """Lines shown to the person, and waits on them.

    ``wait_for`` reads like expect(1): it looks at the lines printed since the previous
    match (or the start), in order, and a match moves past that line.
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.lines: list[str] = []
        self._cursor = 0
        self._changed = asyncio.Event()
        #: The prompt the console is showing, redrawn after output that interrupts it.
        self.prompt: str | None = None
        isatty = getattr(self.out, "isatty", None)
        self._tty = bool(isatty and isatty())

    def say(self, lines: str | list[str], *, matchable: bool = True) -> None:
        """Print lines; ``matchable`` ones can satisfy ``wait_for`` (echoed input cannot)."""
        items = lines.split("\n") if isinstance(lines, str) else lines
        interrupted = self.prompt is not None
        if interrupted:  # on a terminal, rub the prompt out and draw it again below
            self.out.write("\r\x1b[K" if self._tty else "\n")
        for line in items:
            self.out.write(line + "\n")
        if interrupted and self.prompt is not None:
            self.out.write(self.prompt)
        self.out.flush()
        if matchable:
            self.lines.extend(items)
            self._changed.set()

    def echo(self, text: str) -> None:
        """Print what the person typed (never matched by ``wait_for``)."""
        self.say(text, matchable=False)

    def find(self, text: str) -> int | None:
        """Index of the first line at or after the cursor containing ``text``."""
        return next(
            (i for i in range(self._cursor, len(self.lines)) if text in self.lines[i]), None
        )

    async def wait_for(self, text: str, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until a line containing ``text`` is printed; False when ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.find(text)
            if found is not None:
                self._cursor = found + 1
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return False


@dataclass(frozen=True)
class Pressable:
    """A numbered button and where it sits."""

    button: Button
    channel: str | None
    message_ts: str
    thread_ts: str | None
    ephemeral: Ephemeral | None = None
    home: str | None = None  # the user whose App Home it is on


class Feed:
    """Draws fake-Slack events into the transcript and numbers the buttons in them."""

    def __init__(self, slack: FakeSlack, transcript: Transcript, names: Names) -> None:
        self.slack = slack
        self.transcript = transcript
        self.names = names
        self.buttons: dict[int, Pressable] = {}
        #: The acting person (set by the session) and the errors shown to them this step.
        self.viewer: str | None = None
        self.errors: list[str] = []
        self._drawn: dict[tuple[str, str], list[str]] = {}
        self._last_thread: tuple[str, str] | None = None
        self._unsubscribe = slack.subscribe(self.on_event)

    def close(self) -> None:
        """Stop listening."""
        self._unsubscribe()

    @property
    def next_number(self) -> int:
        """The number the next button drawn will get."""
        return max(self.buttons, default=0) + 1

    def on_event(self, event: Event) -> None:
        """A fake-Slack subscriber: draw what changed."""
        item = event.item
        if event.kind in ("message_posted", "message_updated") and isinstance(item, Message):
            self._message(item, edited=event.kind == "message_updated")
        elif event.kind == "message_deleted" and isinstance(item, Message):
            self._deleted(item)
        elif event.kind == "ephemeral" and isinstance(item, Ephemeral):
            self._ephemeral(item)

    # -- drawing ---------------------------------------------------------------------------
    def _draw(
        self,
        text: str | None,
        blocks: list[Any] | None,
        *,
        channel: str | None,
        ts: str,
        thread_ts: str | None,
        ephemeral: Ephemeral | None = None,
    ) -> list[str]:
        drawn = render_message(text, blocks, self.names, first_number=self.next_number)
        for b in drawn.buttons:
            self.buttons[b.number] = Pressable(b, channel, ts, thread_ts, ephemeral)
        return drawn.lines

    def _author(self, user: str | None) -> str:
        return self.names.user(user or "").removeprefix("@")

    def _files(self, m: Message) -> list[str]:
        lines = []
        for fid in m.files:
            f: SlackFile | None = self.slack.workspace.files.get(fid)
            if f is None:
                continue
            if f.path is not None:
                size = f"{(f.size or 0) / 1024:.1f} KB"
                lines.append(f"📎 {f.title or f.filename} saved to {_shown(f.path)} ({size})")
            else:
                lines.append(f"📎 {f.title or f.filename} (not uploaded)")
        return lines

    def _message(self, m: Message, *, edited: bool) -> None:
        key = (m.channel, m.ts)
        previous = self._drawn.get(key)
        body = self._draw(m.text, m.blocks, channel=m.channel, ts=m.ts, thread_ts=m.thread_ts)
        body += self._files(m)
        if edited and previous == body:
            return  # re-rendered to the same words: nothing a person would notice
        self._drawn[key] = body
        channel = self.names.channel(m.channel)
        author = self._author(m.user)
        if edited and previous:
            header = f"{author} (edited) “{_first(previous)}”"
            body = changes(previous, body)
        else:
            header = author + (" (edited)" if edited else "")
        if m.is_reply and m.thread_ts:
            thread = (m.channel, m.thread_ts)
            out = []
            if self._last_thread != thread:
                out.append(f"[{channel}] thread of {self._parent_label(m)}:")
            out.append(f"{REPLY}{header}: {body[0] if body else ''}")
            out += [REPLY_MORE + line for line in body[1:]]
            self._last_thread = thread
            self.transcript.say(out)
            return
        self._last_thread = None
        self.transcript.say([f"[{channel}] {header}:", *(BODY + line for line in body)])

    def _lines_of(self, channel: str, ts: str) -> list[str]:
        lines = self._drawn.get((channel, ts))
        if not lines:
            msg = self.slack.workspace.message(channel, ts)
            lines = render_message(msg.text, msg.blocks, self.names).lines if msg else []
        return lines

    def _parent_label(self, m: Message) -> str:
        lines = self._lines_of(m.channel, m.thread_ts or "")
        return f"“{_first(lines)}”" + (f" (request {rid})" if (rid := request_id(lines)) else "")

    def card_label(self, p: Pressable) -> str:
        """The message a button sits on, in a few words: its request id and first line."""
        if p.ephemeral is not None or p.channel is None:
            return "a message only you can see"
        lines = self._lines_of(p.channel, p.message_ts)
        rid = request_id(lines)
        return (f"request {rid} " if rid else "") + f"“{_first(lines)}”"

    def _deleted(self, m: Message) -> None:
        self._last_thread = None
        first = next(iter(self._drawn.pop((m.channel, m.ts), [])), "").strip()
        channel = self.names.channel(m.channel)
        self.transcript.say(f"[{channel}] {self._author(m.user)} deleted a message: “{first}”")

    def _ephemeral(self, e: Ephemeral) -> None:
        self._last_thread = None
        who = "you" if e.user == self.viewer else self.names.user(e.user or "")
        where = f"[{self.names.channel(e.channel)}] " if e.channel else ""
        body = self._draw(
            e.text, e.blocks, channel=e.channel, ts=e.message_ts, thread_ts=e.thread_ts, ephemeral=e
        )
        self.transcript.say(
            [f"{where}dexbot (only {who} can see this):", *(BODY + x for x in body)]
        )
        if e.user == self.viewer and e.text.lstrip().startswith(ERROR_PREFIX):
            self.errors.append(mrkdwn(e.text, self.names))

    def draw_home(self, user: str) -> bool:
        """Draw ``user``'s App Home as last published, numbering its buttons; False if the
        bot has published none."""
        home = self.slack.home(user)
        if home is None:
            return False
        self._last_thread = None
        drawn = render_blocks(
            home.view.get("blocks") or [], self.names, first_number=self.next_number
        )
        for b in drawn.buttons:
            self.buttons[b.number] = Pressable(b, None, home.id, None, home=user)
        self.transcript.say(
            [f"[Home of {self.names.user(user)}]", *(BODY + x for x in drawn.lines)]
        )
        return True

    # -- buttons ---------------------------------------------------------------------------
    def find_button(self, ref: str) -> Pressable | None:
        """A button by number, or the latest one whose label is ``ref`` (any case)."""
        if ref.isdigit():
            return self.buttons.get(int(ref))
        found = self.labelled(ref)
        return found[0] if found else None

    def labelled(self, label: str) -> list[Pressable]:
        """The buttons still shown whose label is ``label`` (any case), latest first."""
        wanted = label.strip().casefold()
        return [
            self.buttons[n]
            for n in sorted(self.buttons, reverse=True)
            if self.buttons[n].button.label.casefold() == wanted
            and self.still_there(self.buttons[n])
        ]

    def still_there(self, p: Pressable) -> bool:
        """Whether the button is still on its message (edits remove buttons)."""
        if p.ephemeral is not None:
            return True
        if p.home is not None:
            home = self.slack.home(p.home)
            blocks = (home.view.get("blocks") or []) if home else []
            drawn = render_blocks(blocks, self.names)
        else:
            msg = self.slack.workspace.message(p.channel or "", p.message_ts)
            if msg is None:
                return False
            drawn = render_message(msg.text, msg.blocks, self.names)
        b = p.button
        return any(
            (x.action_id, x.value, x.label) == (b.action_id, b.value, b.label)
            for x in drawn.buttons
        )


def request_id(lines: list[str]) -> str | None:
    """The request id a message shows (``Request `abc123```), if it shows one."""
    return next((found.group(1) for line in lines if (found := _REQUEST_ID.search(line))), None)


def _first(lines: list[str]) -> str:
    first = next((line.strip() for line in lines if line.strip()), "…")
    return first if len(first) <= 48 else first[:47] + "…"


def changes(before: list[str], after: list[str]) -> list[str]:
    """The lines of an edited message that are new, and a note when its buttons went away."""
    new = [line for line in after if line not in before]
    had_buttons = any(_BUTTON.search(line) for line in before)
    if had_buttons and not any(_BUTTON.search(line) for line in after):
        new.append("(its buttons are gone)")
    return new or ["(nothing visible changed)"]


def _shown(path: Path) -> str:
    """A saved file's path, relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
