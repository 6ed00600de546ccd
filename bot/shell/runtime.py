"""Starting and stopping the pieces behind ``dexbot shell``, all in this process and on loopback:

- the DEX simulator with its seeded fleet and a fast clock (or the real Cloudflare API when
  ``CLOUDFLARE_API_TOKEN`` and ``CLOUDFLARE_ACCOUNT_ID`` are set);
- the fake Slack Web API (``FakeSlack``), saving uploads into the artifacts folder;
- the bot itself, served exactly as ``dexbot serve`` serves it (``bot.sim.world.LocalBot``,
  the same local world the tests use), with migrations applied to a local SQLite file;
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

from bot.app import DexBot, utcnow
from bot.config import Settings
from bot.sim.dex import DexSimulator, SimConfig
from bot.sim.people import TEAM_ID
from bot.sim.slack import FakeSlack
from bot.sim.world import Cloudflare, LocalBot

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
    bot: LocalBot | None = field(init=False, default=None)
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
        cloudflare = None
        if token and account:
            real = Settings(
                _env_file=None, cloudflare_api_token=token, cloudflare_account_id=account
            )
            cloudflare = Cloudflare(real.cloudflare_api_url, token, account)
        else:
            config = SimConfig(exec_seconds=EXEC_SECONDS, upload_seconds=UPLOAD_SECONDS)
            self.sim = DexSimulator(seed=1, speed=self.options.speed, config=config)
            url = await self.sim.start("127.0.0.1", 0)
            cloudflare = Cloudflare(url, self.sim.token, self.sim.account_id)
        # The bot reads the simulator's clock: it compares Cloudflare's times with its own (the
        # poller lists commands in a window around when it sent them), and a faster clock on
        # one side only would soon put every new command outside that window.
        clock = self.sim.clock.now if self.sim is not None else utcnow
        self.bot = await LocalBot.start(
            slack=self.slack,
            cloudflare=cloudflare,
            database_url=f"sqlite+aiosqlite:///{self.options.db}",
            clock=clock,
            dexbot_auto_migrate=True,
            dex_poll_interval_seconds=self.options.poll_seconds,
        )
        self.dexbot = self.bot.dexbot
        self.settings = self.bot.settings
        self.bot_url = self.bot.events_url
        worker = self.bot.worker()
        self._worker = asyncio.create_task(worker.run(self._stop), name="dexbot-shell-worker")

    async def stop(self) -> None:
        """Stop the worker (releasing its lease), the bot, the simulator and the fake Slack."""
        self._stop.set()
        if self._worker is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._worker, timeout=10)
            self._worker = None
        if self.bot is not None:
            await self.bot.stop()
            self.bot = None
            del self.dexbot
        if self.sim is not None:
            await self.sim.stop()
        if hasattr(self, "slack"):
            await self.slack.stop()
            del self.slack
