"""The fake Slack's App Home: ``views.publish`` and the ``app_home_opened`` event, delivered
as Slack does in either mode.

- HTTP: an ``event_callback`` JSON body POSTed, signed, to the bot's events URL; Slack
  retries an event it saw no timely 200 for, up to three times, with ``X-Slack-Retry-Num``
  and ``X-Slack-Retry-Reason`` (:func:`post_event` sends any attempt, so a test can replay).
- Socket Mode: the same body as the payload of an ``events_api`` envelope.

A published Home is kept per user (``workspace.homes``) with every version, and checked like
a modal: a typed view (``home``) of at most 100 blocks.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.sim import people
from bot.sim.slack.methods import method
from bot.sim.slack.model import APP_ID, TEAM_DOMAIN, SlackError, View
from bot.sim.slack.payloads import sign
from bot.sim.slack.render import Context, view_json
from bot.sim.slack.workspace import Workspace

#: Slack's reasons for a retry (``X-Slack-Retry-Reason``).
RETRY_REASONS = ("http_timeout", "too_many_redirects", "connection_failed", "http_error")


def publish_home(ws: Workspace, user_id: str, view: Any) -> View:
    """``views.publish``: replace ``user_id``'s Home with ``view`` (a ``home`` view)."""
    body = ws._check_view(view)
    if body["type"] != "home":
        raise SlackError("invalid_arguments", "views.publish takes a view of type home")
    if user_id not in ws.users:
        raise SlackError("user_not_found")
    homes: dict[str, View] = ws.homes
    found = homes.get(user_id)
    if found is None:
        vid = ws.next_id("V")
        found = View(vid, body, user_id, None, vid, None, secrets.token_hex(8))
        homes[user_id] = found
    else:
        found.view, found.hash = body, secrets.token_hex(8)
    found.versions.append(body)
    ws.emit("home_published", found)
    return found


@method("views.publish")
def views_publish(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Publish a user's App Home."""
    user = args.get("user_id")
    if not user:
        raise SlackError("invalid_arguments", "missing required field: user_id")
    return {"view": view_json(ctx.ws, publish_home(ctx.ws, str(user), args.get("view")))}


def app_home_opened_body(
    ws: Workspace,
    user_id: str,
    *,
    tab: str = "home",
    event_id: str | None = None,
    event_time: int | None = None,
) -> dict[str, Any]:
    """The ``event_callback`` Slack sends when ``user_id`` opens the bot's Home (or Messages)
    tab; the last published Home is echoed in ``view`` as Slack does."""
    now = int(time.time()) if event_time is None else event_time
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": ws.add_im(user_id).id,
        "tab": tab,
        "event_ts": f"{now}.{secrets.randbelow(10**6):06d}",
    }
    home = ws.homes.get(user_id)
    if home is not None:
        event["view"] = view_json(ws, home)
    return {
        "token": "fakeVerificationToken000",
        "team_id": ws.team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": now,
        "authorizations": [{"team_id": ws.team_id, "user_id": people.BOT.user_id, "is_bot": True}],
        "is_ext_shared_channel": False,
    }


async def post_event(
    http: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    signing_secret: str,
    *,
    retry_num: int = 0,
    retry_reason: str = "http_timeout",
) -> httpx.Response:
    """POST one delivery of an Events API body, signed; ``retry_num`` > 0 marks a retry."""
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **sign(signing_secret, raw)}
    if retry_num:
        headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason})
    return await http.post(url, content=raw, headers=headers)


def url_verification_body(challenge: str | None = None) -> dict[str, Any]:
    """What Slack sends once when an events Request URL is entered in the app's settings."""
    return {
        "token": "fakeVerificationToken000",
        "challenge": challenge or secrets.token_urlsafe(24),
        "type": "url_verification",
    }


def home_click_body(
    ws: Workspace, user_id: str, action_id: str, value: str, trigger_id: str
) -> bytes:
    """The form body of a button click in ``user_id``'s published Home: a ``block_actions``
    whose container is the view (no channel, no message, no response_url)."""
    home = ws.homes.get(user_id)
    if home is None:
        raise AssertionError(f"fake Slack: {user_id} has no published Home to click in")
    block_id = next(
        (
            b.get("block_id", "")
            for b in home.view.get("blocks") or []
            for el in b.get("elements") or []
            if el.get("action_id") == action_id and el.get("value") == value
        ),
        None,
    )
    if block_id is None:
        raise AssertionError(f"fake Slack: no {action_id} button for {value} in the Home")
    name = next((p.handle for p in people.PEOPLE if p.user_id == user_id), user_id)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": name, "name": name, "team_id": ws.team_id},
        "api_app_id": APP_ID,
        "token": "fakeVerificationToken000",
        "container": {"type": "view", "view_id": home.id},
        "trigger_id": trigger_id,
        "team": {"id": ws.team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view_json(ws, home),
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
        "state": {"values": {}},
    }
    return urlencode({"payload": json.dumps(payload)}).encode()
