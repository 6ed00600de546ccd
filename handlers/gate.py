"""Checks every Slack request passes before a listener sees it (Bolt global middleware; the
signature is already verified by then).

* A replay (a signature already acted on, within Slack's 5-minute window) gets 200 and
  nothing else: Slack itself never resends, so only a copy would arrive twice.
* A modal submission whose ``private_metadata`` is not what we wrote (a JSON object with a
  channel id for the request form; a request id for the deny form) gets 400 and nothing else.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.services.api import BotApi
from handlers.ack import before_ack
from handlers.ids import CallbackId

log = logging.getLogger("dexbot.gate")
_CHANNEL = re.compile(r"[CDGUW][A-Z0-9]{2,20}")
_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def metadata_ok(callback_id: str, metadata: Any) -> bool:
    """Whether a submitted view's ``private_metadata`` has the shape we gave it."""
    if not isinstance(metadata, str):
        return False
    if callback_id == CallbackId.DENY_REASON:
        return _REQUEST_ID.fullmatch(metadata) is not None
    if callback_id == CallbackId.REQUEST:
        if not metadata:
            return True  # a form opened without a channel: the answer goes by DM
        try:
            meta = json.loads(metadata)
        except ValueError:
            return False
        if not isinstance(meta, dict):
            return False
        channel = meta.get("channel_id")
        return channel is None or (isinstance(channel, str) and bool(_CHANNEL.fullmatch(channel)))
    return True


def _header(req: AsyncBoltRequest, name: str) -> str:
    values = req.headers.get(name) or [""]
    return str(values[0] if isinstance(values, list | tuple) else values)


def register_gate(app: AsyncApp, api: BotApi) -> None:
    """Install the replay and metadata checks as global middleware."""

    @app.middleware
    async def gate(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        body: dict[str, Any] = req.body or {}
        if body.get("type") == "view_submission":
            view = body.get("view") or {}
            if not metadata_ok(str(view.get("callback_id") or ""), view.get("private_metadata")):
                log.info("refused a view submission with malformed private_metadata")
                return BoltResponse(status=400, body="")
        signature = _header(req, "x-slack-signature")
        timestamp = _header(req, "x-slack-request-timestamp")
        # HTTP mode only: Socket Mode payloads carry no signature.
        if signature and timestamp.isdigit():
            # Bounded (handlers/ack.py): when the check is slow the request goes on (every
            # action is idempotent anyway) and the signature is still recorded.
            sight = await before_ack(
                api.flows.first_sight(signature, int(timestamp)), "the replay check"
            )
            if sight.done() and not sight.result():
                log.info("ignored a replayed Slack request")
                return BoltResponse(status=200, body="")
        await next()
        return None
