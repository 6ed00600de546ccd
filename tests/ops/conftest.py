"""Fixtures for operability tests: the serve app with ``/metrics`` on a loopback port, and a
parser for what a Prometheus server would scrape."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.app import assemble
from bot.metrics import Metrics
from bot.runners import instrument
from bot.sim.slack import FakeSlack
from bot.sim.world import Cloudflare, LocalBot, local_settings
from bot.sim.world import process_env as world_env
from bot.web import build_web_app
from tests.plugins.bot import BotHarness
from tests.plugins.dexsim import SimHandle


@dataclass
class Scrape:
    """One scrape: sample name + labels -> value."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    text: str

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels (0 when absent: a counter not yet moved)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str) -> bool:
        """Whether any sample of ``name`` was exported."""
        return any(n == name for n, _ in self.samples)

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)

    def label_values(self) -> set[str]:
        """Every label value in the scrape."""
        return {v for (_, ls) in self.samples for _, v in ls}


def parse_scrape(text: str) -> Scrape:
    """Parse Prometheus' text format as a Prometheus server would."""
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return Scrape(samples, text)


async def scrape(http: httpx.AsyncClient, url: str) -> Scrape:
    """GET ``url`` (a ``/metrics`` endpoint) and parse it."""
    resp = await http.get(url)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=")
    return parse_scrape(resp.text)


@dataclass
class MeteredBot:
    """The scenario harness plus this process's metrics."""

    harness: BotHarness
    metrics: Metrics

    async def scrape(self) -> Scrape:
        """What Prometheus would read from the bot's /metrics right now."""
        return await scrape(self.harness.http, f"{self.harness.url}/metrics")


@pytest.fixture
async def metered(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> AsyncIterator[MeteredBot]:
    """``dexbot serve``'s app as the runner builds it (``instrument`` + ``/metrics``)."""
    cloudflare = Cloudflare(dex_sim.base_url, dex_sim.token, dex_sim.account_id)
    settings = local_settings(fake_slack, cloudflare, f"sqlite+aiosqlite:///{tmp_path}/bot.db")
    dexbot = assemble(settings)
    metrics = instrument(dexbot.services)
    await dexbot.start()
    runner = web.AppRunner(build_web_app(dexbot, metrics=metrics), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    local = LocalBot(dexbot, settings, f"http://{host}:{port}/slack/events", runner)
    async with httpx.AsyncClient(timeout=30) as http:
        harness = BotHarness(dexbot, fake_slack, dex_sim, local.base_url, http, settings, local)
        try:
            yield MeteredBot(harness, metrics)
        finally:
            with contextlib.suppress(TimeoutError):
                await local.idle(30)
            await local.stop()


def process_env(sim: SimHandle, fake: FakeSlack, db_url: str, **extra: str) -> dict[str, str]:
    """``bot.sim.world.process_env`` with a one-second poll, for the runner tests."""
    return world_env(sim, fake, db_url, **{"DEX_POLL_INTERVAL_SECONDS": "1", **extra})


async def wait_until(check: Any, deadline: float = 20.0) -> Any:
    """Await ``check()`` until it returns something truthy, or fail after ``deadline`` s."""
    async with asyncio.timeout(deadline):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.05)
