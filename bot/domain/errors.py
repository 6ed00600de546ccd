"""Typed problems a person can run into, carrying data and no words.

The sentences live in ``handlers.blocks.problems``, which maps each type to text. Raise the
most specific type; ``Problem`` is the base every handler knows how to answer.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.model import CaptureRequest

# Bidirectional controls (which can reverse how a reason reads on a card) and zero-width
# characters (which can hide text) are removed from anything a person typed.
_INVISIBLE = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f"]
)


class Problem(Exception):
    """A known problem, answered to the person in plain words (never a stack trace)."""

    def __init__(self, **data: Any) -> None:
        super().__init__(type(self).__name__)
        self.data = data

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(name) from None


class NotAllowed(Problem):
    """The acting user may not do this."""


class NotARequester(NotAllowed):
    """Not on the requesters' list (``contact``: who to ask, when configured)."""


class NotApprover(NotAllowed):
    """Not an approver for this request."""


class SelfApproval(NotAllowed):
    """Approving one's own request, which the policy forbids."""


class NotGranted(NotAllowed):
    """The policy does not let this user request this type (``command_type``) or preset."""


class NotTheOwner(NotAllowed):
    """Only the person whose device is targeted may say OK (or decline)."""


class NoOwnerToAsk(Problem):
    """The rule needs the device owner's OK, but the request names a device, not a person."""


class AutoCapReached(Problem):
    """A rule's auto-approvals in its interval reached its cap (``cap``) meanwhile."""


class NoRule(Problem):
    """No approval rule covers this request, so nobody could approve it."""


class AlreadyApproved(Problem):
    """This approver's approval is already counted (``have`` of ``need``)."""


class UnknownPerson(Problem):
    """Slack does not know the user (``user_id``)."""


class NotAPerson(Problem):
    """The user is a bot or deactivated (``user_id``, ``why``: "bot" | "deactivated")."""


class NoEmail(Problem):
    """No email visible for ``user_id`` (None: Cloudflare has none for the device)."""


class NoDevices(Problem):
    """No WARP device of ``user_id`` (``email``) connected in the last hour."""


class DeviceNotFound(Problem):
    """No device called ``ref``."""


class AmbiguousDevice(Problem):
    """``ref`` matches several devices (``names``), of ``user_id`` when given."""


class NoSuchDevice(Problem):
    """``user_id`` has no device ``ref``; their devices are ``names``."""


class DeviceIneligible(Problem):
    """``device`` cannot run remote commands: Cloudflare's ``reason``."""


class UnsupportedPlatform(Problem):
    """``device`` runs ``platform``, which remote commands do not support."""


class DeviceNotSeen(Problem):
    """``device`` was last seen ``minutes`` ago."""


class DeviceOffline(Problem):
    """``devices`` [(name, LiveSnapshot)] look offline (disconnected, paused, not seen
    recently): a command would wait up to Cloudflare's timeout, fail, and still spend quota.
    The requester may go ahead with ``--anyway``."""


class NoneEligible(Problem):
    """None of ``user_id``'s devices can run commands: ``reasons`` [(device, reason)]."""


class TooManyDevices(Problem):
    """``count`` devices; Cloudflare takes at most ``limit`` per request."""


class AlreadyRequested(Problem):
    """An identical request is active: ``short_id``, ``command_type``, ``state``, ``channel``."""


class QuotaShort(Problem):
    """The forecast (``forecast``) cannot cover this request; ``at`` "request" | "approval"."""


class UnknownRequest(Problem):
    """No such request (a forged or stale button)."""


class RequestExpired(Problem):
    """The request expired at ``expires_at``."""


class AlreadyDecided(Problem):
    """The request is already in ``state`` (``by``: who decided, when known)."""


@dataclass(frozen=True)
class Choice:
    """A device a person could pick in the form."""

    device_id: str
    name: str
    eligible: bool


class NeedsDeviceChoice(Problem):
    """Several eligible devices and none named: the form asks (``draft``, ``choices``)."""

    def __init__(self, draft: Any, choices: Sequence[Choice], devices: Sequence[Any]) -> None:
        super().__init__(draft=draft, choices=tuple(choices), devices=list(devices))


def already_requested(existing: CaptureRequest) -> AlreadyRequested:
    """The problem for a request identical to ``existing``, which is still active."""
    return AlreadyRequested(
        short_id=existing.short_id,
        command_type=existing.command_type,
        state=existing.state,
        channel=existing.parent_channel,
        parent_ts=existing.parent_ts,
    )


def visible(text: str | None) -> str:
    """``text`` without bidirectional controls and zero-width characters."""
    return "".join(ch for ch in (text or "") if ch not in _INVISIBLE)


def inert(text: str | None, limit: int = 80) -> str:
    """Outside text (what someone typed, a device name) made safe to put in our messages.

    Our messages are mrkdwn with real mentions in them, so they are not escaped as a whole;
    instead every piece that came from outside loses ``<``, ``>``, ``&`` and backticks (no
    ``<!channel>`` can ping anyone), invisible controls, and is cut to ``limit`` characters.
    """
    cleaned = " ".join(visible(text).split())
    cleaned = "".join(
        ch
        for ch in cleaned
        if ch not in "<>&`" and (ch.isprintable() and unicodedata.category(ch) != "Cf")
    )
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
