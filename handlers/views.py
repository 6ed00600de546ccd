"""Modal submissions: the request form (field errors shown inline) and the deny reason."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.blockkit import input_block_ids
from bot.domain import durations
from bot.domain import grammar as g
from bot.domain.durations import INVISIBLE
from bot.domain.errors import DeviceOffline, Problem
from bot.domain.grammar import MAX_TEXT
from bot.domain.model import CommandType, RequestState
from bot.domain.rules import Preset
from bot.services.api import BotApi
from handlers.blocks.common import Rendered
from handlers.blocks.form_read import (
    modal_errors,
    no_devices_error,
    offline_error,
    read_submission,
)
from handlers.blocks.modal import PRESET_PREFIX
from handlers.blocks.parse_text import describe_parse_error, describe_read_error
from handlers.blocks.problems import describe_problem
from handlers.capture import submitted_answer
from handlers.errors import guarded
from handlers.ids import BlockId, CallbackId

log = logging.getLogger("dexbot.views")
#: Pre-flight runs before the modal is acknowledged so its problems show inline; Slack closes
#: the modal with an error after 3 s, so past this budget we acknowledge and answer by DM.
PREFLIGHT_BUDGET_SECONDS = 2.0


#: What a form's selects can hold: a Slack user id, a device id (``id|...``) or "all".
_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
_DEVICE = re.compile(r"__all__|[A-Za-z0-9-]{1,64}(\|[A-Za-z0-9-]{1,64})?")
_INTERFACE_VALUES = ("default", "tunnel")


def _text(value: Any) -> str:
    """A text field's value; anything else (a forged list, a number) reads as empty."""
    return (value if isinstance(value, str) else "").translate(INVISIBLE)[:MAX_TEXT]


def capture_from_form(
    values: dict[str, Any], limits: g.Limits, presets: Mapping[str, Preset] | None = None
) -> tuple[g.CaptureAsk | None, dict[str, str]]:
    """A capture request from the modal's fields, or the errors keyed by block id.

    A preset picked as "What to run" fills the type, its arguments and (when none is typed)
    the reason; see ``preset_of`` for which one."""
    errors: dict[str, str] = {}
    user = values.get(BlockId.USER.value)
    kind_raw = values.get(BlockId.TYPE.value)
    device = values.get(BlockId.DEVICE.value)
    reason: str | None = None
    try:
        reason = g.reason_text(_text(values.get(BlockId.REASON.value)))
    except g.ParseError as exc:
        errors[BlockId.REASON.value] = describe_parse_error(exc)
    if not isinstance(user, str) or not _USER.fullmatch(user):
        user = None  # a forged value is treated as no pick: the same answer
    preset = preset_of(values, presets or {})
    if preset is not None:
        return _from_preset(preset, user, device, reason, limits)
    if not user:
        errors[BlockId.USER.value] = "Pick the person whose device should run it."
    try:
        kind = CommandType(kind_raw) if kind_raw else None
    except ValueError:
        kind = None
    if kind is None:
        errors[BlockId.TYPE.value] = "Pick what to run."
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        device = None
    if user and not device:  # the device select only exists once a person is picked
        errors[BlockId.DEVICE.value] = "Pick a device."
    if limits.require_reason and not reason and BlockId.REASON.value not in errors:
        errors[BlockId.REASON.value] = "Say why you need this; the approver will read it."
    minutes = size = snaplen = None
    notes: list[str] = []
    if kind is CommandType.PCAP:
        raw = _text(values.get(BlockId.DURATION.value)).strip()
        try:
            minutes = durations.parse_minutes(raw) if raw else limits.pcap_default_minutes
            if minutes > limits.pcap_max_minutes:
                minutes = limits.pcap_max_minutes
                notes.append(f"Capture length clamped to {minutes} min.")
        except durations.ReadError as exc:
            errors[BlockId.DURATION.value] = describe_read_error(exc)
        raw = _text(values.get(BlockId.SIZE.value)).strip()
        try:
            size = durations.parse_size_mb(raw, limits.max_size_mb) if raw else None
        except durations.ReadError as exc:
            errors[BlockId.SIZE.value] = describe_read_error(exc).replace("--size", "Size")
        raw = _text(values.get(BlockId.SNAPLEN.value)).strip()
        try:
            snaplen = durations.parse_snaplen(raw, limits.max_snaplen) if raw else None
        except durations.ReadError as exc:
            errors[BlockId.SNAPLEN.value] = describe_read_error(exc).replace(
                "--snaplen", "Packet size"
            )
    if errors or kind is None or not user or not device:
        return None, errors
    all_devices = device == "__all__"
    picked = values.get(BlockId.INTERFACES.value) or ()
    interfaces = tuple(i for i in picked if i in _INTERFACE_VALUES) or None
    routes = values.get(BlockId.ALL_ROUTES.value)
    return g.CaptureAsk(
        command_type=kind,
        target=g.UserTarget(str(user)),
        device=None if all_devices else str(device).split("|")[0],
        all_devices=all_devices,
        time_limit_min=minutes,
        max_file_size_mb=size,
        packet_size_bytes=snaplen,
        test_all_routes=(bool(routes) if kind is CommandType.WARP_DIAG else None),
        interfaces=interfaces if kind is CommandType.SPEED_TEST else None,
        reason=reason,
        notes=tuple(notes),
        anyway=bool(values.get(BlockId.ANYWAY.value)),
    ), {}


def preset_of(values: dict[str, Any], presets: Mapping[str, Preset]) -> Preset | None:
    """The preset picked in the form, if one was."""
    raw = str(values.get(BlockId.TYPE.value) or "")
    return presets.get(raw.removeprefix(PRESET_PREFIX)) if raw.startswith(PRESET_PREFIX) else None


def _from_preset(
    preset: Preset, user: Any, device: Any, reason: str | None, limits: g.Limits
) -> tuple[g.CaptureAsk | None, dict[str, str]]:
    errors: dict[str, str] = {}
    if not user:
        errors[BlockId.USER.value] = "Pick the person whose device should run it."
    if user and not device:
        errors[BlockId.DEVICE.value] = "Pick a device."
    reason = reason or preset.reason
    if limits.require_reason and not reason:
        errors[BlockId.REASON.value] = "Say why you need this; the approver will read it."
    if errors:
        return None, errors
    pcap = preset.command_type is CommandType.PCAP
    minutes = min(preset.minutes or limits.pcap_default_minutes, limits.pcap_max_minutes)
    all_devices = device == "__all__"
    return g.CaptureAsk(
        command_type=preset.command_type,
        target=g.UserTarget(str(user)),
        device=None if all_devices else str(device).split("|")[0],
        all_devices=all_devices,
        time_limit_min=minutes if pcap else None,
        max_file_size_mb=min(preset.size_mb, limits.max_size_mb)
        if pcap and preset.size_mb
        else None,
        packet_size_bytes=preset.snaplen if pcap else None,
        test_all_routes=preset.all_routes if preset.command_type is CommandType.WARP_DIAG else None,
        interfaces=preset.interfaces or None
        if preset.command_type is CommandType.SPEED_TEST
        else None,
        reason=reason,
    ), {}


def _dm(client: Any, user_id: str, channel_id: str) -> Any:
    async def reply(rendered: Rendered) -> None:
        if channel_id == user_id:  # no channel: only chat.postMessage reaches a user id (a DM)
            await client.chat_postMessage(
                channel=user_id, text=rendered.text, blocks=rendered.blocks
            )
            return
        await client.chat_postEphemeral(
            channel=channel_id, user=user_id, text=rendered.text, blocks=rendered.blocks
        )

    return reply


def register_views(app: AsyncApp, api: BotApi, track: Callable[[Any], Any]) -> None:
    """Modal submission listeners."""

    @app.view(CallbackId.REQUEST.value)
    @track
    async def on_request(ack: Any, body: dict[str, Any], client: Any) -> None:
        user_id = body["user"]["id"]
        view = body["view"]
        meta = json.loads(view.get("private_metadata") or "{}")
        channel_id = meta.get("channel_id") or user_id
        values = read_submission(view["state"]["values"])
        offered = input_block_ids(view) if view.get("blocks") else None
        if values.get(BlockId.USER.value) and offered is not None and BlockId.TYPE not in offered:
            # The form asked only for a person: that person has nothing that can run it.
            await ack(**modal_errors(no_devices_error(), view))
            return
        presets = {p.name: p for p in api.flows.presets()}
        cmd, errors = capture_from_form(values, api.limits, presets)
        picked = preset_of(values, presets)
        preset = picked.name if picked else None
        if cmd is None:
            await ack(**modal_errors(errors, view))
            return
        try:
            await api.flows.check_use(user_id, read_only=False)
            prepared = await asyncio.wait_for(
                api.flows.captures.prepare(cmd, preset=preset), timeout=PREFLIGHT_BUDGET_SECONDS
            )
        except DeviceOffline as exc:
            await ack(**modal_errors(offline_error(exc.devices), view))
            return
        except Problem as exc:
            await ack(**modal_errors({BlockId.DEVICE.value: describe_problem(exc)[:300]}, view))
            return
        except TimeoutError:
            await ack()
            async with guarded(_dm(client, user_id, channel_id), log):
                prepared = await api.flows.captures.prepare(cmd, preset=preset)
                await _submit(api, prepared, body, channel_id, user_id, client)
            return
        await ack()
        async with guarded(_dm(client, user_id, channel_id), log):
            await _submit(api, prepared, body, channel_id, user_id, client)

    @app.view(CallbackId.DENY_REASON.value)
    @track
    async def on_deny_reason(ack: Any, body: dict[str, Any], client: Any) -> None:
        view = body["view"]
        request_id = view.get("private_metadata") or ""
        raw = read_submission(view["state"]["values"]).get(BlockId.REASON.value)
        try:
            note = g.reason_text(_text(raw))  # the same check as a request's reason
        except g.ParseError as exc:
            await ack(**modal_errors({BlockId.REASON.value: describe_parse_error(exc)}))
            return
        await ack()
        decider = body["user"]["id"]
        async with guarded(_dm(client, decider, decider), log):
            await api.flows.deny(request_id, decider, note)


async def _submit(
    api: BotApi, prepared: Any, body: dict[str, Any], channel_id: str, user_id: str, client: Any
) -> None:
    done = await api.flows.submit(
        prepared,
        team_id=body["team"]["id"],
        channel_id=channel_id,
        requester_id=user_id,
        tell_here=False,  # an ephemeral may not reach a channel the bot is not in: DM instead
    )
    if done.request.state is not RequestState.CANCELLED:
        await _dm(client, user_id, channel_id)(submitted_answer(done))
