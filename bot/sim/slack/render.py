"""Slack-shaped JSON for the fake's records: users, channels, messages, files, views.

Trimmed to the fields a bot reads, following Slack's method reference. Also the block
checks Slack applies when a message is posted (the limits are ``bot.blockkit``'s).
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import Any

from bot.blockkit import Surface, blocks_problems
from bot.sim.slack.model import (
    APP_ID,
    BOT_ID,
    TEAM_DOMAIN,
    Channel,
    Message,
    SlackError,
    SlackFile,
    User,
    View,
)
from bot.sim.slack.workspace import Workspace

TEAM_URL = f"https://{TEAM_DOMAIN}.slack.com/"


@dataclass(frozen=True)
class Context:
    """What a handler may use: the workspace and the server's own base URL."""

    ws: Workspace
    base_url: str


def user_json(ws: Workspace, u: User) -> dict[str, Any]:
    """A ``users.info`` user object; ``profile.email`` only with the users:read.email scope."""
    profile: dict[str, Any] = {
        "real_name": u.real_name,
        "real_name_normalized": u.real_name,
        "display_name": u.name,
        "display_name_normalized": u.name,
        "team": ws.team_id,
    }
    if u.email and "users:read.email" in ws.scopes:
        profile["email"] = u.email
    if u.is_bot:
        profile["bot_id"] = BOT_ID
    guest = u.email is None and not u.is_bot
    return {
        "id": u.id,
        "team_id": ws.team_id,
        "name": u.name,
        "deleted": u.deleted,
        "real_name": u.real_name,
        "tz": "Europe/London",
        "tz_offset": 0,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_primary_owner": False,
        "is_restricted": guest,
        "is_ultra_restricted": guest,
        "is_bot": u.is_bot,
        "is_app_user": False,
        "updated": 1_700_000_000,
    }


def channel_json(ws: Workspace, ch: Channel) -> dict[str, Any]:
    """A ``conversations.info`` channel object as the bot sees it."""
    if ch.is_im:
        return {"id": ch.id, "created": ch.created, "is_im": True, "is_org_shared": False,
                "user": ch.im_user, "is_user_deleted": False, "priority": 0}  # fmt: skip
    return {
        "id": ch.id,
        "name": ch.name,
        "name_normalized": ch.name,
        "is_channel": not ch.is_private,
        "is_group": ch.is_private,
        "is_im": False,
        "is_mpim": False,
        "is_private": ch.is_private,
        "is_archived": False,
        "is_general": False,
        "is_shared": False,
        "is_ext_shared": False,
        "is_org_shared": False,
        "is_member": ch.bot_member,
        "created": ch.created,
        "creator": "U0ANN0001",
        "context_team_id": ws.team_id,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
    }


def message_json(ctx: Context, m: Message, *, metadata: bool = True) -> dict[str, Any]:
    """A message object as ``chat.postMessage`` and ``conversations.replies`` return it."""
    out: dict[str, Any] = {"type": "message", "ts": m.ts, "user": m.user, "text": m.text}
    out["team"] = ctx.ws.team_id
    if m.bot_id:
        out.update(bot_id=m.bot_id, app_id=APP_ID)
    if m.blocks is not None:
        out["blocks"] = m.blocks
    if m.thread_ts:
        out["thread_ts"] = m.thread_ts
    if m.is_reply:
        parent = ctx.ws.message(m.channel, m.thread_ts or "")
        out["parent_user_id"] = parent.user if parent else m.user
        if m.reply_broadcast:
            out["subtype"] = "thread_broadcast"
    else:
        replies = ctx.ws.thread(m.channel, m.ts)[1:]
        if replies:
            users = sorted({r.user for r in replies})
            out.update(thread_ts=m.ts, reply_count=len(replies), reply_users=users,
                       reply_users_count=len(users), latest_reply=replies[-1].ts)  # fmt: skip
    if m.edited:
        out["edited"] = dict(m.edited)
    if m.files:
        out["files"] = [file_json(ctx, ctx.ws.files[f]) for f in m.files]
        out["upload"] = True
    if metadata and m.metadata is not None:
        out["metadata"] = m.metadata
    return out


def file_json(ctx: Context, f: SlackFile) -> dict[str, Any]:
    """A ``files.info`` file object, with ``shares`` split into public and private."""
    shares: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for s in f.shares:
        ch = ctx.ws.channels[s.channel]
        entry: dict[str, Any] = {
            "reply_users": [],
            "reply_users_count": 0,
            "reply_count": 0,
            "ts": s.ts,
            "channel_name": ch.name,
            "team_id": ctx.ws.team_id,
            "share_user_id": ctx.ws.bot_user_id,
            "source": "UNKNOWN",
        }
        if s.thread_ts:
            entry["thread_ts"] = s.thread_ts
        kind = "private" if ch.is_private else "public"
        shares.setdefault(kind, {}).setdefault(s.channel, []).append(entry)
    chans = {s.channel: ctx.ws.channels[s.channel] for s in f.shares}
    ext = f.filename.rsplit(".", 1)[-1].lower() if "." in f.filename else "binary"
    url = f"{ctx.base_url}files-pri/{ctx.ws.team_id}-{f.id}/{f.filename}"
    return {
        "id": f.id,
        "created": f.created,
        "timestamp": f.created,
        "name": f.filename,
        "title": f.title or f.filename,
        "mimetype": mimetypes.guess_type(f.filename)[0] or "application/octet-stream",
        "filetype": ext,
        "pretty_type": ext.upper(),
        "user": ctx.ws.bot_user_id,
        "user_team": ctx.ws.team_id,
        "editable": False,
        "size": f.size if f.size is not None else f.length,
        "mode": "hosted",
        "is_external": False,
        "is_public": any(not c.is_private for c in chans.values()),
        "public_url_shared": False,
        "url_private": url,
        "url_private_download": url + "?download=1",
        "permalink": f"{TEAM_URL}files/{ctx.ws.bot_user_id}/{f.id}/{f.filename}",
        "channels": sorted(c.id for c in chans.values() if not c.is_private),
        "groups": sorted(c.id for c in chans.values() if c.is_private and not c.is_im),
        "ims": sorted(c.id for c in chans.values() if c.is_im),
        "shares": shares,
        "comments_count": 0,
    }


def view_json(ws: Workspace, v: View) -> dict[str, Any]:
    """A view object as ``views.open`` returns it: defaults, then the caller's view, then ids."""
    base: dict[str, Any] = {
        "private_metadata": "",
        "callback_id": "",
        "external_id": "",
        "state": {"values": {}},
        "clear_on_close": False,
        "notify_on_close": False,
        "submit": None,
        "close": None,
    }
    ids = {"id": v.id, "team_id": ws.team_id, "hash": v.hash, "root_view_id": v.root_view_id,
           "previous_view_id": v.previous_view_id, "app_id": APP_ID, "bot_id": BOT_ID,
           "app_installed_team_id": ws.team_id}  # fmt: skip
    return {**base, **v.view, **ids}


def check_blocks(blocks: Any, surface: Surface = "message") -> list[Any] | None:
    """Blocks as Slack validates them (``bot.blockkit``'s limits); ``invalid_blocks`` if not."""
    if blocks is None:
        return None
    problems = blocks_problems(blocks, surface)
    if problems:
        raise SlackError("invalid_blocks", "; ".join(problems))
    return list(blocks)
