"""From what a person typed (@ann, a device name, a device id) to Slack users and WARP devices,
with answers in plain words when something does not match."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.dex.models import EligibleDevice
from bot.domain.errors import (
    AmbiguousDevice,
    DeviceNotFound,
    NoDevices,
    NoEmail,
    NotAPerson,
    UnknownPerson,
)
from bot.domain.model import SlackUser, UnknownUser
from bot.domain.ports import DirectoryPort
from bot.services.ports import DexPort

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
#: Scanning the whole fleet for a device id is bounded: a huge fleet gets a clear answer instead.
MAX_SCAN_DEVICES = 2000


@dataclass(frozen=True)
class UserDevices:
    """A person and the WARP devices registered to their email."""

    user: SlackUser
    email: str
    devices: list[EligibleDevice]

    @property
    def eligible(self) -> list[EligibleDevice]:
        """Devices that can run remote commands now."""
        return [d for d in self.devices if d.eligible]

    @property
    def ineligible(self) -> list[EligibleDevice]:
        """Devices that cannot, each with Cloudflare's reason."""
        return [d for d in self.devices if not d.eligible]


async def resolve_user(directory: DirectoryPort, user_id: str) -> tuple[SlackUser, str]:
    """The Slack user and their email; a typed problem saying what is wrong otherwise."""
    try:
        user = await directory.user(user_id)
    except UnknownUser:
        raise UnknownPerson(user_id=user_id) from None
    if user.is_bot:
        raise NotAPerson(user_id=user_id, why="bot")
    if user.deleted:
        raise NotAPerson(user_id=user_id, why="deactivated")
    if not user.email:
        raise NoEmail(user_id=user_id)
    return user, user.email


async def devices_for_email(dex: DexPort, email: str) -> list[EligibleDevice]:
    """Devices whose registered email is exactly ``email`` (Cloudflare's search is fuzzy)."""
    wanted = email.casefold()
    return [
        d
        async for d in dex.iter_devices(search=email)
        if (d.person_email or "").casefold() == wanted
    ]


async def user_devices(dex: DexPort, directory: DirectoryPort, user_id: str) -> UserDevices:
    """A person's devices; ``NoDevices`` when there are none."""
    user, email = await resolve_user(directory, user_id)
    devices = await devices_for_email(dex, email)
    if not devices:
        raise NoDevices(user_id=user_id, email=email)
    return UserDevices(user, email, devices)


async def find_device(dex: DexPort, ref: str) -> EligibleDevice:
    """The device named ``ref`` or with id ``ref``; ``DeviceNotFound`` or ``AmbiguousDevice``."""
    needle = ref.strip()
    folded = needle.casefold()
    matches = [
        d
        async for d in dex.iter_devices(search=needle)
        if d.device_id.casefold() == folded or (d.device_name or "").casefold() == folded
    ]
    if not matches and _UUID.match(needle):
        # Cloudflare's search covers names and emails, not ids: scan, bounded.
        seen = 0
        async for d in dex.iter_devices():
            seen += 1
            if d.device_id.casefold() == folded:
                matches.append(d)
            if seen >= MAX_SCAN_DEVICES:
                break
    if not matches:
        raise DeviceNotFound(ref=needle)
    by_device = {d.device_id for d in matches}
    if len(by_device) > 1:
        names = sorted({d.device_name or d.device_id for d in matches})[:5]
        raise AmbiguousDevice(ref=needle, names=names, user_id=None)
    return matches[0]
