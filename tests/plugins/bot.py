"""The whole bot over HTTP, for scenario tests: the ``serve`` app on a loopback port, the DEX
simulator behind it and the fake Slack Web API in front of it.

::

    async def test_quota(bot):
        reply = await bot.slash("quota", user=SAM)
        assert "left" in reply.text

``bot.slash`` sends a signed slash command exactly as Slack would and returns the first
``response_url`` answer; ``bot.click`` sends a signed button click. The database is SQLite by
default; ``@pytest.mark.botdb("postgres")`` runs the same test on PostgreSQL.
``@pytest.mark.botclock("sim")`` puts the bot on the simulator's clock (its own clock, the DEX
client's rate limiter and retry waits), so ``bot.sim.advance()`` moves both sides at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.app import DexBot, create_app
from bot.config import Settings
from bot.dex import DexClient, RateLimiter, RetryPolicy
from bot.sim.people import APPROVALS_CHANNEL, MANAGERS_GROUP_ID, SUPPORT_CHANNEL, Person
from bot.sim.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, FakeSlack
from bot.sim.slack.payloads import (
    block_actions_body,
    signed_headers,
    slash_command_body,
    view_submission_body,
)
from bot.web import build_web_app
from tests.plugins.db import _create_pg_database, _drop_pg_database
from tests.plugins.dexsim import SimHandle


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "botdb(kind): sqlite (default) or postgres for `bot`")
    config.addinivalue_line("markers", "botenv(**settings): settings overrides for `bot`")
    config.addinivalue_line("markers", "botclock(kind): wall (default) or sim clock for `bot`")


@dataclass
class Reply:
    """What the person saw after a slash command: the ephemeral answer via response_url."""

    text: str
    blocks: list[dict[str, Any]]
    response_type: str | None
    raw: dict[str, Any]


@dataclass
class BotHarness:
    """A running bot plus the stand-ins around it."""

    dexbot: DexBot
    slack: FakeSlack
    sim: SimHandle
    url: str
    http: httpx.AsyncClient
    settings: Settings

    async def post_signed(
        self,
        body: bytes,
        *,
        secret: str = FAKE_SIGNING_SECRET,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a body to /slack/events, signed (or not, with ``headers``) like Slack."""
        hdrs = headers if headers is not None else signed_headers(secret, body, timestamp)
        return await self.http.post(f"{self.url}/slack/events", content=body, headers=hdrs)

    async def slash(
        self, text: str, *, user: Person, channel: str = SUPPORT_CHANNEL, wait: bool = True
    ) -> Reply | None:
        """Type ``/dex <text>`` as ``user``; returns the ephemeral answer."""
        url = self.slack.new_response_url(channel=channel, user=user.user_id)
        trigger = self.slack.new_trigger_id(user=user.user_id)
        body = slash_command_body(text, user.user_id, channel, url, trigger)
        resp = await self.post_signed(body)
        assert resp.status_code == 200, resp.text
        if not wait:
            return None
        return await self.answer(url)

    async def answer(self, url: str, index: int = 0, wait_s: float = 10) -> Reply:
        """The ``index``-th answer posted to a response_url."""
        await self.slack.wait_for(
            lambda c: c.method == "response_url" and c.path.endswith(url.rsplit("/", 1)[1]),
            count=index + 1,
            timeout=wait_s,
        )
        r = self.slack.responses(url)[index]
        return Reply(
            text=r.text, blocks=list(r.blocks or []), response_type=r.response_type, raw=r.body
        )

    async def click(
        self, action_id: str, value: str, *, user: Person, channel: str, message_ts: str
    ) -> httpx.Response:
        """Click a button as ``user`` on the message at ``message_ts``."""
        url = self.slack.new_response_url(channel=channel, user=user.user_id, message_ts=message_ts)
        trigger = self.slack.new_trigger_id(user=user.user_id)
        body = block_actions_body(action_id, value, user.user_id, channel, message_ts, url, trigger)
        return await self.post_signed(body)

    async def submit_view(
        self,
        callback_id: str,
        state_values: dict[str, Any],
        *,
        user: Person,
        private_metadata: str = "",
    ) -> httpx.Response:
        """Submit a modal as ``user``."""
        body = view_submission_body(callback_id, state_values, user.user_id, private_metadata)
        return await self.post_signed(body)

    def cloudflare_posts(self, recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The create-command POSTs among the simulator's recorded requests."""
        return [r for r in recorded if r["method"] == "POST" and r["path"].endswith("/commands")]


def _settings(sim: SimHandle, slack: FakeSlack, db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        slack_bot_token=FAKE_BOT_TOKEN,
        slack_signing_secret=FAKE_SIGNING_SECRET,
        slack_api_url=slack.api_url,
        cloudflare_api_url=sim.base_url,
        cloudflare_api_token=sim.token,
        cloudflare_account_id=sim.account_id,
        database_url=db_url,
        dex_requesters=["S0SUPPORT"],
        dex_approvers=[MANAGERS_GROUP_ID],
        dex_approval_channel=APPROVALS_CHANNEL,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def bot(
    request: pytest.FixtureRequest, dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Any
) -> AsyncIterator[BotHarness]:
    """The bot served over HTTP on a loopback port, wired to the simulator and fake Slack."""
    marker = request.node.get_closest_marker("botdb")
    kind = getattr(request, "param", None) or (marker.args[0] if marker else "sqlite")
    db_url = (
        await _create_pg_database()
        if kind == "postgres"
        else f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    )
    env = request.node.get_closest_marker("botenv")
    settings = _settings(dex_sim, fake_slack, db_url, **(env.kwargs if env else {}))
    clocked = request.node.get_closest_marker("botclock")
    dexbot = (
        create_app(settings, clock=dex_sim.sim.clock.now, dex=sim_clocked_dex(settings, dex_sim))
        if clocked and clocked.args[0] == "sim"
        else create_app(settings)
    )
    await dexbot.start()
    runner = web.AppRunner(build_web_app(dexbot))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with httpx.AsyncClient(timeout=30) as http:
        harness = BotHarness(
            dexbot, fake_slack, dex_sim, f"http://127.0.0.1:{port}", http, settings
        )
        try:
            yield harness
        finally:
            # Let listeners still running after their ack finish before tearing down.
            pending = [
                t
                for t in asyncio.all_tasks()
                if t is not asyncio.current_task() and "bolt" in repr(t.get_coro()).lower()
            ]
            await asyncio.gather(*pending, return_exceptions=True)
            await runner.cleanup()
            await dexbot.aclose()
            if kind == "postgres":
                await _drop_pg_database(db_url)


def sim_clocked_dex(settings: Settings, sim: SimHandle) -> DexClient:
    """A DEX client whose limiter and retry waits run on the simulator's clock (a wait
    advances it), so rate limits and back-off pass without real sleeping."""
    clock = sim.sim.clock

    async def wait(seconds: float) -> None:
        clock.advance(max(0.0, seconds))

    limiter = RateLimiter(
        settings.cloudflare_rate_limit,
        settings.cloudflare_rate_window_seconds,
        clock=clock.timestamp,
        sleep=wait,
    )
    retry = RetryPolicy(sleep=wait, clock=clock.timestamp)
    return DexClient.from_settings(settings, limiter=limiter, retry=retry)


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """All text in a list of blocks, for assertions on what a person reads."""
    return json.dumps(blocks, ensure_ascii=False)
