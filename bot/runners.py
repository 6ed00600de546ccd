"""What each ``dexbot`` subcommand runs, assembled from settings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from bot.app import DexBot, assemble, create_worker
from bot.config import Settings
from bot.store.db import create_engine, migrate

log = logging.getLogger("dexbot")


def _background(bot: DexBot, worker: bool) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    if not worker:
        return []
    return [create_worker(bot.services).run]


async def migrate_only(settings: Settings) -> None:
    """Upgrade the schema and exit."""
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        log.info("database is up to date")
    finally:
        await engine.dispose()


async def run_serve(settings: Settings, host: str, port: int, *, worker: bool = True) -> None:
    """HTTP mode."""
    from bot.web import serve

    bot = assemble(settings)
    await serve(bot, host, port, background=_background(bot, worker))


async def run_socket_mode(settings: Settings, *, worker: bool = True) -> None:
    """Socket Mode."""
    from bot.socket_mode import run_socket

    assert settings.slack_app_token is not None  # checked by Settings.check_for("socket")
    bot = assemble(settings, socket_mode=True)
    await run_socket(
        bot,
        settings.slack_app_token.get_secret_value(),
        health_host=settings.health_host,
        health_port=settings.health_port,
        background=_background(bot, worker),
    )


async def run_worker(settings: Settings) -> None:
    """Only the poller and the outbox deliverer: no Bolt app is built."""
    import asyncio

    from bot.app import build_services

    services = build_services(settings)
    try:
        if settings.dexbot_auto_migrate:
            await migrate(services.engine)
        log.info("worker started")
        await create_worker(services).run()
    finally:
        await asyncio.shield(services.aclose())
