"""Read-only answers (``status``, ``devices``, ``quota``, ``history``): they spend nothing.

Each returns the data a renderer needs; the handlers word it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.dex.fleet import LiveStatusUnavailable, live_statuses
from bot.dex.models import Command, DeviceLiveStatus, EligibleDevice, Quota
from bot.domain import grammar as g
from bot.domain.model import CaptureRequest
from bot.services.context import Context
from bot.services.lookup import find_device, user_devices

MAX_STATUS_DEVICES = 10
MAX_HISTORY = 20
#: ``/dex history`` reads this many rows at most (10 pages) before taking the newest.
MAX_HISTORY_SCAN = 1000
MAX_DEVICE_ROWS = 60
#: Devices scanned at most to name commands made outside dexbot.
MAX_NAME_SCAN = 500


@dataclass(frozen=True)
class StatusAnswer:
    """Live status of a person's devices (``subject``: whose: a name, email or device)."""

    subject: str
    statuses: list[DeviceLiveStatus | LiveStatusUnavailable]


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
    #: The request behind each command that dexbot sent (the others were made elsewhere).
    ours: dict[str, CaptureRequest] = field(default_factory=dict)
    #: Our requests that never reached Cloudflare (denied, expired, cancelled, not sent).
    unsent: list[CaptureRequest] = field(default_factory=list)


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
        # One device's error, timeout or lack of data costs only that device's line.
        return StatusAnswer(subject, await live_statuses(self.ctx.dex, devices))

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
        async for c in self.ctx.dex.iter_commands(**filters):  # every page: no promised order
            commands.append(c)
            if len(commands) >= MAX_HISTORY_SCAN:
                break
        commands = newest_first(commands)[: MAX_HISTORY + 1]
        ours = await self.ctx.requests.owners_of([c.id for c in commands])
        for req in ours.values():  # the names we stored when the request was made
            names.update({d.device_id: d.name for d in req.devices if d.device_id not in names})
        await self._name_the_rest(names, commands)
        unsent = []
        if not status:  # a status filter is about Cloudflare's commands only
            unsent = await self.ctx.requests.recent_unsent(
                email=filters.get("user_email"), device_id=filters.get("device_id")
            )
        return HistoryAnswer(email, device_name, commands, names, ours, unsent)

    async def _name_the_rest(self, names: dict[str, str], commands: list[Command]) -> None:
        """Device names for commands made elsewhere, from the fleet (bounded)."""
        missing = {c.device_id for c in commands if c.device_id and c.device_id not in names}
        if not missing:
            return
        seen = 0
        async for d in self.ctx.dex.iter_devices():
            seen += 1
            if d.device_id in missing:
                names[d.device_id] = d.device_name or d.device_id
                missing.discard(d.device_id)
            if not missing or seen >= MAX_NAME_SCAN:
                return

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
