"""Capture requests from ``/dex``: open the modal when something is missing, otherwise
pre-flight, store, and post the request's parent message and approval card."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import Services
from bot.dex.models import EligibleDevice
from bot.domain import grammar as g
from bot.domain.lookup import user_devices
from bot.domain.model import RequestState
from bot.services.capture import NeedsDeviceChoice, Prepared
from handlers.blocks import Rendered
from handlers.blocks.capture import render_card, render_parent, render_request_ack
from handlers.blocks.common import ephemeral_error
from handlers.blocks.modal import request_modal

log = logging.getLogger("dexbot.capture")
APPROVALS_UNREACHABLE = (
    "I can't post the approval card in the approvals channel (I'm not in it), so this "
    "request was cancelled. Ask an admin to invite me there, then ask again."
)

NOT_IN_CHANNEL = (
    "I'm not in this channel, so I can't start a thread here. "
    "Invite me with `/invite @dexbot` and ask again."
)


def limits_note(svc: Services) -> str:
    """The capture limits, for the modal's hints."""
    lim = svc.limits
    return (
        f"Up to {lim.pcap_max_minutes} min (default {lim.pcap_default_minutes}), "
        f"{lim.max_size_mb} MB, {lim.max_snaplen}-byte packets."
    )


async def open_request_modal(
    svc: Services,
    client: AsyncWebClient,
    trigger_id: str,
    channel_id: str,
    draft: g.CaptureDraft | None,
    devices: list[EligibleDevice] | None,
) -> str:
    """Open the request modal (``trigger_id`` is valid 3 s, once: call this early); its id."""
    meta = json.dumps({"channel_id": channel_id})
    view = request_modal(
        draft, devices=devices, limits_note=limits_note(svc), private_metadata=meta
    )
    resp = await client.views_open(trigger_id=trigger_id, view=view)
    return str((resp.get("view") or {}).get("id") or "")


async def fill_devices(
    svc: Services,
    client: AsyncWebClient,
    view_id: str,
    channel_id: str,
    draft: g.CaptureDraft | None,
) -> None:
    """After the modal is open, look up the person's devices and show them in it."""
    devices = await devices_for_draft(svc, draft)
    if not devices or not view_id:
        return
    meta = json.dumps({"channel_id": channel_id})
    await client.views_update(
        view_id=view_id,
        view=request_modal(
            draft, devices=devices, limits_note=limits_note(svc), private_metadata=meta
        ),
    )


async def devices_for_draft(svc: Services, draft: g.CaptureDraft | None) -> list[EligibleDevice]:
    """The target's devices when the draft names a person, for the modal's device select."""
    if draft is None or not isinstance(draft.target, g.UserTarget):
        return []
    try:
        return (await user_devices(svc.dex, svc.directory, draft.target.user_id)).devices
    except Exception:  # the modal still opens; the user can pick someone else
        log.info("could not list devices for the modal", exc_info=True)
        return []


async def request_from_slash(
    svc: Services, cmd: g.CaptureAsk, body: dict[str, Any], client: AsyncWebClient
) -> Rendered:
    """Pre-flight, store and post a request typed as a slash command; the requester's answer."""
    try:
        prepared = await svc.captures.prepare(cmd)
    except NeedsDeviceChoice as choice:
        try:
            await open_request_modal(
                svc, client, body["trigger_id"], body["channel_id"], choice.draft, choice.devices
            )
            return Rendered(text="Pick the device in the form I opened.", blocks=[])
        except SlackApiError:
            return ephemeral_error(str(choice))  # trigger expired: say how to name it instead
    return await submit(svc, prepared, body["team_id"], body["channel_id"], body["user_id"], client)


async def submit(
    svc: Services,
    prepared: Prepared,
    team_id: str,
    channel_id: str,
    requester_id: str,
    client: AsyncWebClient,
) -> Rendered:
    """Store the request and post its parent message and approval card."""
    req = await svc.captures.create(
        prepared, team_id=team_id, channel_id=channel_id, requester_id=requester_id
    )
    now = svc.clock()
    approval_channel = svc.settings.dex_approval_channel
    parent = render_parent(req, now=now, approval_channel=approval_channel)
    parent_ts = await _post_joining(client, channel_id, parent)
    if parent_ts is None:
        await svc.requests.transition(
            req.id,
            [RequestState.PENDING_APPROVAL],
            RequestState.CANCELLED,
            actor="dexbot",
            action="cancelled",
            now=svc.clock(),
            release_quota=True,
            why="bot not in channel",
        )
        return ephemeral_error(NOT_IN_CHANNEL)
    await svc.requests.set_messages(req.id, parent_channel=channel_id, parent_ts=parent_ts)
    card_channel = approval_channel or channel_id
    card = render_card(req, prepared.forecast, now=now)
    card_ts = await _post_joining(client, card_channel, card)
    if card_ts is None:
        # Nobody could approve it: close it rather than block identical requests for the TTL.
        await svc.requests.transition(
            req.id,
            [RequestState.PENDING_APPROVAL],
            RequestState.CANCELLED,
            actor="dexbot",
            action="cancelled",
            now=svc.clock(),
            why="approval channel unreachable",
        )
        await client.chat_update(channel=channel_id, ts=parent_ts, text=APPROVALS_UNREACHABLE)
        return ephemeral_error(APPROVALS_UNREACHABLE)
    await svc.requests.set_messages(req.id, card_channel=card_channel, card_ts=card_ts)
    stored = await svc.requests.get(req.id)
    assert stored is not None
    ack = render_request_ack(stored, permalink=await _permalink(client, channel_id, parent_ts))
    if prepared.notes:
        note = " ".join(prepared.notes)
        return Rendered(text=f"{ack.text} {note}", blocks=[*ack.blocks, _context(note)])
    return ack


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


async def _post_joining(client: AsyncWebClient, channel: str, r: Rendered) -> str | None:
    """Post in ``channel``, joining it first if it is public and we are not in it."""
    for attempt in range(2):
        try:
            resp = await client.chat_postMessage(channel=channel, text=r.text, blocks=r.blocks)
            return str(resp["ts"])
        except SlackApiError as exc:
            if exc.response.get("error") != "not_in_channel" or attempt:
                if exc.response.get("error") in ("not_in_channel", "channel_not_found"):
                    return None
                raise
            try:
                await client.conversations_join(channel=channel)
            except SlackApiError:
                return None  # private channel (or no rights): the requester must invite us
    return None


async def _permalink(client: AsyncWebClient, channel: str, ts: str) -> str | None:
    try:
        return str((await client.chat_getPermalink(channel=channel, message_ts=ts))["permalink"])
    except SlackApiError:
        return None
