"""A real ``python -m bot serve`` (or ``worker``) process around the in-process simulator and
fake Slack, and what a test reads back: the calls Slack got, the messages people see, the
request rows in the shared database.

The processes are started with a short poll interval, so a lease a killed process held runs
out within seconds (``bot.worker.deliver.lease_for``). Nothing sleeps: tests wait on the
calls the fake Slack records, with deadlines.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from bot.domain.lifecycle import Effect, EffectKind, Event
from bot.sim.people import ANN, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, FakeSlack
from bot.sim.slack.payloads import signed_headers, slash_command_body
from bot.sim.slack.recorder import Call
from bot.sim.world import free_port
from bot.store.db import create_engine, session_factory
from bot.store.tables import CaptureRequestRow, QuotaReservationRow
from tests.plugins.dexsim import SimHandle

REPO = Path(__file__).resolve().parents[2]
#: The request every test makes (Ann has several devices: name one, so no form opens).
CAPTURE = f"capture <@{ANN.user_id}> pcap 2m --device ann-macbook --reason VPN"
METADATA_EVENT = "dexbot_post"


@dataclass
class World:
    """Where the bot processes point: simulator, fake Slack, database, settings."""

    sim: SimHandle
    slack: FakeSlack
    tmp: Path
    database_url: str
    approval_channel: str
    #: Short, so a killed process's leases run out within seconds (4 poll intervals).
    poll_seconds: float = 0.2
    logs: list[Path] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The environment of a bot process (nothing inherited that could reach outside)."""
        return {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "SLACK_BOT_TOKEN": FAKE_BOT_TOKEN,
            "SLACK_SIGNING_SECRET": FAKE_SIGNING_SECRET,
            "SLACK_API_URL": self.slack.api_url,
            "CLOUDFLARE_API_URL": self.sim.base_url,
            "CLOUDFLARE_API_TOKEN": self.sim.token,
            "CLOUDFLARE_ACCOUNT_ID": self.sim.account_id,
            "DATABASE_URL": self.database_url,
            "DEX_REQUESTERS": "S0SUPPORT",
            "DEX_APPROVERS": "S0MANAGER",
            "DEX_APPROVAL_CHANNEL": self.approval_channel,
            "DEX_POLL_INTERVAL_SECONDS": str(self.poll_seconds),
            # Any free port: the defaults clash with tests running at the same time.
            "HEALTH_PORT": "0",
            "WORKER_HEALTH_PORT": "0",
        }

    def log_text(self) -> str:
        """What the bot processes logged and the calls Slack got, to explain a failure."""
        logs = [f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.logs]
        calls = "\n".join(str(c) for c in self.slack.calls())
        return "\n".join([*logs, "--- Slack calls", calls])

    @asynccontextmanager
    async def process(self, *argv: str) -> AsyncIterator[Bot]:
        """``python -m bot <argv>``; for ``serve``, ready once it says it is listening.
        SIGKILLed on the way out if still running."""
        port = free_port()
        args = [*argv, "--port", str(port)] if argv[0] == "serve" else list(argv)
        log = self.tmp / f"{argv[0]}-{len(self.logs)}.log"
        self.logs.append(log)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            env=self.env(),
            cwd=str(self.tmp),  # no stray .env is read
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        listening = asyncio.Event()
        drain = asyncio.create_task(_drain(proc, log, listening))
        bot = Bot(proc, f"http://127.0.0.1:{port}")
        try:
            if argv[0] == "serve":
                started = asyncio.create_task(listening.wait())
                await asyncio.wait(
                    [started, drain], timeout=30, return_when=asyncio.FIRST_COMPLETED
                )
                started.cancel()
                assert listening.is_set(), f"serve did not start:\n{self.log_text()}"
            yield bot
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), timeout=15)
            await drain

    # -- asking ------------------------------------------------------------------------------
    async def slash(
        self, bot: Bot, user: str, text: str = CAPTURE, channel: str = SUPPORT_CHANNEL
    ) -> str:
        """Send a signed ``/dex`` as Slack would; returns its response_url."""
        url = self.slack.new_response_url(channel=channel, user=user)
        body = slash_command_body(text, user, channel, url, f"trig-{url[-8:]}")
        async with httpx.AsyncClient(timeout=10) as http:
            resp = await http.post(
                f"{bot.base_url}/slack/events",
                content=body,
                headers=signed_headers(FAKE_SIGNING_SECRET, body),
            )
        assert resp.status_code == 200, resp.text
        return url

    async def answer(self, url: str, timeout: float = 30) -> str:  # noqa: ASYNC109
        """The first answer posted to ``url`` (waiting for it)."""
        path = urlsplit(url).path
        await self.slack.wait_for(
            lambda c: c.method == "response_url" and c.path == path, 1, timeout
        )
        [first, *_] = self.slack.responses(url)
        return first.text

    # -- reading back ------------------------------------------------------------------------
    async def requests(self) -> list[CaptureRequestRow]:
        """Every request row, oldest first."""
        engine = create_engine(self.database_url)
        try:
            async with session_factory(engine)() as s:
                rows = await s.scalars(
                    select(CaptureRequestRow).order_by(CaptureRequestRow.created_at)
                )
                return list(rows)
        finally:
            await engine.dispose()

    async def held_units(self, request_id: str) -> int:
        """Quota units the request still holds."""
        engine = create_engine(self.database_url)
        try:
            async with session_factory(engine)() as s:
                rows = await s.scalars(
                    select(QuotaReservationRow).where(
                        QuotaReservationRow.request_id == request_id,
                        QuotaReservationRow.state == "held",
                    )
                )
                return sum(r.units for r in rows)
        finally:
            await engine.dispose()

    def posts(self, key: str) -> list[Call]:
        """The chat.postMessage calls Slack carried out for one outbox key."""
        return [c for c in self.slack.calls("chat.postMessage") if c.ok and key_of(c) == key]

    def shown(self, channel: str, key: str) -> int:
        """How many messages in ``channel`` carry ``key`` (what people see)."""
        return sum(
            1
            for m in self.slack.messages(channel)
            if ((m.metadata or {}).get("event_payload") or {}).get("key") == key
        )


@dataclass
class Bot:
    """A running bot process."""

    proc: asyncio.subprocess.Process
    base_url: str

    async def kill(self) -> None:
        """SIGKILL, and wait until it is gone."""
        self.proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.proc.wait(), timeout=15) == -signal.SIGKILL


def parent_key(request_id: str) -> str:
    """The outbox key (and message metadata) of the request's parent message."""
    return Effect(EffectKind.POST_PARENT, request_id, Event.REQUESTED).key


def card_key(request_id: str) -> str:
    """The outbox key (and message metadata) of the request's approval card."""
    return Effect(EffectKind.POST_CARD, request_id, Event.REQUESTED).key


def key_of(call: Call) -> str | None:
    """The outbox key a post carried in its metadata."""
    meta: Any = call.args.get("metadata") or {}
    if not isinstance(meta, dict) or meta.get("event_type") != METADATA_EVENT:
        return None
    return (meta.get("event_payload") or {}).get("key")


async def _drain(proc: asyncio.subprocess.Process, log: Path, listening: asyncio.Event) -> None:
    """Copy the process's stderr to ``log`` (a full pipe would stall it) and notice start-up."""
    assert proc.stderr is not None
    with log.open("wb") as out:
        while line := await proc.stderr.readline():
            out.write(line)
            out.flush()
            if b"dexbot listening" in line:
                listening.set()
