"""Who is who in Slack: a user's email (``users.info``, needs ``users:read.email``) and
user-group membership (``usergroups.users.list``, Tier 2: cached). Both cached with a TTL.

A decision (approve, deny) reads membership ``fresh``, from Slack and not the cache, so someone
just removed from the approvers' group cannot approve on a ten-minute-old copy. Decisions are
rare (a few a day), well inside the method's Tier 2 limit; read-only commands, the bulk of the
calls, keep the cache."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.model import SlackUser, UnknownUser


class Directory:
    """Cached lookups of users and user groups."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ttl_seconds: float = 600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._users: dict[str, tuple[float, SlackUser]] = {}
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    async def user(self, user_id: str) -> SlackUser:
        """The user, from cache or ``users.info``; raises ``UnknownUser``."""
        hit = self._users.get(user_id)
        if hit and self._clock() - hit[0] < self._ttl:
            return hit[1]
        try:
            resp = await self._client.users_info(user=user_id)
        except SlackApiError as exc:
            if exc.response.get("error") in ("user_not_found", "users_not_found"):
                raise UnknownUser(user_id) from None
            raise
        data: dict[str, Any] = resp["user"]
        profile = data.get("profile") or {}
        user = SlackUser(
            user_id=user_id,
            name=profile.get("display_name") or data.get("real_name") or data.get("name") or "",
            email=(profile.get("email") or None),
            is_bot=bool(data.get("is_bot")),
            deleted=bool(data.get("deleted")),
        )
        self._users[user_id] = (self._clock(), user)
        return user

    async def members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]:
        """User IDs in a user group (empty for an unknown group); ``fresh`` asks Slack even
        when a cached copy is still within its TTL (and refreshes the cache)."""
        hit = None if fresh else self._groups.get(group_id)
        if hit and self._clock() - hit[0] < self._ttl:
            return hit[1]
        try:
            resp = await self._client.usergroups_users_list(usergroup=group_id)
            members = frozenset(resp.get("users") or [])
        except SlackApiError as exc:
            if exc.response.get("error") != "no_such_subteam":
                raise
            members = frozenset()
        self._groups[group_id] = (self._clock(), members)
        return members

    async def is_listed(
        self, user_id: str, principals: Iterable[str], *, fresh: bool = False
    ) -> bool:
        """Whether ``user_id`` is one of ``principals`` or in one of the listed groups
        (``fresh``: membership read from Slack, for a decision)."""
        listed = list(principals)
        if user_id in listed:
            return True
        for principal in listed:
            if principal.startswith("S") and user_id in await self.members(principal, fresh=fresh):
                return True
        return False
