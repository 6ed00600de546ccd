"""From what a person typed (@ann, a device name, a device id) to Slack users and WARP devices,
with answers in plain words when something does not match."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.dex.models import EligibleDevice
from bot.domain.errors import UserFacingError, inert
from bot.domain.model import SlackUser, UnknownUser
from bot.domain.ports import DexPort, DirectoryPort

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
    """The Slack user and their email, or a ``UserFacingError`` saying what is wrong."""
    try:
        user = await directory.user(user_id)
    except UnknownUser:
        raise UserFacingError("I can't find that person in Slack.") from None
    if user.is_bot:
        raise UserFacingError(f"<@{user_id}> is a bot, not a person with a WARP device.")
    if user.deleted:
        raise UserFacingError(f"<@{user_id}> has been deactivated in Slack.")
    if not user.email:
        raise UserFacingError(
            f"<@{user_id}> has no email address visible to dexbot, so I can't match them to a "
            "WARP device. (A guest, or the app lacks the users:read.email scope.)"
        )
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
    """A person's devices; ``UserFacingError`` when there are none."""
    user, email = await resolve_user(directory, user_id)
    devices = await devices_for_email(dex, email)
    if not devices:
        raise UserFacingError(
            f"No WARP device for <@{user_id}> ({email}) has connected in the last hour. "
            "Ask them to open the WARP client and connect, then try again."
        )
    return UserDevices(user, email, devices)


async def find_device(dex: DexPort, ref: str) -> EligibleDevice:
    """The device named ``ref`` or with id ``ref``; ``UserFacingError`` if none or ambiguous."""
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
        raise UserFacingError(
            f"No device called “{inert(needle, 60)}” has connected in the last hour. "
            "Try `/dex devices <part of the name>` to look it up."
        )
    by_device = {d.device_id for d in matches}
    if len(by_device) > 1:
        names = ", ".join(
            inert(n, 40) for n in sorted({d.device_name or d.device_id for d in matches})[:5]
        )
        raise UserFacingError(
            f"“{inert(needle, 60)}” matches several devices ({names}); use its id."
        )
    return matches[0]
