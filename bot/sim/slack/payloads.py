"""Signed, realistic requests from Slack to the bot: slash commands and interactions.

Scenario tests and ``dexbot shell`` build a body here, sign it with :func:`sign`, and POST
it to the bot's Bolt endpoint, exactly as Slack would. Every body is form-encoded
(``Content-Type: application/x-www-form-urlencoded``); interactions carry their JSON in the
``payload`` field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

from bot.sim import people
from bot.sim.slack.model import APP_ID, BOT_ID, TEAM_DOMAIN
from bot.sim.slack.workspace import DEMO_CHANNELS

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
#: The legacy verification token Slack still puts in payloads (Bolt ignores it).
VERIFICATION_TOKEN = "fakeVerificationToken000"
_CHANNEL_NAMES = {cid: name for cid, name, _, _ in DEMO_CHANNELS}


def sign(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature headers for ``body`` (timestamp defaults to now)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def signed_headers(
    signing_secret: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """:func:`sign` plus the form Content-Type: everything a POST to Bolt needs."""
    return {"Content-Type": FORM_CONTENT_TYPE, **sign(signing_secret, body, timestamp)}


def channel_name(channel_id: str) -> str:
    """The name Slack reports for a channel id (``directmessage`` for DMs)."""
    if channel_id.startswith("D"):
        return "directmessage"
    return _CHANNEL_NAMES.get(channel_id, "privategroup")


def user_name(user_id: str) -> str:
    """The handle of a demo user, or the id itself for strangers."""
    return next((p.handle for p in people.PEOPLE if p.user_id == user_id), user_id)


def _user(user_id: str, team_id: str) -> dict[str, str]:
    name = user_name(user_id)
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def slash_command_payload(
    text: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    trigger_id: str,
    team_id: str = people.TEAM_ID,
    command: str = "/dex",
) -> dict[str, str]:
    """Every field Slack sends for a slash command invocation, as strings: the form fields
    over HTTP, the ``payload`` of a ``slash_commands`` envelope in Socket Mode."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name(channel_id),
        "user_id": user_id,
        "user_name": user_name(user_id),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def slash_command_body(
    text: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    trigger_id: str,
    team_id: str = people.TEAM_ID,
    command: str = "/dex",
) -> bytes:
    """The form body of a slash command invocation, with every field Slack sends."""
    fields = slash_command_payload(
        text, user_id, channel_id, response_url, trigger_id, team_id, command
    )
    return urlencode(fields).encode()


def block_actions_payload(
    action_id: str,
    value: str | None,
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    trigger_id: str,
    *,
    container: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
    block_id: str = "actions",
    thread_ts: str | None = None,
    is_ephemeral: bool = False,
    action_ts: str | None = None,
    team_id: str = people.TEAM_ID,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click on a message.

    ``message`` is the clicked message as Slack echoes it (defaults to a bot message with no
    blocks; pass the real one, e.g. from ``message_json``, to let the handler read it).
    ``container`` overrides the default message container.
    """
    msg = {"type": "message", "user": people.BOT.user_id, "ts": message_ts, "bot_id": BOT_ID,
           "app_id": APP_ID, "text": "", "team": team_id, "blocks": []}  # fmt: skip
    if thread_ts:
        msg["thread_ts"] = thread_ts
    msg.update(message or {})
    box: dict[str, Any] = {"type": "message", "message_ts": message_ts,
                           "channel_id": channel_id, "is_ephemeral": is_ephemeral}  # fmt: skip
    if thread_ts:
        box["thread_ts"] = thread_ts
    action = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": action_id, "emoji": True},
        "type": "button",
        "action_ts": action_ts or f"{time.time():.6f}",
    }
    if value is not None:
        action["value"] = value
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container if container is not None else box,
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name(channel_id)},
        "message": msg,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def block_actions_body(
    action_id: str,
    value: str | None,
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    trigger_id: str,
    **kwargs: Any,
) -> bytes:
    """:func:`block_actions_payload`, form-encoded as ``payload=<json>`` like Slack sends it."""
    payload = block_actions_payload(
        action_id, value, user_id, channel_id, message_ts, response_url, trigger_id, **kwargs
    )
    return urlencode({"payload": json.dumps(payload)}).encode()


def view_submission_payload(
    callback_id: str,
    state_values: dict[str, Any],
    user_id: str,
    private_metadata: str = "",
    view_id: str = "V0FAKE00001",
    *,
    trigger_id: str = "1700000000.1.fake",
    blocks: list[Any] | None = None,
    title: str = "dexbot",
    view_hash: str = "1700000000.fakehash",
    team_id: str = people.TEAM_ID,
) -> dict[str, Any]:
    """A ``view_submission`` payload: the modal ``view_id`` submitted with ``state_values``.

    ``state_values`` is ``{block_id: {action_id: {"type": ..., "value"/"selected_option": ...}}}``.
    """
    view = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": blocks or [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": state_values},
        "hash": view_hash,
        "title": {"type": "plain_text", "text": title, "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": APP_ID,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": BOT_ID,
    }
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_submission_body(
    callback_id: str,
    state_values: dict[str, Any],
    user_id: str,
    private_metadata: str = "",
    view_id: str = "V0FAKE00001",
    **kwargs: Any,
) -> bytes:
    """:func:`view_submission_payload`, form-encoded as ``payload=<json>``."""
    payload = view_submission_payload(
        callback_id, state_values, user_id, private_metadata, view_id, **kwargs
    )
    return urlencode({"payload": json.dumps(payload)}).encode()
