"""What each ``dexbot`` subcommand runs, assembled from settings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from bot.app import DexBot, create_app
from bot.config import Settings
from bot.store.db import create_engine, migrate

log = logging.getLogger("dexbot")


def _background(bot: DexBot, worker: bool) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    if not worker:
        return []
    from bot.worker.runner import run_forever

    return [lambda: run_forever(bot.services, bot.services.deliverer)]


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

    bot = create_app(settings)
    await serve(bot, host, port, background=_background(bot, worker))


async def run_socket_mode(settings: Settings, *, worker: bool = True) -> None:
    """Socket Mode."""
    from bot.socket_mode import run_socket

    assert settings.slack_app_token is not None  # checked by Settings.check_for("socket")
    bot = create_app(settings, socket_mode=True)
    await run_socket(
        bot,
        settings.slack_app_token.get_secret_value(),
        health_host=settings.health_host,
        health_port=settings.health_port,
        background=_background(bot, worker),
    )


async def run_worker(settings: Settings) -> None:
    """Only the poller and the outbox deliverer."""
    import asyncio

    from bot.worker.runner import run_forever

    bot = create_app(settings)
    await bot.start()
    try:
        await run_forever(bot.services, bot.services.deliverer)
    finally:
        await asyncio.shield(bot.aclose())
