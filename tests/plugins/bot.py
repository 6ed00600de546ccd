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

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.app import DexBot
from bot.config import Settings
from bot.dex import DexClient, RateLimiter, RetryPolicy
from bot.sim.people import SUPPORT_CHANNEL, Person
from bot.sim.slack import FAKE_SIGNING_SECRET, FakeSlack
from bot.sim.slack.payloads import (
    block_actions_body,
    signed_headers,
    slash_command_body,
    view_submission_body,
)
from bot.sim.slack.recorder import Call
from bot.sim.world import Cloudflare, LocalBot, local_settings
from tests.plugins.db import _create_pg_database, _drop_pg_database
from tests.plugins.dexsim import SimHandle


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "botdb(kind): sqlite (default) or postgres for `bot`")
    config.addinivalue_line("markers", "botenv(**settings): settings overrides for `bot`")
    config.addinivalue_line("markers", "botclock(kind): wall (default) or sim clock for `bot`")


def click_answers(slack: FakeSlack) -> Callable[[Call], bool]:
    """Matches the answers to button clicks that only the clicker sees: an ephemeral message
    through the click's response_url (a hook made for a message), or chat.postEphemeral."""

    def match(call: Call) -> bool:
        if call.method == "chat.postEphemeral":
            return True
        if call.method != "response_url" or call.args.get("response_type") != "ephemeral":
            return False
        hook = slack.workspace.response_urls.get(call.path.rsplit("/", 1)[-1])
        return hook is not None and hook.message_ts is not None

    return match


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
    local: LocalBot

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
    overrides = env.kwargs if env else {}
    cloudflare = Cloudflare(dex_sim.base_url, dex_sim.token, dex_sim.account_id)
    clocked = request.node.get_closest_marker("botclock")
    extra: dict[str, Any] = {}
    if clocked and clocked.args[0] == "sim":
        settings = local_settings(fake_slack, cloudflare, db_url, **overrides)
        extra = {"clock": dex_sim.sim.clock.now, "dex": sim_clocked_dex(settings, dex_sim)}
    local = await LocalBot.start(
        slack=fake_slack, cloudflare=cloudflare, database_url=db_url, **extra, **overrides
    )
    async with httpx.AsyncClient(timeout=30) as http:
        harness = BotHarness(
            local.dexbot, fake_slack, dex_sim, local.base_url, http, local.settings, local
        )
        try:
            yield harness
        finally:
            # Let listeners still running after their ack finish before tearing down.
            with contextlib.suppress(TimeoutError):
                await local.idle(30)
            await local.stop()
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
