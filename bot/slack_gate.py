"""Requests at ``POST /slack/events`` that must never reach Bolt: answered 4xx, nothing done.

Bolt assumes Slack's shapes: a non-numeric ``X-Slack-Request-Timestamp``, a ``payload`` that
is not a JSON object or a ``block_actions`` without actions made it raise, answered 500.
``screen`` looks first and answers what Slack's own platform would:

* 401 when the timestamp is missing or not a number, or the signature does not verify;
* 400 when ``payload`` is not JSON, not an object, has no known ``type``, is a
  ``block_actions`` whose ``actions`` list is empty or names no ``action_id`` we issue, or a
  ``view_submission`` for a ``callback_id`` we never issued.

``view_closed`` is acknowledged (200) and nothing else: no modal asks for it, so there is
nothing to do. Everything else is left to Bolt, which verifies the signature again.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

#: Interactivity payload types Bolt handles for us.
KNOWN_TYPES = frozenset(
    ("block_actions", "view_submission", "view_closed", "block_suggestion", "shortcut")
)


@dataclass(frozen=True)
class Verdict:
    """The answer to send instead of dispatching: HTTP status and a short reason."""

    status: int
    reason: str


def screen(
    body: bytes,
    headers: Mapping[str, str],
    signing_secret: str,
    *,
    action_ids: Collection[str],
    callback_ids: Collection[str],
) -> Verdict | None:
    """None when the request may go to Bolt; otherwise the answer to give it instead."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    if not timestamp.strip().isdigit():
        return Verdict(401, "missing or malformed X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature", "")
    if not SignatureVerifier(signing_secret).is_valid(body, timestamp.strip(), signature):
        return Verdict(401, "invalid signature")
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return Verdict(400, "body is not UTF-8")
    if "payload" not in form:
        return None  # a slash command or an event: Bolt reads those safely
    try:
        payload = json.loads(form["payload"][0])
    except ValueError:
        return Verdict(400, "payload is not JSON")
    if not isinstance(payload, dict):
        return Verdict(400, "payload is not an object")
    return _check_payload(payload, action_ids, callback_ids)


def _check_payload(
    payload: dict[str, Any], action_ids: Collection[str], callback_ids: Collection[str]
) -> Verdict | None:
    kind = payload.get("type")
    if kind not in KNOWN_TYPES:
        return Verdict(400, "unknown payload type")
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions:
            return Verdict(400, "block_actions without actions")
        if not all(isinstance(a, dict) and a.get("action_id") in action_ids for a in actions):
            return Verdict(400, "unknown action_id")
    if kind in ("view_submission", "view_closed"):
        view = payload.get("view")
        if not isinstance(view, dict) or view.get("callback_id") not in callback_ids:
            return Verdict(400, "unknown callback_id")
        if kind == "view_closed":
            return Verdict(200, "")
    return None
