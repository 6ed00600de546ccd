"""Renderers for a capture request's life in Slack: parent message, approval card, thread replies.

The parent message sits in the requester's channel and is edited in place as the request
moves through its states; status replies thread under it. The approval card is what a
manager sees: Approve and Deny buttons while the request is open, and what happened once it
is not. Pure: ``now`` is passed in, every text from outside (reasons, device names, emails,
errors) is escaped, and every result has passed ``check_limits``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.dex.models import CommandStatus, CommandType
from bot.domain.grammar import Clamped
from bot.domain.model import (
    CaptureRequest,
    CommandRecord,
    LiveSnapshot,
    RequestState,
    TargetDevice,
)
from bot.domain.quota import Forecast
from bot.domain.rules import RULE_ACTOR_PREFIX
from handlers.blocks.common import (
    FIELD_TEXT_MAX,
    HEADER_TEXT_MAX,
    MISSING,
    SECTION_TEXT_MAX,
    Rendered,
    as_utc,
    check_limits,
    escape_mrkdwn,
    fit_escaped,
    format_utc,
    outside,
    plural,
    relative_time,
    truncate,
    user_ref,
)
from handlers.blocks.parse_text import describe_clamped
from handlers.blocks.policy import approvals_line, rule_line
from handlers.ids import ActionId

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
# Slack permalinks only; anything with "|" or "<>" could disguise the link's label.
_PERMALINK = re.compile(r"^https://[^\s<>|]+$")

# emoji, words in a status list, words in a thread reply
_STATUS: dict[CommandStatus, tuple[str, str, str]] = {
    CommandStatus.PENDING_EXEC: (
        ":hourglass_flowing_sand:",
        "waiting for the device",
        "waiting for the device to pick up the command",
    ),
    CommandStatus.PENDING_UPLOAD: (":arrow_up:", "uploading", "uploading the capture"),
    CommandStatus.SUCCESS: (":white_check_mark:", "finished", "finished"),
    CommandStatus.FAILED: (":x:", "failed", "failed"),
}
_CLOSED_TITLE = {
    RequestState.AWAITING_OWNER: "Approved",
    RequestState.APPROVED: "Approved",
    RequestState.DISPATCHING: "Approved",
    RequestState.DISPATCHED: "Running",
    RequestState.COMPLETED: "Finished",
    RequestState.DENIED: "Denied",
    RequestState.EXPIRED: "Expired",
    RequestState.CANCELLED: "Cancelled",
    RequestState.DISPATCH_FAILED: "Not sent",
}
#: How a cancelled parent message or card says why (``error`` holds the reason's code).
_CANCELLED_WHY = {
    "parent": "the request message couldn't be posted",
    "card": "the approval card couldn't be posted, so nobody could approve it",
    "superseded": "replaced by a new identical request",
    "owner_declined": "the device's owner declined; nothing ran",
}
_ACK_WORDS = {
    RequestState.PENDING_APPROVAL: "waiting for approval",
    RequestState.AWAITING_OWNER: "approved; waiting for the device owner's OK",
    RequestState.APPROVED: "approved; sending to Cloudflare",
    RequestState.DISPATCHING: "approved; sending to Cloudflare",
    RequestState.DISPATCHED: "sent to Cloudflare",
}


# -- words -----------------------------------------------------------------------------


def _number(value: Any) -> str | None:
    """A number from the stored args, or None; anything odd is shown escaped."""
    return None if value is None or isinstance(value, bool) else outside(str(value), 20)


#: Where each clamped field sits in Cloudflare's args.
_CLAMPED_ARG = {
    "time_limit_min": "time-limit-min",
    "max_file_size_mb": "max-file-size-mb",
    "packet_size_bytes": "packet-size-bytes",
}


def _clamped_words(clamped: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Cloudflare arg -> "10 min (asked 90; the maximum is 10)" for each clamped value."""
    out = {}
    for c in clamped:
        try:
            item = Clamped(str(c["field"]), int(c["asked"]), int(c["maximum"]))
        except (KeyError, TypeError, ValueError):
            continue
        if item.field in _CLAMPED_ARG:
            out[_CLAMPED_ARG[item.field]] = describe_clamped(item)
    return out


def describe_command(
    command_type: str, args: dict[str, Any], clamped: Sequence[dict[str, Any]] = ()
) -> str:
    """What a command does, in words (mrkdwn-safe): "packet capture, 5 min, up to 50 MB, …".

    ``args`` uses Cloudflare's keys. An argument left out is left out of the words too:
    Cloudflare applies its own default.
    """
    if command_type == CommandType.PCAP:
        held = _clamped_words(clamped)
        parts = ["packet capture"]
        if (minutes := _number(args.get("time-limit-min"))) is not None:
            parts.append(held.get("time-limit-min") or f"{minutes} min")
        if (size := _number(args.get("max-file-size-mb"))) is not None:
            parts.append(f"up to {held.get('max-file-size-mb') or f'{size} MB'}")
        if (snaplen := _number(args.get("packet-size-bytes"))) is not None:
            parts.append(held.get("packet-size-bytes") or f"{snaplen}-byte packets")
        return ", ".join(parts)
    if command_type == CommandType.WARP_DIAG:
        # Cloudflare tests all routes unless told not to.
        if args.get("test-all-routes") is False:
            return "WARP diagnostic bundle (without testing all routes)"
        return "WARP diagnostic bundle (all routes tested)"
    if command_type == CommandType.SPEED_TEST:
        wanted = args.get("interfaces") or []
        names = [outside(str(n), 20) for n in wanted if isinstance(n, str)]
        if not names:
            return "speed test"
        if len(names) == 1:
            return f"speed test on the {names[0]} interface"
        return f"speed test on {' and '.join(names)} interfaces"
    return f"{outside(command_type, 40)} command"


def _what(req: CaptureRequest) -> str:
    return describe_command(req.command_type, req.args, req.clamped)


def _person(user_id: str | None) -> str:
    if not user_id:
        return MISSING
    if user_id.startswith(RULE_ACTOR_PREFIX):
        return f"rule `{outside(user_id.removeprefix(RULE_ACTOR_PREFIX), 40)}`"
    try:
        return user_ref(user_id)
    except ValueError:
        return outside(user_id, 40)


def _channel(channel_id: str) -> str:
    return f"<#{channel_id}>" if _CHANNEL_ID.match(channel_id) else outside(channel_id, 40)


def _target(req: CaptureRequest) -> str:
    if req.target_user_id:
        return _person(req.target_user_id)
    return outside(req.target_email, 100)


def _code(ident: str) -> str:
    # Inside a code span a backtick would end the span early.
    return "`" + escape_mrkdwn(ident[:8]).replace("`", "'") + "`"


def offline_warning(name: str, snap: LiveSnapshot) -> str:
    """ "⚠️ grace-laptop is disconnected (last seen 9 min ago): Cloudflare waits up to 10 min,
    then fails, and the command still counts against the quota" (mrkdwn-safe)."""
    if snap.status is None:
        state = "not reporting to Cloudflare (no status in the last 10 min)"
    elif snap.status == "connected":
        state = "connected but quiet"
    else:
        state = outside(snap.status, 30)
    seen = f" (last seen {snap.seen_minutes_ago} min ago)" if snap.seen_minutes_ago else ""
    return (
        f":warning: {outside(name, 80)} is {state}{seen}: Cloudflare waits up to 10 min, then "
        "fails, and the command still counts against the quota"
    )


def live_line(d: TargetDevice) -> str | None:
    """The device's live status at request time: connection, mode, colo, client, RTT."""
    snap = d.snapshot
    if snap is None:
        return None
    if snap.offline:
        return offline_warning(d.name, snap)
    parts = [outside(snap.status, 30)]
    if snap.mode:
        parts.append(f"mode {outside(snap.mode, 40)}")
    if snap.colo:
        parts.append(f"colo {outside(snap.colo, 10)}")
    if snap.version:
        parts.append(f"WARP {outside(snap.version, 30)}")
    if snap.rtt_ms is not None:
        parts.append(f"round trip {snap.rtt_ms:g} ms")
    return f":signal_strength: {outside(d.name, 80)}: " + " · ".join(parts)


def _device(d: TargetDevice, *, registration: bool = False) -> str:
    line = f"{outside(d.name, 80)} · {outside(d.platform, 30)}"
    if registration and d.registration_id:
        line += f" (registration {_code(d.registration_id)})"
    return line


def _devices(req: CaptureRequest, *, registration: bool = False) -> str:
    return "\n".join(_device(d, registration=registration) for d in req.devices) or MISSING


def _status_of(raw: str) -> tuple[str, str, str]:
    try:
        return _STATUS[CommandStatus(raw)]
    except ValueError:
        unknown = f"status {outside(raw, 40)}"
        return ":grey_question:", unknown, unknown


def _command_lines(commands: Sequence[CommandRecord], devices: Sequence[TargetDevice]) -> str:
    names = {d.device_id: d.name for d in devices}
    lines = []
    for c in commands:
        emoji, words, _ = _status_of(c.status)
        name = outside(names.get(c.device_id, c.device_id), 80)
        lines.append(f"{emoji} *{name}*: {words} (command {_code(c.command_id)})")
    return "\n".join(lines) or "No command status yet."


def _tally(commands: Sequence[CommandRecord]) -> str:
    ok = sum(c.status == CommandStatus.SUCCESS for c in commands)
    failed = sum(c.status == CommandStatus.FAILED for c in commands)
    if failed == 0:
        return f":checkered_flag: Finished: {ok} succeeded"
    return f":checkered_flag: Finished: {ok} succeeded, {failed} failed"


def _by(req: CaptureRequest, now: datetime) -> str:
    """ " by <@x> at 10:42 UTC", with whatever of the two is known."""
    words = f" by {_person(req.decided_by)}" if req.decided_by else ""
    if req.decided_at is not None:
        words += f" at {format_utc(req.decided_at, now)}"
    return words


def _note(req: CaptureRequest) -> str:
    return f": {_escaped(req.decision_note, 1500)}" if req.decision_note else ""


def _expired(req: CaptureRequest, now: datetime) -> str:
    window = (as_utc(req.expires_at) - as_utc(req.created_at)).total_seconds() // 60
    return (
        f":alarm_clock: Expired at {format_utc(req.expires_at, now)} — "
        f"nobody decided within {int(window)} min"
    )


def _failed(req: CaptureRequest) -> str:
    why = _escaped(req.error, 1500) if req.error else "no reason was recorded"
    return f":x: Couldn't send to Cloudflare: {why}"


def _state_text(req: CaptureRequest, *, now: datetime, card: bool) -> str:
    """The request's current state in words; ``card`` adds the decision's time."""
    state = req.state
    by = _by(req, now) if card else (f" by {_person(req.decided_by)}" if req.decided_by else "")
    if state is RequestState.AWAITING_OWNER:
        owner = _person(req.target_user_id)
        return f":hourglass: Approved{by} — waiting for {owner} to say OK before it runs"
    if state is RequestState.APPROVED:
        return f":white_check_mark: Approved{by} — sending to Cloudflare"
    if state is RequestState.DISPATCHING:
        return f":outbox_tray: Approved{by} — sending to Cloudflare now"
    if state is RequestState.DISPATCHED:
        lines = _command_lines(req.commands, req.devices)
        return f":satellite_antenna: Approved{by} — sent to Cloudflare\n{lines}"
    if state is RequestState.COMPLETED:
        lines = _command_lines(req.commands, req.devices)
        return f"{_tally(req.commands)} (approved{by})\n{lines}"
    if state is RequestState.DENIED:
        return f":no_entry: Denied{by}{_note(req)}"
    if state is RequestState.EXPIRED:
        return _expired(req, now)
    if state is RequestState.CANCELLED:
        why = _CANCELLED_WHY.get(req.error or "")
        return f":heavy_multiplication_x: Cancelled{by}{_note(req)}" + (f": {why}" if why else "")
    if state is RequestState.DISPATCH_FAILED:
        return f"{_failed(req)} (approved{by})"
    return f"{outside(str(state), 40)}"


# -- blocks ----------------------------------------------------------------------------


def _finish(text: str, blocks: Sequence[Block]) -> Rendered:
    return check_limits(Rendered(text=text, blocks=[b.to_dict() for b in blocks]))


def _section(text: str, fields: list[str] | None = None) -> SectionBlock:
    return SectionBlock(
        text=MarkdownTextObject(text=text),
        fields=[MarkdownTextObject(text=f) for f in fields] if fields else None,
    )


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _request_context(req: CaptureRequest, now: datetime) -> ContextBlock:
    return _context(
        f"Request {_code(req.short_id)} · asked {format_utc(req.created_at, now)}"
        f" · {plural(req.units, 'device')}"
    )


def render_parent(req: CaptureRequest, *, now: datetime, approval_channel: str | None) -> Rendered:
    """The request's message in the requester's channel, edited in place as the state changes.

    What, for whom, on which devices, who asked and why, and the current state in words;
    ``approval_channel`` is where the card waits (None: the card is posted below).
    """
    what = _what(req)
    if req.state is RequestState.PENDING_APPROVAL:
        where = f"in {_channel(approval_channel)}" if approval_channel else "below"
        state = (
            f":hourglass_flowing_sand: Waiting for approval {where} "
            f"(expires {format_utc(req.expires_at, now)}, {relative_time(req.expires_at, now)})"
        )
    else:
        state = _state_text(req, now=now, card=False)
    fields = [
        _field("Requested by", _person(req.requester_id)),
        _field("For", _target(req)),
        _field(f"Device{'s' if req.units != 1 else ''}", _devices(req)),
        _field("Reason", _reason(req)),
    ]
    blocks: list[Block] = [
        _section(f":mag: *{_capitalised(what)}*", fields),
        _section(_fit_lines(state)),
        _request_context(req, now),
    ]
    first_line = state.split("\n", 1)[0]
    text = f"{_capitalised(what)} for {_target(req)}: {first_line}"
    return _finish(text, blocks)


def _fit_lines(text: str, limit: int = SECTION_TEXT_MAX) -> str:
    """Already-escaped mrkdwn cut at a line end (never inside an entity) to fit ``limit``."""
    if len(text) <= limit:
        return text
    return text[: limit - 2].rsplit("\n", 1)[0] + "\n…"


def _field(label: str, body: str) -> str:
    # Escaping can grow outside text fivefold: cut whole lines to fit a field.
    return f"*{label}*\n" + _fit_lines(body, FIELD_TEXT_MAX - len(label) - 3)


def _escaped(text: str, limit: int) -> str:
    # fit_escaped gives up on text as long as its limit made of "&" only: pre-cut it.
    return fit_escaped(truncate(text.strip() or MISSING, limit // 2), limit)


def _reason(req: CaptureRequest) -> str:
    return _escaped(req.reason, 1500) if req.reason else MISSING


def _forecast_lines(forecast: Forecast, now: datetime) -> str:
    reset = format_utc(forecast.reset_time, now)
    awaiting = f"; {forecast.awaiting} awaiting approval" if forecast.awaiting else ""
    if forecast.fits:
        return f":bar_chart: After this: {forecast.after} left until {reset}{awaiting}"
    return (
        f":warning: *Not enough quota:* this needs {plural(forecast.units, 'command')} and "
        f"{forecast.remaining} {'is' if forecast.remaining == 1 else 'are'} left until "
        f"{reset}{awaiting}. Wait for the reset, or ask for fewer devices."
    )


def _button(
    req: CaptureRequest, label: str, action: ActionId, style: str, ask: str | None, why: str
) -> ButtonElement:
    # The value is the request id and nothing else: the store holds the state.
    confirm = (
        ConfirmObject(title=ask, text=why, confirm=label, deny="Back", style=style) if ask else None
    )
    return ButtonElement(
        text=label, action_id=action.value, value=req.id, style=style, confirm=confirm
    )


#: What each command type is called where a person decides or waits on it.
KIND_NAME = {
    CommandType.PCAP: "packet capture",
    CommandType.WARP_DIAG: "WARP diagnostic bundle",
    CommandType.SPEED_TEST: "speed test",
}
#: What a device is uploading while a command of this type is PENDING_UPLOAD.
_UPLOADING = {
    CommandType.PCAP: "uploading the capture",
    CommandType.WARP_DIAG: "uploading the diagnostic bundle",
    CommandType.SPEED_TEST: "uploading the results",
}


def _known(command_type: str) -> bool:
    return command_type in {t.value for t in CommandType}


def kind_name(command_type: str) -> str:
    """ "packet capture", "WARP diagnostic bundle", "speed test" """
    try:
        return KIND_NAME[CommandType(command_type)]
    except ValueError:
        return outside(command_type, 40)


def _buttons(req: CaptureRequest) -> ActionsBlock:
    spends = f"It spends {req.units} of the account's Cloudflare command quota."
    ask = truncate(f"Approve this {kind_name(req.command_type)}?", 100)
    return ActionsBlock(
        elements=[
            _button(req, "Approve", ActionId.APPROVE, "primary", ask, spends),
            # No confirm: Deny opens its own form (with a reason), which is the one question.
            _button(req, "Deny", ActionId.DENY, "danger", None, ""),
        ]
    )


def render_card(req: CaptureRequest, forecast: Forecast | None, *, now: datetime) -> Rendered:
    """The approval card: who wants what on whose device, why, the quota after it, buttons.

    Approve (with a confirm dialog) and Deny (whose form asks instead), each carrying only the
    request id, appear
    only while the request waits for approval; afterwards the card says what happened.
    """
    what = _what(req)
    pending = req.state is RequestState.PENDING_APPROVAL
    title = "Approval needed" if pending else _CLOSED_TITLE.get(req.state, "Request")
    # plain_text shows mrkdwn entities literally: use the raw words, not escaped ones.
    header = truncate(f"{title}: {_capitalised(_plain(what))}", HEADER_TEXT_MAX)
    expires = format_utc(req.expires_at, now)
    if pending:
        expires += f" ({relative_time(req.expires_at, now)})"
    fields = [
        _field("Requested by", _person(req.requester_id)),
        _field("For", _target(req)),
        _field(f"Device{'s' if req.units != 1 else ''}", _devices(req, registration=True)),
        _field("What", _capitalised(what)),
        _field("Reason", _reason(req)),
    ]
    if pending:  # a closed card has nothing left to expire
        fields.append(_field("Expires", expires))
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=header)),
        SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields]),
    ]
    policy_lines = [line for line in (approvals_line(req), rule_line(req)) if line]
    if pending:
        live = [line for d in req.devices if (line := live_line(d))]
        if live:
            blocks.append(_section(_fit_lines("\n".join(live))))
        if policy_lines:
            blocks.append(_section(_fit_lines("\n".join(policy_lines))))
        if forecast is not None:
            blocks.append(_section(_forecast_lines(forecast, now)))
        blocks.append(_buttons(req))
        text = f"Approval needed: {what} for {_target(req)}, asked by {_person(req.requester_id)}"
    else:
        state = _state_text(req, now=now, card=True)
        blocks.append(_section(_fit_lines(state)))
        text = f"{title}: {what} for {_target(req)}. {state.split(chr(10), 1)[0]}"
    blocks.append(_request_context(req, now))
    return _finish(text, blocks)


def _plain(mrkdwn: str) -> str:
    return mrkdwn.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# -- thread replies and acknowledgements -----------------------------------------------


def render_thread_status(
    device_name: str,
    command_id: str,
    status: str,
    *,
    detail: str | None = None,
    command_type: str | None = None,
) -> Rendered:
    """A short reply in the request's thread when a command's status changes.

    "⏳ ann-macbook: waiting for the device to pick up the command (command 5758fefe)";
    ``detail`` (escaped) follows a failure, or any other status after a dash.
    """
    emoji, _, words = _status_of(status)
    if status == CommandStatus.PENDING_UPLOAD and command_type:
        words = _UPLOADING.get(CommandType(command_type), words) if _known(command_type) else words
    if detail:
        joiner = ": " if status == CommandStatus.FAILED else " — "
        words += joiner + _escaped(detail, 2000)
    line = f"{emoji} *{outside(device_name, 80)}*: {words} (command {_code(command_id)})"
    return _finish(line, [_section(line)])


def render_thread_note(text: str) -> Rendered:
    """A reply in the request's thread, e.g. "Approved by <@U…>. Sending to Cloudflare…".

    The text is ours and carries real mentions, so it is not escaped; the services make every
    outside piece in it inert (``bot.domain.errors.inert``) when they compose it.
    """
    safe = truncate(text, SECTION_TEXT_MAX)
    return _finish(safe, [_section(safe)])


def render_request_ack(req: CaptureRequest, *, permalink: str | None) -> Rendered:
    """The ephemeral answer to the requester: "Request 1a2b3c4d posted in #support; waiting
    for approval." Links to the posted request when ``permalink`` is a plain https URL; says
    it is still being posted when Slack has not taken it yet (the worker goes on trying).
    """
    state = _ACK_WORDS.get(req.state, _CLOSED_TITLE.get(req.state, "posted").lower())
    where = _channel(req.channel_id)
    if req.parent_ts:
        line = f":inbox_tray: Request {_code(req.short_id)} posted in {where}; {state}."
        text = f"Request {escape_mrkdwn(req.short_id)} posted; {state}."
    else:
        line = f":inbox_tray: Request {_code(req.short_id)} saved; posting it in {where}…"
        text = f"Request {escape_mrkdwn(req.short_id)} saved; posting it…"
    if permalink and _PERMALINK.match(permalink):
        line += f" <{permalink}|See the request>"
    return _finish(text, [_section(line)])
