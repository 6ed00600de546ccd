"""Fixtures for ``dexbot shell`` tests: a running shell (the real runtime: DEX simulator, fake
Slack, the bot over loopback HTTP, the worker) with its transcript captured, in ``tmp_path``.

::

    async def test_quota(shell):
        step = await shell.type("/dex quota")
        assert step.ok and "left until" in shell.output
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio

from bot.shell import Runtime, Session, ShellOptions, Transcript
from bot.shell.session import Step

#: Every wait in these tests has a deadline; a capture needs a few seconds.
WAIT_S = 30.0


def options_in(tmp_path: Path) -> ShellOptions:
    """Shell options keeping everything under ``tmp_path``, polling fast, no credentials."""
    return ShellOptions(
        db=tmp_path / "shell.db",
        artifacts=tmp_path / "artifacts",
        speed=4.0,  # every simulated duration (and the bot's clock) four times faster
        poll_seconds=0.2,
        environ={},
    )


@dataclass
class Shell:
    """A session plus helpers that make a test read like someone typing."""

    session: Session
    runtime: Runtime
    out: io.StringIO

    @property
    def output(self) -> str:
        """Everything printed so far."""
        return self.out.getvalue()

    async def type(self, line: str, answers: Iterable[str] = ()) -> Step:
        """Type ``line``; forms and confirm dialogs get ``answers``, in order."""
        pending = list(answers)

        async def ask(prompt: str) -> str | None:
            if not pending:
                return None
            self.session.transcript.echo(prompt + pending[0])  # as a script's answers are
            return pending.pop(0)

        step = await self.session.handle(line, ask)
        assert not pending, f"answers left over: {pending}"
        return step


@pytest_asyncio.fixture
async def shell(tmp_path: Path) -> AsyncIterator[Shell]:
    """A started shell acting as @sam in #dex-support."""
    out = io.StringIO()
    runtime = await Runtime(options_in(tmp_path)).start()
    session = Session(runtime, Transcript(out), wait_timeout=WAIT_S)
    slack = runtime.slack
    try:
        yield Shell(session, runtime, out)
    finally:
        await session.aclose()
        await runtime.stop()
    assert not slack.internal_errors, f"fake Slack crashed: {slack.internal_errors!r}"
