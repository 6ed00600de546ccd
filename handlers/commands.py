"""``/dex``: acknowledge at once, then parse, check access, do the slow work and answer
ephemerally through ``respond`` (the command's response_url)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.app import Services
from bot.dex.models import Command, EligibleDevice
from bot.domain import grammar as g
from bot.domain.lookup import find_device, user_devices
from handlers.blocks import (
    Rendered,
    render_devices,
    render_help,
    render_history,
    render_quota,
    render_status,
)
from handlers.capture import fill_devices, open_request_modal, request_from_slash
from handlers.errors import guarded

log = logging.getLogger("dexbot.commands")

READ_ONLY = (g.Help, g.Unknown, g.Status, g.Devices, g.QuotaAsk, g.History)
MAX_STATUS_DEVICES = 10
MAX_HISTORY = 20
MAX_DEVICE_ROWS = 60


def responder(respond: AsyncRespond) -> Any:
    """A reply function that sends a ``Rendered`` ephemerally via the response_url."""

    async def reply(rendered: Rendered) -> None:
        await respond(
            text=rendered.text,
            blocks=rendered.blocks,
            response_type="ephemeral",
            replace_original=False,
        )

    return reply


async def handle_dex(
    svc: Services, body: dict[str, Any], respond: AsyncRespond, client: Any
) -> None:
    """Route one ``/dex`` invocation (already acknowledged)."""
    reply = responder(respond)
    async with guarded(reply, log):
        user_id = body["user_id"]
        try:
            cmd: g.Parsed | None = g.parse(body.get("text") or "", svc.limits)
        except g.ParseError:
            cmd = None
        read_only = cmd is not None and isinstance(cmd, READ_ONLY)
        # Access first: a stranger learns nothing, not even whether their input parsed.
        await svc.access.check_use(svc.directory, user_id, read_only=read_only)
        try:
            cmd = g.parse(body.get("text") or "", svc.limits)
        except g.Incomplete as missing:
            # Something is missing: the form asks for it (trigger_id first, before slow calls).
            view_id = await open_request_modal(
                svc, client, body["trigger_id"], body["channel_id"], missing.partial, None
            )
            await fill_devices(svc, client, view_id, body["channel_id"], missing.partial)
            return
        if isinstance(cmd, g.OpenModal):
            await open_request_modal(
                svc, client, body["trigger_id"], body["channel_id"], None, None
            )
            return
        await reply(await answer(svc, cmd, body, client))


async def answer(svc: Services, cmd: g.Parsed, body: dict[str, Any], client: Any) -> Rendered:
    """The rendered answer to a parsed command."""
    now = svc.clock()
    match cmd:
        case g.Help(topic=topic):
            return render_help(g.help_for(topic, svc.limits))
        case g.Unknown():
            return render_help(g.HELP_TEXT)
        case g.QuotaAsk():
            quota = await svc.dex.get_quota()
            waiting = await svc.requests.count_awaiting_approval()
            return render_quota(quota, awaiting_approval=waiting, now=now)
        case g.Status(target=target):
            return await _status(svc, target)
        case g.Devices(target=target, search=search):
            return await _devices(svc, target, search)
        case g.History(target=target, status=status):
            return await _history(svc, target, status)
        case g.CaptureAsk():
            return await request_from_slash(svc, cmd, body, client)
        case _:
            return render_help(g.HELP_TEXT)


async def _status(svc: Services, target: g.Target) -> Rendered:
    now = svc.clock()
    if isinstance(target, g.UserTarget):
        found = await user_devices(svc.dex, svc.directory, target.user_id)
        devices = found.devices[:MAX_STATUS_DEVICES]
        title = f"WARP status for {found.user.name or found.email}"
    else:
        devices = [await find_device(svc.dex, target.ref)]
        title = f"WARP status for {devices[0].device_name or devices[0].device_id}"
    statuses = await asyncio.gather(*(svc.dex.live_status(d.device_id) for d in devices))
    return render_status(list(statuses), title=title, now=now)


async def _devices(svc: Services, target: g.UserTarget | None, search: str | None) -> Rendered:
    now = svc.clock()
    if target is not None:
        found = await user_devices(svc.dex, svc.directory, target.user_id)
        return render_devices(found.devices, heading=f"Devices of {found.email}", now=now)
    devices: list[EligibleDevice] = []
    async for d in svc.dex.iter_devices(search=search):
        devices.append(d)
        if len(devices) >= MAX_DEVICE_ROWS:
            break
    heading = f"Devices matching “{search}”" if search else "Devices seen in the last hour"
    return render_devices(devices, heading=heading, now=now)


async def _history(svc: Services, target: g.Target | None, status: Any) -> Rendered:
    now = svc.clock()
    filters: dict[str, Any] = {"status": status} if status else {}
    names: dict[str, str] = {}
    if isinstance(target, g.UserTarget):
        found = await user_devices(svc.dex, svc.directory, target.user_id)
        filters["user_email"] = found.email
        names = {d.device_id: d.device_name or d.device_id for d in found.devices}
        heading = f"Recent commands for {found.email}"
    elif isinstance(target, g.DeviceTarget):
        device = await find_device(svc.dex, target.ref)
        filters["device_id"] = device.device_id
        names = {device.device_id: device.device_name or device.device_id}
        heading = f"Recent commands on {device.device_name or device.device_id}"
    else:
        heading = "Recent commands"
    commands: list[Command] = []
    async for c in svc.dex.iter_commands(**filters):
        commands.append(c)
        if len(commands) >= MAX_HISTORY + 1:
            break
    return render_history(commands, heading=heading, now=now, device_names=names)
