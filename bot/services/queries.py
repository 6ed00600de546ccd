"""Read-only answers (``status``, ``devices``, ``quota``, ``history``): they spend nothing.

Each returns the data a renderer needs; the handlers word it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.dex.models import Command, DeviceLiveStatus, EligibleDevice, Quota
from bot.domain import grammar as g
from bot.services.context import Context
from bot.services.lookup import find_device, user_devices

MAX_STATUS_DEVICES = 10
MAX_HISTORY = 20
MAX_DEVICE_ROWS = 60


@dataclass(frozen=True)
class StatusAnswer:
    """Live status of a person's devices (``subject``: whose: a name, email or device)."""

    subject: str
    statuses: list[DeviceLiveStatus]


@dataclass(frozen=True)
class DevicesAnswer:
    """Devices and why some are not eligible: of a person (``email``) or matching ``search``."""

    email: str | None
    search: str | None
    devices: list[EligibleDevice]


@dataclass(frozen=True)
class QuotaAnswer:
    """The account's command quota and how many requests wait for approval."""

    quota: Quota
    awaiting: int


@dataclass(frozen=True)
class HistoryAnswer:
    """Recent commands, newest first, with the device names known for them; of a person
    (``email``), a device (``device``) or the whole account (neither)."""

    email: str | None
    device: str | None
    commands: list[Command]
    names: dict[str, str]


def newest_first(commands: list[Command]) -> list[Command]:
    """Commands by ``created_date``, newest first: Cloudflare does not document the order."""
    floor = datetime.min.replace(tzinfo=None)
    return sorted(
        commands,
        key=lambda c: c.created_date.replace(tzinfo=None) if c.created_date else floor,
        reverse=True,
    )


class Queries:
    """The read-only use cases."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def quota(self) -> QuotaAnswer:
        """Cloudflare's quota and the approvals waiting."""
        quota = await self.ctx.dex.get_quota()
        return QuotaAnswer(quota, await self.ctx.requests.count_awaiting_approval())

    async def status(self, target: g.Target) -> StatusAnswer:
        """Live status of a person's devices (up to ten) or of one device."""
        if isinstance(target, g.UserTarget):
            found = await user_devices(self.ctx.dex, self.ctx.directory, target.user_id)
            devices = found.devices[:MAX_STATUS_DEVICES]
            subject = found.user.name or found.email
        else:
            devices = [await find_device(self.ctx.dex, target.ref)]
            subject = devices[0].device_name or devices[0].device_id
        statuses = await asyncio.gather(*(self.ctx.dex.live_status(d.device_id) for d in devices))
        return StatusAnswer(subject, list(statuses))

    async def devices(self, target: g.UserTarget | None, search: str | None) -> DevicesAnswer:
        """A person's devices, or the fleet's matching ``search`` (bounded)."""
        if target is not None:
            found = await user_devices(self.ctx.dex, self.ctx.directory, target.user_id)
            return DevicesAnswer(found.email, None, found.devices)
        devices: list[EligibleDevice] = []
        async for d in self.ctx.dex.iter_devices(search=search):
            devices.append(d)
            if len(devices) >= MAX_DEVICE_ROWS:
                break
        return DevicesAnswer(None, search, devices)

    async def history(self, target: g.Target | None, status: Any) -> HistoryAnswer:
        """Recent commands of a person, a device or the account."""
        filters: dict[str, Any] = {"status": status} if status else {}
        names: dict[str, str] = {}
        email = device_name = None
        if isinstance(target, g.UserTarget):
            found = await user_devices(self.ctx.dex, self.ctx.directory, target.user_id)
            filters["user_email"] = found.email
            names = {d.device_id: d.device_name or d.device_id for d in found.devices}
            email = found.email
        elif isinstance(target, g.DeviceTarget):
            device = await find_device(self.ctx.dex, target.ref)
            filters["device_id"] = device.device_id
            names = {device.device_id: device.device_name or device.device_id}
            device_name = device.device_name or device.device_id
        commands: list[Command] = []
        async for c in self.ctx.dex.iter_commands(**filters):
            commands.append(c)
            if len(commands) >= MAX_HISTORY + 1:
                break
        return HistoryAnswer(email, device_name, newest_first(commands), names)

    async def devices_for_draft(self, draft: g.CaptureDraft | None) -> list[EligibleDevice]:
        """The target's devices when the draft names a person, for the form's device select;
        empty when there are none to show (the form still opens)."""
        if draft is None or not isinstance(draft.target, g.UserTarget):
            return []
        try:
            return (
                await user_devices(self.ctx.dex, self.ctx.directory, draft.target.user_id)
            ).devices
        except Exception:
            return []
