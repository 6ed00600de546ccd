"""Where typed lines come from: a person at a terminal, or a script (a file, or stdin when it is
not a terminal). Both feed the same ``Session``; a script's lines are echoed after the prompt
they answer, so its output reads like the person's would.

Script lines are what a person types, plus ``wait "text"``, ``expect-file PATTERN`` and the
``!`` prefix (see ``bot.shell.session``). Blank lines and ``# comments`` are skipped at the
main prompt; inside a form a blank line is an answer (Enter: keep the value). The first
failing step stops the script.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import TextIO

from bot.shell.feed import Transcript
from bot.shell.form import INTERRUPT
from bot.shell.session import Session


class ScriptLines:
    """Lines from a script, echoed into the transcript as they are used."""

    def __init__(self, lines: Iterable[str], transcript: Transcript) -> None:
        self._lines: Iterator[str] = iter(lines)
        self.transcript = transcript
        self.number = 0

    async def ask(self, prompt: str) -> str | None:
        """The next line (None at the end), shown after ``prompt``."""
        line = next(self._lines, None)
        if line is None:
            return None
        self.number += 1
        line = line.rstrip("\r\n")
        self.transcript.echo(prompt + line)
        return line

    async def next_command(self, prompt: str) -> str | None:
        """The next line at the main prompt, skipping blank lines and comments unechoed."""
        for line in self._lines:
            self.number += 1
            text = line.rstrip("\r\n")
            if text.strip() and not text.lstrip().startswith("#"):
                self.transcript.echo(prompt + text)
                return text
        return None


class ConsoleLines:
    """Lines typed at a terminal, read on a daemon thread so the bot keeps running meanwhile
    (and Ctrl-C or /quit never waits for a blocked read).

    Ctrl-C (``interrupt``, wired to SIGINT by ``run_session``) behaves as in a chat client:
    at a form's or a confirm's prompt it answers ``INTERRUPT`` (the form closes, the shell
    stays); at the main prompt it ends the session. One reader thread at a time: a read that
    Ctrl-C left waiting delivers its line to the next prompt, so no typed line is lost.
    """

    def __init__(self, transcript: Transcript, stdin: TextIO | None = None) -> None:
        self.transcript = transcript
        self.stdin = stdin
        self._waiter: asyncio.Future[str | None] | None = None
        self._reading = False
        self._at_main_prompt = False
        #: Lines read while no prompt was waiting (typed ahead, or after a Ctrl-C).
        self._early: list[str | None] = []
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())

    def interrupt(self) -> bool:
        """Ctrl-C: answer the prompt being shown; False when no prompt is waiting."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return False
        self.transcript.out.write("^C\n")
        waiter.set_result(None if self._at_main_prompt else INTERRUPT)
        return True

    async def ask(self, prompt: str) -> str | None:
        """Show ``prompt`` and read one line; None at end of input (Ctrl-D)."""
        if self._early:  # typed before this prompt was shown: it answers it
            text = self._early.pop(0)
            self.transcript.out.write(prompt + (text or "") + "\n")
            return text
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str | None] = loop.create_future()
        self._waiter = done

        def read() -> None:
            try:
                if self.stdin is not None:
                    self.transcript.out.write(prompt)
                    self.transcript.out.flush()
                    text: str | None = self.stdin.readline() or None
                else:
                    text = input(prompt)
            except (EOFError, KeyboardInterrupt):
                text = None
            with contextlib.suppress(RuntimeError):  # the loop closed while we read
                loop.call_soon_threadsafe(self._deliver, text)

        self.transcript.prompt = prompt
        if self._reading:  # a read from before a Ctrl-C is still waiting: it answers this
            self.transcript.out.write(prompt)
            self.transcript.out.flush()
        else:
            self._reading = True
            threading.Thread(target=read, name="dexbot-shell-input", daemon=True).start()
        try:
            return await done
        finally:
            self._waiter = None
            self.transcript.prompt = None

    def _deliver(self, text: str | None) -> None:
        self._reading = False
        if self._waiter is not None and not self._waiter.done():
            _settle(self._waiter, text)
        else:
            self._early.append(text.rstrip("\r\n") if text is not None else None)

    async def next_command(self, prompt: str) -> str | None:
        """The next line at the main prompt."""
        self._at_main_prompt = True
        try:
            return await self.ask(prompt)
        finally:
            self._at_main_prompt = False


def _settle(future: asyncio.Future[str | None], text: str | None) -> None:
    if not future.done():
        future.set_result(text.rstrip("\r\n") if text is not None else None)


async def run_lines(session: Session, source: ScriptLines | ConsoleLines) -> int:
    """Feed lines to the session until the end or ``/quit``; 1 if a script step failed."""
    while True:
        line = await source.next_command(session.prompt)
        if line is None:
            return 0
        step = await session.handle(line, source.ask)
        if step.quit:
            return 0
        if step.ok:
            continue
        if isinstance(source, ScriptLines):
            session.transcript.say(f"shell: line {source.number} failed: {step.problem}")
            return 1
        if step.local:
            session.transcript.say(f"shell: {step.problem}", matchable=False)
