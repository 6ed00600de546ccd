"""``dexbot shell``: the whole bot in a terminal, with no accounts and no network.

The same ``AsyncApp`` and handlers as ``dexbot serve``, reached over loopback HTTP with signed
Slack requests, in front of an emulated Slack workspace (``bot.sim.slack``), the DEX simulator
(``bot.sim.dex``) and SQLite in a local file. Modules: ``runtime`` (starting and stopping the
pieces), ``render`` (Block Kit -> text), ``feed`` (drawing what the bot does), ``session``
(identity, commands, clicks), ``form``/``modal`` (modals as prompts), ``script`` (a person or
a script typing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.shell.feed import Transcript
from bot.shell.runtime import Runtime, ShellOptions, ShellStartError
from bot.shell.script import ConsoleLines, ScriptLines, run_lines
from bot.shell.session import Session

__all__ = ["Runtime", "Session", "ShellOptions", "Transcript", "run_session", "run_shell"]

INTRO = "Type /help for what you can do, /quit to leave. You are @sam, a requester."


async def run_session(
    options: ShellOptions,
    lines: Sequence[str] | None,
    out: TextIO,
    *,
    stdin: TextIO | None = None,
    wait_timeout: float = 60.0,
) -> int:
    """Start everything, run ``lines`` (None: ask at the terminal), stop everything.

    Returns 0, 1 when a script step failed, or 2 when the pieces could not start.
    """
    transcript = Transcript(out)
    runtime = Runtime(options)
    try:
        await runtime.start()
    except ShellStartError as exc:
        transcript.say(f"dexbot shell cannot start: {exc}", matchable=False)
        return 2
    except Exception as exc:
        transcript.say(f"dexbot shell cannot start: {type(exc).__name__}: {exc}", matchable=False)
        return 2
    try:
        transcript.say(runtime.banner(), matchable=False)
        if lines is None:
            transcript.say(INTRO, matchable=False)
        session = Session(runtime, transcript, wait_timeout=wait_timeout)
        try:
            source = (
                ScriptLines(lines, transcript)
                if lines is not None
                else ConsoleLines(transcript, stdin)
            )
            if isinstance(source, ConsoleLines):
                _route_ctrl_c(source)
            return await run_lines(session, source)
        finally:
            await session.aclose()
    finally:
        await runtime.stop()


def _route_ctrl_c(source: ConsoleLines) -> None:
    """Ctrl-C answers the prompt being shown (a form closes); with none, it stops the shell."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_sigint() -> None:
        if not source.interrupt() and main is not None:
            main.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform
        loop.add_signal_handler(signal.SIGINT, on_sigint)


def _log_to_stderr() -> None:
    """Warnings and errors on stderr, unless the host (a test runner) already set logging up."""
    root = logging.getLogger()
    if root.handlers:
        return
    from bot.logs import RedactSecrets, quiet_libraries

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets([os.environ.get("CLOUDFLARE_API_TOKEN", "")]))
    root.addHandler(handler)
    root.setLevel(os.environ.get("LOG_LEVEL", "WARNING").upper())
    quiet_libraries(logging.getLevelName(root.level))


def run_shell(
    args: argparse.Namespace, *, stdin: TextIO | None = None, out: TextIO | None = None
) -> int:
    """Entry point of ``dexbot shell [--script FILE] [--db PATH] [--artifacts DIR] [--speed X]``.

    Interactive at a terminal; with ``--script`` (or a stdin that is not a terminal) it runs
    the lines without a person and returns non-zero if a step failed.
    """
    stdin = stdin if stdin is not None else sys.stdin
    if out is None:
        out = sys.stdout
        if isinstance(out, io.TextIOWrapper):  # emoji on a terminal that cannot show them
            out.reconfigure(errors="replace")
    options = ShellOptions(
        db=Path(args.db), artifacts=Path(args.artifacts), speed=float(args.speed)
    )
    lines: list[str] | None = None
    if args.script:
        try:
            lines = Path(args.script).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            print(f"dexbot shell: cannot read the script: {exc}", file=sys.stderr)
            return 2
    elif not stdin.isatty():
        lines = stdin.read().splitlines()
    _log_to_stderr()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is one way to leave
        return asyncio.run(run_session(options, lines, out, stdin=None))
    return 0
