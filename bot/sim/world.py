"""One local world for the shell, the tests and the benchmarks: the real bot served on loopback
exactly as ``dexbot serve`` serves it, wired to the fake Slack and a Cloudflare endpoint (the
DEX simulator, or the real API), with the demo workspace's people as requesters and approvers.

::

    bot = await LocalBot.start(slack=fake, cloudflare=Cloudflare(url, token, account),
                               database_url="sqlite+aiosqlite:///x.db")
    ...  # post signed requests to bot.events_url
    await bot.stop()
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from bot.app import DexBot, assemble, create_worker, utcnow
from bot.config import Settings
from bot.sim.people import APPROVALS_CHANNEL, MANAGERS_GROUP_ID, SUPPORT_GROUP_ID
from bot.sim.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, FakeSlack

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.dex.client import DexClient
    from bot.worker.runner import Worker


@dataclass(frozen=True)
class Cloudflare:
    """Where the bot finds Cloudflare's API, and with which credentials."""

    url: str
    token: str
    account_id: str


class DexEndpoint(Protocol):
    """What a process needs of the simulator (``DexSimulator`` or a test's handle on it)."""

    @property
    def base_url(self) -> str | None: ...
    @property
    def token(self) -> str: ...
    @property
    def account_id(self) -> str: ...


#: Settings a parent's environment must not pass on to a bot process of the local world.
OUR_PREFIXES = ("SLACK_", "CLOUDFLARE_", "DEX_", "DATABASE_", "DEXBOT_", "WORKER_", "HEALTH_")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_env(
    sim: DexEndpoint, slack: FakeSlack, database_url: str, **extra: str
) -> dict[str, str]:
    """The environment of a real ``python -m bot …`` process wired to the stand-ins: this
    process's environment without any bot setting, the stand-ins' URLs and credentials, the
    demo workspace's groups as requesters and approvers, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_PREFIXES)}
    env.update(
        SLACK_BOT_TOKEN=FAKE_BOT_TOKEN,
        SLACK_SIGNING_SECRET=FAKE_SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        CLOUDFLARE_API_URL=str(sim.base_url),
        CLOUDFLARE_API_TOKEN=sim.token,
        CLOUDFLARE_ACCOUNT_ID=sim.account_id,
        DATABASE_URL=database_url,
        DEX_REQUESTERS=SUPPORT_GROUP_ID,
        DEX_APPROVERS=MANAGERS_GROUP_ID,
    )
    env.update(extra)
    return env


def local_settings(
    slack: FakeSlack, cloudflare: Cloudflare | None, database_url: str, **overrides: Any
) -> Settings:
    """Settings for the bot in the local world: the demo workspace's support group may
    request, its managers approve, cards go to its approvals channel."""
    values: dict[str, Any] = {
        "slack_bot_token": FAKE_BOT_TOKEN,
        "slack_signing_secret": FAKE_SIGNING_SECRET,
        "slack_api_url": slack.api_url,
        "database_url": database_url,
        "dex_requesters": [SUPPORT_GROUP_ID],
        "dex_approvers": [MANAGERS_GROUP_ID],
        "dex_approval_channel": APPROVALS_CHANNEL,
    }
    if cloudflare is not None:
        values.update(
            cloudflare_api_url=cloudflare.url,
            cloudflare_api_token=cloudflare.token,
            cloudflare_account_id=cloudflare.account_id,
        )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class LocalBot:
    """The bot, served on a loopback port, and what it was built from."""

    dexbot: DexBot
    settings: Settings
    events_url: str
    _runner: web.AppRunner = field(repr=False)

    @classmethod
    async def start(
        cls,
        *,
        slack: FakeSlack,
        cloudflare: Cloudflare | None,
        database_url: str,
        clock: Callable[[], datetime] = utcnow,
        dex: DexClient | None = None,
        **overrides: Any,
    ) -> LocalBot:
        """Build, migrate and serve the bot; stop it with ``stop()``."""
        from bot.web import build_web_app

        settings = local_settings(slack, cloudflare, database_url, **overrides)
        dexbot = assemble(settings, clock=clock, dex=dex)
        try:
            await dexbot.start()
            runner = web.AppRunner(build_web_app(dexbot), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
        except BaseException:
            await dexbot.aclose()
            raise
        host, port = runner.addresses[0][:2]
        return cls(dexbot, settings, f"http://{host}:{port}/slack/events", runner)

    @property
    def base_url(self) -> str:
        """The server's root URL."""
        return self.events_url.removesuffix("/slack/events")

    def worker(self) -> Worker:
        """A worker over this bot's services (not started)."""
        return create_worker(self.dexbot.services)

    async def idle(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (a deadline)
        """Wait until no listener is running (the bot has finished answering)."""
        await self.dexbot.services.activity.idle(timeout)

    async def stop(self) -> None:
        """Stop serving and close the bot's connections."""
        await self._runner.cleanup()
        await self.dexbot.aclose()
