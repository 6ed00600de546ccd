"""Kill -9 a real ``python -m bot worker`` at the worst moments, start a fresh one, and count
what people see: every status reply, card edit and upload exactly once.

The worst moments are the ones where Slack has acted but the worker has not yet recorded it:
the fake Slack carries out the call, records it, then holds its answer (``fake.hold``); the
test kills the worker while the answer is held. The workers share a SQLite file with the
in-process bot that took the request, and talk to the in-process simulator and fake Slack
over loopback. Nothing sleeps: the test waits on the calls the fake Slack records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.sim.people import SUPPORT_CHANNEL
from tests.plugins.bot import BotHarness
from tests.worker.story import (
    approved_capture,
    current,
    duplicates,
    keyed,
    shared_files,
    thread,
    worker_for,
)

pytestmark = pytest.mark.botclock("sim")
REPO = Path(__file__).resolve().parents[2]


@contextmanager
def worker_process(bot: BotHarness, tmp_path: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m bot worker`` against the test's simulator, fake Slack and database; killed
    (SIGKILL) on the way out whatever happens, its log kept for a failing assertion."""
    s = bot.settings
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": s.slack_bot_token.get_secret_value() if s.slack_bot_token else "",
        "SLACK_API_URL": s.slack_api_url,
        "CLOUDFLARE_API_URL": s.cloudflare_api_url,
        "CLOUDFLARE_API_TOKEN": bot.sim.token,
        "CLOUDFLARE_ACCOUNT_ID": bot.sim.account_id,
        "DATABASE_URL": s.database_url,
        "DEX_POLL_INTERVAL_SECONDS": "0.2",
        "DEX_REQUESTERS": "S0SUPPORT",
    }
    log = (tmp_path / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "worker"],
        cwd=tmp_path,  # no stray .env is read
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()


def worker_logs(tmp_path: Path) -> str:
    """What the worker processes logged, to explain a failure."""
    return "\n".join(p.read_text() for p in sorted(tmp_path.glob("*.log")))


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


@pytest.mark.parametrize(
    ("held", "recovery"),
    [
        # Slack posted the status reply; the worker died before writing it down.
        ("chat.postMessage", "files.completeUploadExternal"),
        # Slack shared the file into the thread; the worker died before writing it down.
        ("files.completeUploadExternal", "files.info"),
        # Slack edited the card (the request's last edit: the status's own was superseded by
        # it); the worker died before writing it down. The next one edits it again.
        ("chat.update", "chat.update"),
    ],
)
async def test_a_worker_killed_mid_flight_is_replaced_without_loss_or_duplicates(
    bot: BotHarness, tmp_path: Path, held: str, recovery: str
) -> None:
    story = await approved_capture(bot)
    [command] = await bot.sim.commands()
    await bot.sim.advance(40)  # Cloudflare has the capture: SUCCESS with a file
    before = len(bot.slack.calls())
    hold = bot.slack.hold(held)

    with worker_process(bot, tmp_path, "first") as first:
        await bot.slack.wait_for(lambda c: c.seq > before and c.method == held, timeout=30)
        assert hold.reached.is_set()  # Slack acted, the worker is waiting for the answer
        kill(first)
    hold.release()
    acted = len(bot.slack.calls())

    with worker_process(bot, tmp_path, "second") as second:
        await bot.slack.wait_for(lambda c: c.seq > acted and c.method == recovery, timeout=30)
        kill(second)  # possibly mid-flight again: the next worker must cope with that too

    # A last worker finishes whatever the second left half-done, on a clock far enough
    # ahead that every lease the killed workers held has run out.
    await bot.sim.advance(600)
    last = worker_for(bot)
    await last.tick()
    await last.deliverer.settle()  # the upload runs in its request's lane

    log = worker_logs(tmp_path)
    assert duplicates(bot.slack) == {}, log
    status = [k for k in keyed(thread(bot.slack, story.parent)) if ":thread_status:" in k]
    assert status == [f"{story.request_id}:thread_status:command_status:{command['id']}:SUCCESS"], (
        log
    )
    [shared] = shared_files(bot.slack)
    assert [(s.channel, s.thread_ts) for s in shared.shares] == [(SUPPORT_CHANNEL, story.parent.ts)]
    assert "Finished: 1 succeeded" in current(bot.slack, story.parent).text
    assert "Finished: 1 succeeded" in str(current(bot.slack, story.card).blocks)
    rows = await bot.dexbot.services.outbox.get(
        f"{story.request_id}:upload:command_status:{command['id']}:SUCCESS"
    )
    assert rows is not None and rows.state == "done"
