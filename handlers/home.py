"""The App Home tab: ``app_home_opened`` publishes the person's Home. Its Approve and Deny
buttons carry the card's action ids, so the card's listeners (``handlers.actions``) handle
them, with the same checks and the same exactly-once path."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.services.api import BotApi

log = logging.getLogger("dexbot.home")


def register_home(app: AsyncApp, api: BotApi, track: Callable[[Any], Any]) -> None:
    """The ``app_home_opened`` listener (Bolt acknowledges events before it runs)."""

    @app.event("app_home_opened")
    @track
    async def on_home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab fires this event too; it shows no Home
        user = str(event.get("user") or "")
        if not user:
            return
        try:
            await api.home.opened(user, str(body.get("team_id") or ""), body.get("event_id"))
        except Exception:  # nobody to answer: the tab stays as it was; log for the operator
            log.exception("could not publish the App Home")
