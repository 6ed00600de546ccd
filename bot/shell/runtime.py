"""Starting and stopping the pieces behind ``dexbot shell``, all in this process and on loopback:

- the DEX simulator with its seeded fleet and a fast clock (or the real Cloudflare API when
  ``CLOUDFLARE_API_TOKEN`` and ``CLOUDFLARE_ACCOUNT_ID`` are set);
- the fake Slack Web API (``FakeSlack``), saving uploads into the artifacts folder;
- the bot itself, ``create_app(settings)`` served by ``build_web_app`` exactly as ``dexbot serve``
  serves it, with migrations applied to a local SQLite file;
- the worker loop, polling every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import DexBot, create_app, utcnow
from bot.config import Settings
from bot.sim.dex import DexSimulator, SimConfig
from bot.sim.people import APPROVALS_CHANNEL, MANAGERS_GROUP_ID, SUPPORT_GROUP_ID, TEAM_ID
from bot.sim.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, FakeSlack
from bot.web import build_web_app
from bot.worker.runner import Worker

DEFAULT_DB = Path("dexbot-shell.db")
DEFAULT_ARTIFACTS = Path("dexbot-artifacts")
DEFAULT_SPEED = 1.0
#: Simulated seconds a command waits for the device, then uploads: long enough to see every
#: status, short enough for a demo. ``--speed`` divides them (and every other duration).
EXEC_SECONDS = 3.0
UPLOAD_SECONDS = 3.0
POLL_SECONDS = 1.0


class ShellStartError(Exception):
    """The shell cannot start; the message says what to change."""


def fresh_database(path: Path, team_id: str = TEAM_ID) -> None:
    """Remove the shell's database from an earlier session (and its WAL files).

    The emulated Slack and the simulator start empty every time, so requests kept from an
    earlier session would point at threads and commands that no longer exist (and block new
    requests for the same device). A file holding anything but the demo team's requests is
    not the shell's: it is left alone and the shell refuses to start.
    """
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            teams = (
                {row[0] for row in db.execute("SELECT DISTINCT team_id FROM capture_requests")}
                if "capture_requests" in tables
                else set()
            )
    except sqlite3.DatabaseError as exc:
        raise ShellStartError(f"{path} is not a dexbot shell database ({exc})") from None
    if teams - {team_id}:
        raise ShellStartError(
            f"{path} holds requests from a real workspace; the shell starts each session on "
            "an empty database, so give it another file with --db"
        )
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)


@dataclass(frozen=True)
class ShellOptions:
    """Where the shell keeps its state and how fast the simulated Cloudflare runs."""

    db: Path = DEFAULT_DB
    artifacts: Path = DEFAULT_ARTIFACTS
    speed: float = DEFAULT_SPEED
    poll_seconds: float = POLL_SECONDS
    #: Environment to read the Cloudflare credentials from (``os.environ`` by default).
    environ: Mapping[str, str] | None = None


@dataclass
class Runtime:
    """The running pieces; ``start()`` brings them up, ``stop()`` takes them down in reverse."""

    options: ShellOptions
    slack: FakeSlack = field(init=False)
    sim: DexSimulator | None = field(init=False, default=None)
    dexbot: DexBot = field(init=False)
    settings: Settings = field(init=False)
    bot_url: str = field(init=False, default="")
    _runner: web.AppRunner | None = field(init=False, default=None)
    _stop: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _worker: asyncio.Task[None] | None = field(init=False, default=None)

    @property
    def real_cloudflare(self) -> bool:
        """True when talking to the real Cloudflare API instead of the simulator."""
        return self.sim is None

    def banner(self) -> str:
        """What the shell is connected to, said once at start."""
        if self.sim is None:
            where = (
                f"the REAL Cloudflare API ({self.settings.cloudflare_api_url}, account "
                f"{self.settings.cloudflare_account()}) — commands run on real devices.\n"
                "The people you can name are the emulated workspace's (ann@example.com, …): "
                "only devices enrolled with those emails will be found"
            )
        else:
            speed = self.sim.clock.speed
            took = (EXEC_SECONDS + UPLOAD_SECONDS) / speed if speed else float("inf")
            fast = f", clock x{speed:g}" if speed != 1 else ""
            where = (
                f"the built-in DEX simulator (seeded fleet{fast}; "
                f"a command takes about {took:.0f} s)"
            )
        return (
            f"dexbot shell: Slack is emulated in this terminal; Cloudflare is {where}.\n"
            f"Database {self.options.db} (new for this session); "
            f"artifacts are saved in {self.options.artifacts}/"
        )

    async def start(self) -> Runtime:
        """Start everything; on failure, whatever did start is stopped again."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start(self) -> None:
        env = self.options.environ if self.options.environ is not None else os.environ
        token = env.get("CLOUDFLARE_API_TOKEN") or None
        account = env.get("CLOUDFLARE_ACCOUNT_ID") or None
        fresh_database(self.options.db)
        self.options.artifacts.mkdir(parents=True, exist_ok=True)
        self.slack = await FakeSlack(files_dir=self.options.artifacts).start("127.0.0.1", 0)
        values: dict[str, Any] = {
            "slack_bot_token": FAKE_BOT_TOKEN,
            "slack_signing_secret": FAKE_SIGNING_SECRET,
            "slack_api_url": self.slack.api_url,
            "database_url": f"sqlite+aiosqlite:///{self.options.db}",
            "dexbot_auto_migrate": True,
            "dex_requesters": [SUPPORT_GROUP_ID],
            "dex_approvers": [MANAGERS_GROUP_ID],
            "dex_approval_channel": APPROVALS_CHANNEL,
            "dex_poll_interval_seconds": self.options.poll_seconds,
        }
        if token and account:
            values.update(cloudflare_api_token=token, cloudflare_account_id=account)
        else:
            config = SimConfig(exec_seconds=EXEC_SECONDS, upload_seconds=UPLOAD_SECONDS)
            self.sim = DexSimulator(seed=1, speed=self.options.speed, config=config)
            values.update(
                cloudflare_api_url=await self.sim.start("127.0.0.1", 0),
                cloudflare_api_token=self.sim.token,
                cloudflare_account_id=self.sim.account_id,
            )
        self.settings = Settings(_env_file=None, **values)
        # The bot reads the simulator's clock: it compares Cloudflare's times with its own (the
        # poller lists commands in a window around when it sent them), and a faster clock on
        # one side only would soon put every new command outside that window.
        clock = self.sim.clock.now if self.sim is not None else utcnow
        self.dexbot = create_app(self.settings, clock=clock)
        await self.dexbot.start()  # migrations
        self._runner = web.AppRunner(build_web_app(self.dexbot), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.bot_url = f"http://{host}:{port}/slack/events"
        worker = Worker(self.dexbot.services, self.dexbot.services.deliverer)
        self._worker = asyncio.create_task(worker.run(self._stop), name="dexbot-shell-worker")

    async def stop(self) -> None:
        """Stop the worker (releasing its lease), the bot, the simulator and the fake Slack."""
        self._stop.set()
        if self._worker is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._worker, timeout=10)
            self._worker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if hasattr(self, "dexbot"):
            await self.dexbot.aclose()
            del self.dexbot
        if self.sim is not None:
            await self.sim.stop()
        if hasattr(self, "slack"):
            await self.slack.stop()
            del self.slack
