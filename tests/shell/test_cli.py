"""``dexbot shell`` from the command line: a script file through ``python -m bot`` as a
process (the console path CI runs), and a piped stdin through ``run_shell``."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bot.shell import run_shell
from tests.shell.test_session import CAPTURE_SCRIPT

DEADLINE_S = 120


def _env() -> dict[str, str]:
    """This environment without Cloudflare credentials: the shell must use its simulator."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}


def test_a_scripted_capture_as_a_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--script", str(CAPTURE_SCRIPT),
         "--db", "shell.db", "--artifacts", "out"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, encoding="utf-8",
        timeout=DEADLINE_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "built-in DEX simulator" in done.stdout
    assert "saved to out/" in done.stdout  # shown relative to where the shell runs
    [saved] = list((tmp_path / "out").glob("*.zip"))
    with zipfile.ZipFile(saved) as zf:
        assert zf.testzip() is None
    assert (tmp_path / "shell.db").exists()


def test_a_failing_script_exits_non_zero_as_a_process(tmp_path: Path) -> None:
    script = tmp_path / "bad.dex"
    script.write_text("/dex capture @nobody pcap 5x\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--script", str(script)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, encoding="utf-8",
        timeout=DEADLINE_S,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "line 1 failed: the bot answered with an error: ⚠️ I couldn't find" in done.stdout
    assert (tmp_path / "dexbot-shell.db").exists() and (tmp_path / "dexbot-artifacts").is_dir()


def test_piped_stdin_is_a_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    args = argparse.Namespace(
        script=None, db=str(tmp_path / "s.db"), artifacts=str(tmp_path / "a"), speed=1.0
    )
    out = io.StringIO()
    code = run_shell(args, stdin=io.StringIO('/dex quota\nwait "left until"\n'), out=out)
    assert code == 0, out.getvalue()
    assert "sam in #dex-support> /dex quota" in out.getvalue()


def test_a_missing_script_file_is_a_start_up_error(tmp_path: Path) -> None:
    args = argparse.Namespace(
        script=str(tmp_path / "nope.dex"), db="x.db", artifacts="a", speed=1.0
    )
    assert run_shell(args, out=io.StringIO()) == 2


MISTAKES_SCRIPT = Path(__file__).parent / "mistakes.dex"


def test_every_typo_gets_its_own_answer_as_a_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--script", str(MISTAKES_SCRIPT)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, encoding="utf-8",
        timeout=DEADLINE_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "I don't know `captur`. Did you mean `capture`?" in done.stdout
    assert "How to use /dex" not in done.stdout  # no typo got the general help page


RESULTS_SCRIPT = Path(__file__).parent / "results.dex"


def test_each_kind_of_command_ends_with_its_results_in_the_thread(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--script", str(RESULTS_SCRIPT), "--speed", "8"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, encoding="utf-8",
        timeout=DEADLINE_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    shown = done.stdout
    assert "What it suggests" in shown  # the capture's triage, in the thread
    assert "tunnel: down" in shown and "Mbps" in shown  # the speed test's numbers
    assert "Split tunnel:" in shown  # the diagnostic bundle's summary
    assert "Device status now:" in shown
    assert len(list(tmp_path.glob("dexbot-artifacts/*.zip"))) == 3  # each file beside it


def test_a_bang_line_with_the_wrong_error_text_fails(tmp_path: Path) -> None:
    script = tmp_path / "wrong.dex"
    script.write_text("! /dex stauts @ann => Did you mean `devices`?\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "shell", "--script", str(script)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, encoding="utf-8",
        timeout=DEADLINE_S,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "line 1 failed: expected an error with “Did you mean `devices`?”" in done.stdout


def test_ctrl_c_at_a_terminal_closes_the_form_not_the_shell(tmp_path: Path) -> None:
    """A real terminal (a pty): Ctrl-C is SIGINT from the line discipline, as for a person."""
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: the shell, interactive because stdin is a terminal
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "bot", "shell"], _env())
    seen = b""

    def until(needle: str) -> bool:
        nonlocal seen
        deadline = time.monotonic() + DEADLINE_S
        while needle.encode() not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
        return needle.encode() in seen

    try:
        assert until("sam in #dex-support> "), seen
        os.write(fd, b"/dex\r")
        assert until("Whose device?"), seen
        os.write(fd, b"\x03")
        assert until("form closed (Ctrl-C); nothing was sent"), seen
        os.write(fd, b"/dex quota\r")
        assert until("commands left until"), seen  # still running, and the line was not lost
        os.write(fd, b"/quit\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
