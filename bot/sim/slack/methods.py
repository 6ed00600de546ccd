"""The Web API methods the fake answers: arguments in, Slack-shaped JSON out.

Each handler takes the parsed arguments of one call and returns the body of a successful
answer (without ``ok``); refusals raise :class:`~bot.sim.slack.model.SlackError`. The shapes
follow Slack's method reference, trimmed to the fields a bot reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.sim.slack.model import BOT_ID, TEAM_NAME, SlackError, User
from bot.sim.slack.render import (
    TEAM_URL,
    Context,
    channel_json,
    check_blocks,
    file_json,
    message_json,
    user_json,
    view_json,
)
from bot.sim.slack.workspace import Workspace

MAX_MESSAGE_TEXT = 40_000


Handler = Callable[[Context, dict[str, Any]], dict[str, Any]]
METHODS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    """Register a handler for the Web API method ``name``."""

    def register(fn: Handler) -> Handler:
        METHODS[name] = fn
        return fn

    return register


def flag(value: Any) -> bool:
    """A boolean argument as slack_sdk sends it (``True``, ``"1"``, ``"true"``)."""
    return value in (True, 1, "1", "true", "True")


def _req(args: dict[str, Any], name: str) -> Any:
    value = args.get(name)
    if value in (None, ""):
        raise SlackError("invalid_arguments", f"missing required field: {name}")
    return value


def _message_args(args: dict[str, Any]) -> dict[str, Any]:
    text = args.get("text")
    blocks = check_blocks(args.get("blocks"))
    if text is None and blocks is None and not args.get("attachments"):
        raise SlackError("no_text")
    if text is not None and len(str(text)) > MAX_MESSAGE_TEXT:
        raise SlackError("msg_too_long")
    metadata = args.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    return {"text": None if text is None else str(text), "blocks": blocks, "metadata": metadata}


def _user(ws: Workspace, user_id: Any) -> User:
    u = ws.users.get(str(user_id))
    if u is None:
        raise SlackError("user_not_found")
    return u


# -- methods -------------------------------------------------------------------------------
@method("auth.test")
def auth_test(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Who the token belongs to: the bot user."""
    bot = ctx.ws.users[ctx.ws.bot_user_id]
    return {"url": TEAM_URL, "team": TEAM_NAME, "user": bot.name, "team_id": ctx.ws.team_id,
            "user_id": bot.id, "bot_id": BOT_ID, "is_enterprise_install": False}  # fmt: skip


@method("users.info")
def users_info(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """One user, by id."""
    return {"user": user_json(ctx.ws, _user(ctx.ws, _req(args, "user")))}


@method("users.lookupByEmail")
def users_lookup_by_email(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """One user, by email."""
    email = str(_req(args, "email")).lower()
    found = next((u for u in ctx.ws.users.values() if (u.email or "").lower() == email), None)
    if found is None:
        raise SlackError("users_not_found")
    return {"user": user_json(ctx.ws, found)}


@method("usergroups.users.list")
def usergroups_users_list(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """The members of a user group."""
    group = ctx.ws.groups.get(str(_req(args, "usergroup")))
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group)}


@method("conversations.info")
def conversations_info(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A channel the bot can see."""
    return {"channel": channel_json(ctx.ws, ctx.ws.visible_channel(str(_req(args, "channel"))))}


@method("conversations.join")
def conversations_join(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """The bot joins a public channel."""
    cid = str(_req(args, "channel"))
    already = cid in ctx.ws.channels and ctx.ws.channels[cid].bot_member
    out: dict[str, Any] = {"channel": channel_json(ctx.ws, ctx.ws.join(cid))}
    if already:
        out.update(warning="already_in_channel",
                   response_metadata={"warnings": ["already_in_channel"]})  # fmt: skip
    return out


@method("conversations.members")
def conversations_members(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Who is in a channel."""
    ch = ctx.ws.visible_channel(str(_req(args, "channel")))
    return {"members": sorted(ch.members), "response_metadata": {"next_cursor": ""}}


@method("conversations.open")
def conversations_open(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """The DM with one user (group DMs are not emulated: ``invalid_arguments``)."""
    users = [u for u in str(args.get("users") or "").split(",") if u]
    if args.get("channel"):
        ch = ctx.ws.visible_channel(str(args["channel"]))
    elif len(users) == 1:
        ch = ctx.ws.add_im(_user(ctx.ws, users[0]).id)
    else:
        raise SlackError("invalid_arguments", "the fake opens DMs with exactly one user")
    full = flag(args.get("return_im"))
    return {"channel": channel_json(ctx.ws, ch) if full else {"id": ch.id}}


@method("conversations.replies")
def conversations_replies(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A thread: the parent then its replies (metadata only with include_all_metadata)."""
    ch = ctx.ws.visible_channel(str(_req(args, "channel")))
    if not ch.bot_member:
        raise SlackError("not_in_channel")
    msgs = ctx.ws.thread(ch.id, str(_req(args, "ts")))
    if not msgs:
        raise SlackError("thread_not_found")
    with_meta = flag(args.get("include_all_metadata"))
    return {"messages": [message_json(ctx, m, metadata=with_meta) for m in msgs],
            "has_more": False, "response_metadata": {"next_cursor": ""}}  # fmt: skip


@method("conversations.history")
def conversations_history(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Top-level messages of a channel, newest first."""
    ch = ctx.ws.writable_channel(str(_req(args, "channel")))
    with_meta = flag(args.get("include_all_metadata"))
    msgs = reversed(ctx.ws.channel_messages(ch.id))
    return {"messages": [message_json(ctx, m, metadata=with_meta) for m in msgs],
            "has_more": False, "response_metadata": {"next_cursor": ""}}  # fmt: skip


@method("chat.postMessage")
def chat_post_message(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Post as the bot, in a channel or a thread."""
    msg = ctx.ws.post(
        str(_req(args, "channel")),
        **_message_args(args),
        thread_ts=args.get("thread_ts") or None,
        reply_broadcast=flag(args.get("reply_broadcast")),
        user_ok=True,
    )
    return {"channel": msg.channel, "ts": msg.ts, "message": message_json(ctx, msg)}


@method("chat.update")
def chat_update(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Edit one of the bot's messages."""
    fields = _message_args(args)
    msg = ctx.ws.update(str(_req(args, "channel")), str(_req(args, "ts")), **fields)
    return {"channel": msg.channel, "ts": msg.ts, "text": msg.text,
            "message": message_json(ctx, msg)}  # fmt: skip


@method("chat.delete")
def chat_delete(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Delete one of the bot's messages."""
    msg = ctx.ws.delete(str(_req(args, "channel")), str(_req(args, "ts")))
    return {"channel": msg.channel, "ts": msg.ts}


@method("chat.postEphemeral")
def chat_post_ephemeral(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Show a message to one member of a channel."""
    fields = _message_args(args)
    eph = ctx.ws.post_ephemeral(
        str(_req(args, "channel")),
        str(_req(args, "user")),
        text=fields["text"] or "",
        blocks=fields["blocks"],
        thread_ts=args.get("thread_ts") or None,
    )
    return {"message_ts": eph.message_ts}


@method("chat.getPermalink")
def chat_get_permalink(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A link to a message (with ``thread_ts`` for replies)."""
    ch = ctx.ws.visible_channel(str(_req(args, "channel")))
    msg = ctx.ws.message(ch.id, str(_req(args, "message_ts")))
    if msg is None:
        raise SlackError("message_not_found")
    link = f"{TEAM_URL}archives/{ch.id}/p{msg.ts.replace('.', '')}"
    if msg.is_reply:
        link += f"?thread_ts={msg.thread_ts}&cid={ch.id}"
    return {"channel": ch.id, "permalink": link}


@method("views.open")
def views_open(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Open a modal with a trigger_id (usable once)."""
    return {"view": view_json(ctx.ws, ctx.ws.open_view(args.get("trigger_id"), args.get("view")))}


@method("views.push")
def views_push(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Push a modal onto the stack."""
    return {"view": view_json(ctx.ws, ctx.ws.push_view(args.get("trigger_id"), args.get("view")))}


@method("views.update")
def views_update(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Replace an open modal's content."""
    if not args.get("view_id") and not args.get("external_id"):
        raise SlackError("invalid_arguments", "view_id or external_id is required")
    view = ctx.ws.update_view(
        args.get("view"),
        view_id=args.get("view_id"),
        external_id=args.get("external_id"),
        hash=args.get("hash"),
    )
    return {"view": view_json(ctx.ws, view)}


@method("files.getUploadURLExternal")
def files_get_upload_url_external(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Reserve a file id and a single-use upload URL on this server."""
    f = ctx.ws.new_upload(args.get("filename"), args.get("length"))
    return {"upload_url": f"{ctx.base_url}upload/{f.id}?sig={f.upload_sig}", "file_id": f.id}


@method("files.completeUploadExternal")
def files_complete_upload_external(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Finish uploads and share them (one message, in the thread when ``thread_ts`` is set)."""
    done = ctx.ws.complete_upload(
        args.get("files"),
        channel_id=args.get("channel_id") or args.get("channels") or None,
        thread_ts=args.get("thread_ts") or None,
        initial_comment=args.get("initial_comment"),
    )
    # Slack shares asynchronously: the answer does not yet say where; files.info does.
    hidden = ("shares", "channels", "groups", "ims")
    files = [{k: v for k, v in file_json(ctx, f).items() if k not in hidden} for f in done]
    return {"files": files}


@method("files.info")
def files_info(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A file with its ``shares``: where it was completed into."""
    f = ctx.ws.files.get(str(_req(args, "file")))
    if f is None:
        raise SlackError("file_not_found")
    return {"file": file_json(ctx, f), "comments": [], "response_metadata": {"next_cursor": ""}}
