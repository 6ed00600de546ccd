"""The words for every typed problem (``bot.domain.errors``): one place, one sentence each.

Our messages carry real mentions, so a sentence is not escaped as a whole; every piece that
came from outside (a device name, what someone typed, Cloudflare's reason) is made inert.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.domain import errors as e
from bot.domain.errors import inert
from bot.domain.model import RequestState
from handlers.blocks.capture import offline_warning

_STATE_WORDS = {
    RequestState.PENDING_APPROVAL: "pending approval",
    RequestState.AWAITING_OWNER: "approved, waiting for the device owner",
    RequestState.APPROVED: "approved",
    RequestState.DISPATCHING: "dispatching",
    RequestState.DISPATCHED: "dispatched",
}


def _who(by: str | None) -> str:
    return f" by <@{by}>" if by else ""


def _not_requester(p: Any) -> str:
    who = _mention(p.contact)
    ask = f"Ask {who}" if who else "Ask your Slack admin"
    return (
        "You're not on dexbot's list of people who can use `/dex`. "
        f"{ask} to add you (or your team's user group) to DEX_REQUESTERS."
    )


def _mention(contact: str | None) -> str | None:
    """A user, user group or channel id as a mention (settings check the id's shape)."""
    if not contact:
        return None
    if contact[0] in "UW":
        return f"<@{contact}>"
    if contact[0] == "S":
        return f"<!subteam^{contact}>"
    return f"<#{contact}>"


def _no_email(p: Any) -> str:
    if p.user_id is None:
        return "Cloudflare has no email for that device's user."
    return (
        f"<@{p.user_id}> has no email address visible to dexbot, so I can't match them to a "
        "WARP device. (A guest, or the app lacks the users:read.email scope.)"
    )


def _ambiguous(p: Any) -> str:
    if p.user_id:
        return (
            f"“{inert(p.ref, 60)}” matches several of <@{p.user_id}>'s "
            "devices; use the device id (see `/dex devices`)."
        )
    names = ", ".join(inert(n, 40) for n in p.names)
    return f"“{inert(p.ref, 60)}” matches several devices ({names}); use its id."


def _none_eligible(p: Any) -> str:
    reasons = "; ".join(f"{inert(n, 40)}: {inert(r, 120) or 'no'}" for n, r in p.reasons)
    return f"None of <@{p.user_id}>'s devices can run remote commands ({reasons})."


def _already_requested(p: Any) -> str:
    state = _STATE_WORDS.get(p.state, str(p.state).replace("_", " "))
    where = f"Follow its thread in <#{p.channel}>." if p.channel else "Follow its thread instead."
    return (
        f"There is already a {p.command_type} request for that device "
        f"(request {p.short_id}, {state}). {where}"
    )


def _quota_short(p: Any) -> str:
    fc = p.forecast
    if p.at == "approval":
        return (
            "Can't approve: Cloudflare's command quota would go below zero "
            f"({fc.remaining} left until {fc.reset_time:%H:%M} UTC, {fc.held} already "
            f"reserved, this needs {fc.units})."
        )
    return (
        f"Not enough Cloudflare command quota: {fc.remaining} left until "
        f"{fc.reset_time:%H:%M} UTC and this needs {fc.units}."
    )


def _already_decided(p: Any) -> str:
    words = {
        RequestState.EXPIRED: "This request has expired; ask again with /dex.",
        RequestState.DENIED: f"This request was already denied{_who(p.by)}.",
        RequestState.CANCELLED: "This request was cancelled.",
    }
    return words.get(p.state, f"This request was already approved{_who(p.by)}.")


def _offline(p: Any) -> str:
    lines = [offline_warning(name, snap) + "." for name, snap in p.devices]
    # Every answer to a problem starts with its own :warning: (common.py): not twice.
    lines[0] = lines[0].removeprefix(":warning: ")
    lines.append("If it is still worth it, ask again with `--anyway`.")
    return "\n".join(lines)


def _needs_choice(p: Any) -> str:
    names = ", ".join(inert(c.name, 40) for c in p.choices if c.eligible)
    return (
        f"That person has several eligible devices ({names}). Add `--device NAME` to pick "
        "one, or `--all` for all of them."
    )


_WORDS: dict[type[e.Problem], Callable[[Any], str]] = {
    e.NotARequester: _not_requester,
    e.NotApprover: lambda p: "You are not an approver for this request.",
    e.SelfApproval: lambda p: "You can't approve your own request; ask another approver.",
    e.NotGranted: lambda p: (
        f"The approval policy doesn't let you request {p.what}. "
        "`/dex presets` lists what it offers."
    ),
    e.NotTheOwner: lambda p: "Only the person whose device this is can answer.",
    e.NoOwnerToAsk: lambda p: (
        "This kind of request needs the device owner's OK: mention the person "
        "(`/dex pcap @ann …`) instead of naming the device."
    ),
    e.NoRule: lambda p: (
        "No approval rule covers this request, so nobody could approve it. "
        "Try fewer devices or a shorter capture, or ask an admin about the policy."
    ),
    e.AlreadyApproved: lambda p: (
        f"Your approval is already counted ({p.have} of {p.need}); it needs another approver."
    ),
    e.UnknownPerson: lambda p: "I can't find that person in Slack.",
    e.NotAPerson: lambda p: (
        f"<@{p.user_id}> is a bot, not a person with a WARP device."
        if p.why == "bot"
        else f"<@{p.user_id}> has been deactivated in Slack."
    ),
    e.NoEmail: _no_email,
    e.NoDevices: lambda p: (
        f"No WARP device for <@{p.user_id}> ({inert(p.email, 100)}) has connected in the last "
        "hour. Ask them to open the WARP client and connect, then try again."
    ),
    e.DeviceNotFound: lambda p: (
        f"No device called “{inert(p.ref, 60)}” has connected in the last hour. "
        "Try `/dex devices <part of the name>` to look it up."
    ),
    e.AmbiguousDevice: _ambiguous,
    e.NoSuchDevice: lambda p: (
        f"<@{p.user_id}> has no device called “{inert(p.ref, 60)}”. "
        f"Their devices: {', '.join(inert(n, 40) for n in p.names)}."
    ),
    e.DeviceIneligible: lambda p: (
        f"{inert(p.device, 60)} can't run remote commands: "
        f"{inert(p.reason, 200) or 'Cloudflare says it is not eligible'}."
    ),
    e.UnsupportedPlatform: lambda p: (
        f"{inert(p.device, 60)} runs {inert(p.platform, 20) or 'an unknown platform'}; remote "
        "captures work on Windows, macOS and Linux only."
    ),
    e.DeviceNotSeen: lambda p: (
        f"{inert(p.device, 60)} was last seen {p.minutes} min ago; it must be connected to run "
        "a command. Ask its owner to open WARP and connect."
    ),
    e.NoneEligible: _none_eligible,
    e.DeviceOffline: _offline,
    e.TooManyDevices: lambda p: (
        f"That's {p.count} devices; Cloudflare takes at most {p.limit} per request."
    ),
    e.AlreadyRequested: _already_requested,
    e.QuotaShort: _quota_short,
    e.UnknownRequest: lambda p: "I don't know that request; it may have been deleted.",
    e.RequestExpired: lambda p: (
        f"This request expired at {p.expires_at:%H:%M} UTC; ask again with /dex."
    ),
    e.AlreadyDecided: _already_decided,
    e.NeedsDeviceChoice: _needs_choice,
}


def describe_problem(problem: e.Problem) -> str:
    """The sentence a person reads for ``problem`` (its closest known type's words)."""
    for kind in type(problem).__mro__:
        words = _WORDS.get(kind)
        if words is not None:
            return words(problem)
    return "That can't be done right now."
