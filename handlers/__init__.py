"""Slack transport: every listener is registered here, explicitly."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.app import Services
from handlers.actions import register_actions
from handlers.commands import handle_dex
from handlers.views import register_views

log = logging.getLogger("dexbot.handlers")


def register(app: AsyncApp, svc: Services) -> None:
    """Attach the ``/dex`` command, button and modal listeners to ``app``."""

    @app.command("/dex")
    async def dex_command(ack: Any, body: dict[str, Any], respond: Any, client: Any) -> None:
        # Slack gives us 3 s: acknowledge first, answer through the response_url after.
        await ack()
        await handle_dex(svc, body, respond, client)

    register_actions(app, svc)
    register_views(app, svc)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Listeners report their own errors; this catches whatever escapes Bolt itself.
        log.error("unhandled error in a Slack listener", exc_info=error)
