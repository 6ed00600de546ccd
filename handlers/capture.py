"""Capture requests from ``/dex``: open the form when something is missing, otherwise make the
request (the service stores it and posts its parent and card through the outbox) and answer."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.dex.models import EligibleDevice
from bot.domain import grammar as g
from bot.domain.errors import NeedsDeviceChoice
from bot.services.api import BotApi
from bot.services.flows import Submitted
from handlers.blocks import Rendered
from handlers.blocks.capture import render_request_ack
from handlers.blocks.modal import request_modal
from handlers.blocks.notes import requester_text
from handlers.blocks.problems import describe_problem
from handlers.errors import plain

log = logging.getLogger("dexbot.capture")


def limits_note(api: BotApi) -> str:
    """The capture limits, for the modal's hints."""
    lim = api.limits
    return (
        f"Up to {lim.pcap_max_minutes} min (default {lim.pcap_default_minutes}), "
        f"{lim.max_size_mb} MB, {lim.max_snaplen}-byte packets."
    )


async def open_request_modal(
    api: BotApi,
    client: AsyncWebClient,
    trigger_id: str,
    channel_id: str,
    draft: g.CaptureDraft | None,
    devices: list[EligibleDevice] | None,
) -> str:
    """Open the request modal (``trigger_id`` is valid 3 s, once: call this early); its id."""
    meta = json.dumps({"channel_id": channel_id})
    view = request_modal(
        draft,
        devices=devices,
        limits_note=limits_note(api),
        private_metadata=meta,
        require_reason=api.limits.require_reason,
        presets=api.flows.presets(),
    )
    resp = await client.views_open(trigger_id=trigger_id, view=view)
    return str((resp.get("view") or {}).get("id") or "")


async def fill_devices(
    api: BotApi,
    client: AsyncWebClient,
    view_id: str,
    channel_id: str,
    draft: g.CaptureDraft | None,
) -> None:
    """After the modal is open, look up the person's devices and show them in it."""
    if not view_id or draft is None or not isinstance(draft.target, g.UserTarget):
        return  # no person yet: the form asks for one
    # Shown even when empty: the form then says why and asks for someone else.
    devices = await api.queries.devices_for_draft(draft)
    meta = json.dumps({"channel_id": channel_id})
    await client.views_update(
        view_id=view_id,
        view=request_modal(
            draft,
            devices=devices,
            limits_note=limits_note(api),
            private_metadata=meta,
            require_reason=api.limits.require_reason,
            presets=api.flows.presets(),
        ),
    )


def submitted_answer(done: Submitted) -> Rendered:
    """What the requester reads once the request is stored (and, mostly, posted)."""
    if done.told is not None:
        return plain(requester_text(done.told, done.facts, done.request))
    ack = render_request_ack(done.request, permalink=done.permalink)
    if done.notes:
        note = " ".join(done.notes)
        return Rendered(text=f"{ack.text} {note}", blocks=[*ack.blocks, _context(note)])
    return ack


async def request_from_slash(
    api: BotApi,
    ask: g.CaptureAsk,
    body: dict[str, Any],
    client: AsyncWebClient,
    *,
    preset: str | None = None,
) -> Rendered:
    """Make a request typed as a slash command (``preset``: the one it named); the answer."""
    try:
        done = await api.flows.request(
            ask,
            team_id=body["team_id"],
            channel_id=body["channel_id"],
            requester_id=body["user_id"],
            preset=preset,
        )
    except NeedsDeviceChoice as choice:
        try:
            await open_request_modal(
                api, client, body["trigger_id"], body["channel_id"], choice.draft, choice.devices
            )
            return Rendered(text="Pick the device in the form I opened.", blocks=[])
        except SlackApiError:  # trigger expired: say how to name it instead
            return plain(describe_problem(choice))
    return submitted_answer(done)


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
