"""Slack transport: every listener is registered here, explicitly, and counted while it runs
(``api.activity``), so the shell and the tests know when the bot has finished answering."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.services.api import BotApi
from handlers.ack import before_ack
from handlers.actions import register_actions
from handlers.commands import handle_dex, read_only_text
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
        # Slack gives us 3 s: write the command down (one small insert), acknowledge, answer
        # through the response_url after. A process killed in between leaves the row behind,
        # and the worker tells the requester instead of the command vanishing.
        # Bounded (handlers/ack.py): a slow write never makes the ack late.
        writing = None
        if not read_only_text(body.get("text") or "", api):
            intent_row = api.flows.write_down(
                team_id=str(body.get("team_id") or ""),
                channel_id=str(body.get("channel_id") or ""),
                user_id=str(body.get("user_id") or ""),
                text=str(body.get("text") or ""),
            )
            writing = await before_ack(intent_row, "writing the command down")
        await ack()
        intent = await writing if writing is not None else None
        try:
            await handle_dex(api, body, respond, client)
        finally:
            await api.flows.answered(intent)

    register_actions(app, api, track)
    register_views(app, api, track)
    register_home(app, api, track)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Listeners report their own errors; this catches whatever escapes Bolt itself.
        log.error("unhandled error in a Slack listener", exc_info=error)
