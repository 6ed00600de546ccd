"""``dexbot socket``: Socket Mode, for workspaces without a public URL. Also serves
``/healthz``, ``/readyz`` and ``/metrics`` on a small local port, and reconnects a socket that
is stuck."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.app import DexBot
from bot.config import StartupError, cannot_listen
from bot.metrics import Metrics
from bot.metrics.hooks import payload_kind
from bot.web import Readiness, health_routes

log = logging.getLogger("dexbot.socket")
#: After this long without a connection, force a fresh one (the SDK's own monitor normally
#: reconnects within seconds; this is the safety net for a session that hangs silently).
STUCK_AFTER_SECONDS = 60.0


def socket_up(client: SocketModeClient) -> bool:
    """``client.is_connected()`` without the await (it does no I/O), read at each ``/readyz``
    so the answer is never older than the request."""
    session = client.current_session
    pong = client.last_ping_pong_time
    return (
        not client.closed
        and not client.stale
        and session is not None
        and not session.closed
        and (pong is None or time.time() - pong < client.ping_interval * 4)
    )


async def _watchdog(handler: AsyncSocketModeHandler, interval: float = 10.0) -> None:
    down_since: float | None = None
    while True:
        await asyncio.sleep(interval)
        connected = await handler.client.is_connected()
        if connected:
            down_since = None
            continue
        down_since = down_since or time.monotonic()
        if time.monotonic() - down_since > STUCK_AFTER_SECONDS:
            log.warning("Socket Mode connection stuck; reconnecting")
            try:
                await handler.client.connect_to_new_endpoint(force=True)
                down_since = None
            except Exception:
                log.exception("reconnect failed; will try again")


class TimedSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's handler, timing each envelope from arrival to the ack sent back on the socket."""

    metrics: Metrics | None = None

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        """Dispatch as usual; observe the ack latency."""
        started = time.monotonic()
        await super().handle(client, req)
        if self.metrics is not None:
            kind = payload_kind(req.payload or {})
            self.metrics.ack_latency.labels(kind).observe(time.monotonic() - started)


class AppTokenRefused(StartupError):
    """Slack refused the app-level token; retrying will not help."""


async def check_app_token(bot: DexBot, app_token: str) -> None:
    """Fail fast on a wrong ``SLACK_APP_TOKEN`` (the SDK would retry it forever), and on a
    Slack we cannot reach at all: one line and exit 2, so the supervisor (systemd, Docker,
    Kubernetes) restarts us with its own back-off rather than us looping with tracebacks."""
    try:
        await bot.app.client.apps_connections_open(app_token=app_token)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise StartupError(
            f"cannot reach Slack at {bot.app.client.base_url} ({type(exc).__name__}: {exc}). "
            "Check the network (or SLACK_API_URL); dexbot will connect when started again."
        ) from None
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in ("invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked"):
            raise AppTokenRefused(
                f"Slack refused SLACK_APP_TOKEN ({error}); it must be an app-level token "
                "(xapp-…) with connections:write, from the app's Basic Information page."
            ) from None
        raise


async def run_socket(
    bot: DexBot,
    app_token: str,
    *,
    health_host: str,
    health_port: int,
    background: list[Callable[[], Coroutine[Any, Any, None]]] | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Connect to Slack over Socket Mode and run until cancelled."""
    await bot.start()
    handler = TimedSocketModeHandler(bot.app, app_token, ping_interval=10)
    handler.metrics = metrics
    readiness = Readiness(bot.services, socket_connected=lambda: socket_up(handler.client))
    health = web.Application()
    health.add_routes(health_routes(readiness, metrics))
    runner = web.AppRunner(health, access_log=None)
    tasks: list[asyncio.Task[None]] = []
    # Cleanup covers the connect too: the SDK retries a failing connect forever, so a stop
    # (SIGINT, a test) can arrive before it returns.
    try:
        await runner.setup()
        try:
            await web.TCPSite(runner, health_host, health_port).start()
        except OSError as exc:
            raise StartupError(
                cannot_listen(health_host, health_port, exc, "HEALTH_PORT")
            ) from None
        log.info(
            "health endpoints on http://%s:%d/healthz, /readyz and /metrics",
            health_host,
            health_port,
        )
        await check_app_token(bot, app_token)
        await handler.connect_async()
        tasks.append(asyncio.create_task(_watchdog(handler)))
        tasks += [asyncio.create_task(job()) for job in background or []]
        log.info("dexbot connected to Slack in Socket Mode")
        await asyncio.Event().wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await handler.close_async()
        await runner.cleanup()
        await bot.aclose()
