"""Publishes a person's App Home (``views.publish``): the one place that draws it, used when
the tab is opened and by the outbox's ``refresh_home`` rows.

Repeating a publish is harmless (it replaces the whole tab with the current state), so an
interrupted refresh is simply done again. Thread links are built from the workspace URL
(``auth.test``, asked once) instead of one ``chat.getPermalink`` per request.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.home import HomeData, HomeService

log = logging.getLogger("dexbot.home")
RenderHome = Callable[[HomeData], dict[str, Any]]


class HomePublisher:
    """Renders a person's Home from the store and publishes it."""

    def __init__(self, home: HomeService, slack: AsyncWebClient, render: RenderHome) -> None:
        self.home = home
        self.slack = slack
        self.render = render
        self._team_url: str | None = None

    async def __call__(self, user_id: str) -> dict[str, Any]:
        """Publish ``user_id``'s Home as it is now; returns what the outbox row records."""
        data = await self.home.data(user_id)
        data = dataclasses.replace(data, links=await self._links(data))
        view = self.render(data)
        await self.slack.views_publish(user_id=user_id, view=view)
        await self.home.store.published(user_id, self.home.ctx.clock())
        return {"published": user_id, "blocks": len(view.get("blocks") or [])}

    async def _links(self, data: HomeData) -> dict[str, str]:
        base = await self.team_url()
        if base is None:
            return {}
        links = {}
        for req in [*data.requests, *(data.approvals or [])]:
            if req.parent_channel and req.parent_ts:
                ts = req.parent_ts.replace(".", "")
                links[req.id] = f"{base}archives/{req.parent_channel}/p{ts}"
        return links

    async def team_url(self) -> str | None:
        """The workspace's URL (``https://team.slack.com/``), or None when Slack won't say."""
        if self._team_url is None:
            try:
                resp = await self.slack.auth_test()
            except SlackApiError:
                log.warning("auth.test failed; the Home shows no thread links this time")
                return None
            url = str(resp.get("url") or "")
            if not url.startswith("https://"):
                return None
            self._team_url = url if url.endswith("/") else url + "/"
        return self._team_url
