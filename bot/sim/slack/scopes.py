"""Which bot scopes each Web API method needs, and the scopes the app has: its manifest's.

The fake answers a method outside the app's scopes as Slack does::

    {"ok": false, "error": "missing_scope", "needed": "im:history", "provided": "chat:write,…"}

The app's scopes are read from ``app_manifest.yml`` (``oauth_config.scopes.bot``), so a call
the manifest does not allow fails in the tests exactly as it would in production.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from bot.sim.slack.model import Channel

#: The manifest of a source checkout (the fake is a development tool).
MANIFEST = Path(__file__).resolve().parents[3] / "app_manifest.yml"

#: Method -> the scope it needs; methods absent here need none (auth.test, views.*, …).
FIXED: dict[str, str] = {
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "usergroups.users.list": "usergroups:read",
    "conversations.join": "channels:join",
    "conversations.open": "im:write",
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.info": "files:read",
}
#: Methods whose scope depends on the conversation's type: method -> scope suffix.
BY_CHANNEL: dict[str, str] = {
    "conversations.info": "read",
    "conversations.members": "read",
    "conversations.history": "history",
    "conversations.replies": "history",
}


def channel_scope(ch: Channel, suffix: str) -> str:
    """``channels:``, ``groups:`` or ``im:`` plus ``suffix``, by the conversation's type."""
    prefix = "im" if ch.is_im else "groups" if ch.is_private else "channels"
    return f"{prefix}:{suffix}"


def needed_scope(method: str, args: dict[str, Any], channel: Channel | None) -> str | None:
    """The scope this call needs, or None. ``channel`` is the conversation it names, if any."""
    if method in FIXED:
        return FIXED[method]
    suffix = BY_CHANNEL.get(method)
    if suffix is None or channel is None:
        return None
    return channel_scope(channel, suffix)


@functools.cache
def manifest_scopes(path: Path = MANIFEST) -> frozenset[str]:
    """The bot scopes declared in the app manifest; FileNotFoundError when it is absent."""
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])
