"""``dexbot serve``: an aiohttp server. Slack's slash commands, interactivity and options all
arrive at ``POST /slack/events`` (signed; Bolt verifies); ``/healthz`` is liveness,
``/readyz`` checks the database, the Cloudflare token and, in Socket Mode, the connection, and
``/metrics`` is Prometheus' text format (when the runner passes a ``Metrics``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from sqlalchemy import text

from bot.app import DexBot, Services
from bot.config import StartupError, cannot_listen
from bot.dex.errors import DexAuthError, DexError
from bot.metrics import Metrics
from bot.metrics.hooks import payload_kind
from bot.slack_gate import screen
from handlers.ids import ActionId, CallbackId

log = logging.getLogger("dexbot.web")
CLOUDFLARE_CHECK_TTL = 60.0


class Readiness:
    """Checks behind ``/readyz``; the Cloudflare check is cached (it costs a request)."""

    def __init__(
        self, services: Services, *, socket_connected: Callable[[], bool] | None = None
    ) -> None:
        self.services = services
        self.socket_connected = socket_connected
        self._cf: tuple[float, bool, str] | None = None

    async def _database(self) -> tuple[bool, str]:
        try:
            async with self.services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True, "ok"
        except Exception as exc:
            return False, f"database unreachable: {type(exc).__name__}"

    async def _cloudflare(self) -> tuple[bool, str]:
        now = time.monotonic()
        if self._cf and now - self._cf[0] < CLOUDFLARE_CHECK_TTL:
            return self._cf[1], self._cf[2]
        try:
            await self.services.dex.get_quota()
            result = (True, "ok")
        except DexAuthError:
            result = (False, "Cloudflare refused the API token")
        except DexError as exc:
            result = (False, f"Cloudflare unavailable: {type(exc).__name__}")
        self._cf = (now, *result)
        return result

    async def check(self) -> tuple[bool, dict[str, str]]:
        """All checks; ready only when every one passes."""
        (db_ok, db), (cf_ok, cf) = await asyncio.gather(self._database(), self._cloudflare())
        checks = {"database": db, "cloudflare": cf}
        ok = db_ok and cf_ok
        if self.socket_connected is not None:
            connected = self.socket_connected()
            checks["socket"] = "ok" if connected else "not connected"
            ok = ok and connected
        return ok, checks


def health_routes(readiness: Readiness, metrics: Metrics | None = None) -> list[web.RouteDef]:
    """``/healthz``, ``/readyz`` and, given ``metrics``, ``/metrics``."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.Response:
        ok, checks = await readiness.check()
        return web.json_response({"ok": ok, "checks": checks}, status=200 if ok else 503)

    routes = [web.get("/healthz", healthz), web.get("/readyz", readyz)]
    if metrics is not None:
        routes.append(web.get("/metrics", metrics_handler(metrics)))
    return routes


def metrics_handler(metrics: Metrics) -> Callable[[web.Request], Coroutine[Any, Any, web.Response]]:
    """``GET /metrics``: the registry in Prometheus' text format."""

    async def handle(_: web.Request) -> web.Response:
        body = await metrics.scrape()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle


def build_web_app(
    bot: DexBot, *, on_startup: list[Any] | None = None, metrics: Metrics | None = None
) -> web.Application:
    """The aiohttp application serving Slack and the health endpoints."""

    secret = bot.services.settings.slack_signing_secret
    signing_secret = secret.get_secret_value() if secret else ""
    action_ids = {a.value for a in ActionId}
    callback_ids = {c.value for c in CallbackId}

    async def slack_events(request: web.Request) -> web.Response:
        started = time.monotonic()
        body = await request.read()
        verdict = screen(
            body, request.headers, signing_secret, action_ids=action_ids, callback_ids=callback_ids
        )
        if verdict is not None:  # malformed or not ours: answered here, nothing done
            if verdict.status != 200:
                log.info("refused a Slack request: %s", verdict.reason)
            return web.Response(status=verdict.status, text=verdict.reason)
        bolt_request = await to_bolt_request(request)
        bolt_response = await bot.app.async_dispatch(bolt_request)
        if metrics is not None:  # Bolt answers once the listener acks (the rest runs on)
            kind = payload_kind(bolt_request.body)
            metrics.ack_latency.labels(kind).observe(time.monotonic() - started)
        return await to_aiohttp_response(bolt_response)

    web_app = web.Application(client_max_size=1 << 20)
    health = health_routes(Readiness(bot.services), metrics)
    web_app.add_routes([web.post("/slack/events", slack_events), *health])
    for hook in on_startup or []:
        web_app.on_startup.append(hook)
    return web_app


async def serve(
    bot: DexBot,
    host: str,
    port: int,
    *,
    background: list[Callable[[], Coroutine[Any, Any, None]]] | None = None,
    metrics: Metrics | None = None,
    preflight: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Run until cancelled: migrations, the web server, then ``preflight`` (a check that may
    stop start-up with ``StartupError`` while ``/healthz`` already answers), then any
    background tasks."""
    await bot.start()
    runner = web.AppRunner(build_web_app(bot, metrics=metrics), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:  # the port is taken (or not ours to take): say so, no traceback
        await runner.cleanup()
        await bot.aclose()
        raise StartupError(cannot_listen(host, port, exc, "--port")) from None
    log.info("dexbot listening on http://%s:%d/slack/events", host, port)
    tasks: list[asyncio.Task[None]] = []
    try:
        if preflight is not None:
            await preflight()
        tasks = [asyncio.create_task(job()) for job in background or []]
        await asyncio.Event().wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
        await bot.aclose()
