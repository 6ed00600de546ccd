"""What each ``dexbot`` subcommand runs, assembled from settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from bot.app import DexBot, Services, assemble, create_worker
from bot.config import Settings, StartupError
from bot.metrics import Metrics
from bot.store.db import create_engine, migrate

log = logging.getLogger("dexbot")
#: How long start-up waits for Cloudflare's answer to the token check.
START_CHECK_SECONDS = 5.0


def _background(bot: DexBot, worker: bool) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    if not worker:
        return []
    return [create_worker(bot.services).run]


def instrument(services: Services) -> Metrics:
    """This process's metrics, attached to its Slack and Cloudflare clients, its artifact
    uploads and (read at scrape time, on the poller lease's holder only) its database.
    Call it before the first request: Bolt copies the Slack client's handlers per request."""
    from bot.metrics.hooks import (
        instrument_dex_client,
        instrument_slack_client,
        instrument_upload_client,
    )
    from bot.metrics.store import watch_store
    from bot.worker.artifacts import ArtifactRelay

    metrics = services.metrics
    instrument_slack_client(services.slack, metrics)
    instrument_slack_client(services.deliverer.slack, metrics)
    instrument_dex_client(services.dex, metrics)
    relay = services.deliverer.upload
    if isinstance(relay, ArtifactRelay):
        instrument_upload_client(relay, metrics)
    watch_store(metrics, services.engine, services.owner, clock=services.clock)
    services.requests.observers.append(
        lambda event, kind, by_policy: metrics.observe_transition(event, kind, by_policy=by_policy)
    )
    services.deliverer.metrics = metrics
    return metrics


async def migrate_only(settings: Settings) -> None:
    """Upgrade the schema and exit."""
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        log.info("database is up to date")
    finally:
        await engine.dispose()


async def check_cloudflare(bot: DexBot) -> None:
    """One cheap authenticated call at start (Socket Mode: before connecting; HTTP: once the
    server listens, so ``/healthz`` does not wait for it): a token Cloudflare refuses stops
    start-up (``StartupError`` naming CLOUDFLARE_API_TOKEN); a network failure does not (it
    is logged, and ``/readyz`` shows it until Cloudflare answers)."""
    from bot.dex.errors import DexAuthError, DexError

    try:
        async with asyncio.timeout(START_CHECK_SECONDS):  # the client would retry for longer
            await bot.services.dex.get_quota()
    except DexAuthError as exc:
        await bot.aclose()
        raise StartupError(
            f"Cloudflare refused CLOUDFLARE_API_TOKEN (HTTP {exc.status}): it needs DEX Read "
            "and Write on CLOUDFLARE_ACCOUNT_ID"
        ) from None
    except DexError as exc:
        log.warning(
            "Cloudflare did not answer at start (%s); /readyz will say so", type(exc).__name__
        )


async def run_serve(settings: Settings, host: str, port: int, *, worker: bool = True) -> None:
    """HTTP mode."""
    from bot.web import serve

    bot = assemble(settings)
    metrics = instrument(bot.services)  # first, so the start-up check is counted too
    # The token check runs once the server listens: /healthz (liveness) need not wait for a
    # round trip to Cloudflare, /readyz says "not ready" until Cloudflare answers, and a
    # refused token still stops the process with the same one line.
    await serve(
        bot,
        host,
        port,
        background=_background(bot, worker),
        metrics=metrics,
        preflight=lambda: check_cloudflare(bot),
    )


async def run_socket_mode(settings: Settings, *, worker: bool = True) -> None:
    """Socket Mode."""
    from bot.socket_mode import run_socket

    assert settings.slack_app_token is not None  # checked by Settings.check_for("socket")
    bot = assemble(settings, socket_mode=True)
    metrics = instrument(bot.services)  # first, so the start-up check is counted too
    await check_cloudflare(bot)
    await run_socket(
        bot,
        settings.slack_app_token.get_secret_value(),
        health_host=settings.health_host,
        health_port=settings.health_port,
        background=_background(bot, worker),
        metrics=metrics,
    )


async def run_worker(settings: Settings) -> None:
    """Only the poller and the outbox deliverer (no Bolt app is built), with ``/healthz``,
    ``/readyz`` and ``/metrics`` on ``HEALTH_HOST:WORKER_HEALTH_PORT``."""
    import asyncio

    from aiohttp import web

    from bot.app import build_services
    from bot.web import Readiness, health_routes

    services = build_services(settings)
    metrics = instrument(services)
    health = web.Application()
    health.add_routes(health_routes(Readiness(services), metrics))
    runner = web.AppRunner(health, access_log=None)
    try:
        if settings.dexbot_auto_migrate:
            await migrate(services.engine)
        await runner.setup()
        await web.TCPSite(runner, settings.health_host, settings.worker_health_port).start()
        host, port = runner.addresses[0][:2]
        log.info(
            "worker health endpoints on http://%s:%d/healthz, /readyz and /metrics", host, port
        )
        log.info("worker started")
        await create_worker(services).run()
    finally:
        await asyncio.shield(runner.cleanup())
        await asyncio.shield(services.aclose())
