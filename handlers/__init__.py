"""Slack transport: every listener is registered here, explicitly, and counted while it runs
(``api.activity``), so the shell and the tests know when the bot has finished answering."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.services.api import BotApi
from handlers.actions import register_actions
from handlers.commands import handle_dex
from handlers.gate import register_gate
from handlers.home import register_home
from handlers.views import register_views

log = logging.getLogger("dexbot.handlers")
Listener = Callable[..., Awaitable[None]]


def tracked(api: BotApi) -> Callable[[Listener], Listener]:
    """Wrap a listener so its run counts as in-flight work (Bolt passes arguments by name)."""

    def wrap(fn: Listener) -> Listener:
        @functools.wraps(fn)
        async def run(*args: Any, **kwargs: Any) -> None:
            async with api.activity.track():
                await fn(*args, **kwargs)

        return run

    return wrap


def register(app: AsyncApp, api: BotApi) -> None:
    """Attach the ``/dex`` command, button, modal and App Home listeners to ``app``."""
    track = tracked(api)
    register_gate(app, api)

    @app.command("/dex")
    @track
    async def dex_command(ack: Any, body: dict[str, Any], respond: Any, client: Any) -> None:
        # Slack gives us 3 s: acknowledge first, answer through the response_url after.
        await ack()
        await handle_dex(api, body, respond, client)

    register_actions(app, api, track)
    register_views(app, api, track)
    register_home(app, api, track)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Listeners report their own errors; this catches whatever escapes Bolt itself.
        log.error("unhandled error in a Slack listener", exc_info=error)
