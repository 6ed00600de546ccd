"""Who is who in Slack: a user's email (``users.info``, needs ``users:read.email``) and
user-group membership (``usergroups.users.list``, Tier 2: cached). Both cached with a TTL.

A decision (approve, deny) reads membership ``fresh``, from Slack and not the cache, so someone
just removed from the approvers' group cannot approve on a ten-minute-old copy. Read-only
commands, the bulk of the calls, keep the cache. Look-ups of the same user or group made
while one is already in flight wait for its answer (single flight) instead of each making a
call: a burst of decisions then shares reads that are still in progress, which are as fresh
as a call of its own would be (Slack answers them after the decision arrived), rather than
spending the method's Tier 2 allowance (about 20 calls a minute) one click at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
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
        self._flights: dict[str, asyncio.Future[Any]] = {}

    async def _once(self, key: str, fetch: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fetch`` unless the same look-up is already in flight; then share its answer
        (or its error)."""
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(fetch())
            self._flights[key] = flight
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        return await asyncio.shield(flight)

    async def user(self, user_id: str) -> SlackUser:
        """The user, from cache or ``users.info``; raises ``UnknownUser``."""
        hit = self._users.get(user_id)
        if hit and self._clock() - hit[0] < self._ttl:
            return hit[1]
        user: SlackUser = await self._once(f"user:{user_id}", lambda: self._fetch_user(user_id))
        return user

    async def _fetch_user(self, user_id: str) -> SlackUser:
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
        when a cached copy is still within its TTL (or joins a call already asking)."""
        hit = None if fresh else self._groups.get(group_id)
        if hit and self._clock() - hit[0] < self._ttl:
            return hit[1]
        members: frozenset[str] = await self._once(
            f"group:{group_id}", lambda: self._fetch_group(group_id)
        )
        return members

    async def _fetch_group(self, group_id: str) -> frozenset[str]:
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
