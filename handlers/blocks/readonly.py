"""Renderers for the read-only answers of ``/dex``: live status, devices, quota, history, help.

Each takes domain objects and returns a ``Rendered`` (fallback text + Block Kit dicts) that
has passed ``check_limits``. Anything that came from Cloudflare or a user is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.dex.fleet import LiveStatusUnavailable
from bot.dex.models import (
    Command,
    CommandStatus,
    CommandType,
    DeviceLiveStatus,
    EligibleDevice,
    IpInfo,
    Quota,
)
from bot.domain.model import CaptureRequest, RequestState
from handlers.blocks.common import (
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
    parse_timestamp,
    plural,
    relative_time,
    truncate,
)

MAX_STATUS_CARDS = 10
MAX_DEVICE_ROWS = 20
MAX_HISTORY_ROWS = 20
QUOTA_BAR_WIDTH = 20

_CONNECTION_EMOJI = {
    "connected": ":large_green_circle:",
    "disconnected": ":red_circle:",
    "paused": ":double_vertical_bar:",
}

_STATUS_WORDS: dict[CommandStatus, tuple[str, str]] = {
    CommandStatus.PENDING_EXEC: (":hourglass_flowing_sand:", "waiting for the device"),
    CommandStatus.PENDING_UPLOAD: (":arrow_up:", "uploading"),
    CommandStatus.SUCCESS: (":white_check_mark:", "succeeded"),
    CommandStatus.FAILED: (":x:", "failed"),
}

MAX_UNSENT_ROWS = 10
_COMMAND_NAMES = {
    CommandType.PCAP.value: "Packet capture",
    CommandType.WARP_DIAG.value: "WARP diagnostics",
    CommandType.SPEED_TEST.value: "Speed test",
}


def _finish(text: str, blocks: Sequence[Block]) -> Rendered:
    return check_limits(Rendered(text=text, blocks=[b.to_dict() for b in blocks]))


def _header(title: str) -> HeaderBlock:
    # plain_text never parses mentions, so the title needs truncating, not escaping.
    return HeaderBlock(
        text=PlainTextObject(text=truncate(title.strip() or "dexbot", HEADER_TEXT_MAX))
    )


def _section(text: str, fields: list[str] | None = None) -> SectionBlock:
    return SectionBlock(
        text=MarkdownTextObject(text=text),
        fields=[MarkdownTextObject(text=f) for f in fields] if fields else None,
    )


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _short_id(device_id: str | None) -> str:
    if not device_id:
        return MISSING
    # Inside a code span a backtick would end the span early.
    return "`" + escape_mrkdwn(device_id[:8]).replace("`", "'") + "`"


def _pct(value: float | None, decimals: int = 0) -> str:
    return MISSING if value is None else f"{value:.{decimals}f}%"


# -- live status -----------------------------------------------------------------------


def _wifi_word(dbm: float) -> str:
    if dbm >= -50:
        return "excellent"
    if dbm >= -60:
        return "good"
    if dbm >= -70:
        return "fair"
    return "poor"


def _ms(microseconds: float | None) -> str:
    if microseconds is None:
        return MISSING
    ms = microseconds / 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _isp(info: IpInfo | None) -> str:
    if info is None or (not info.aso and info.asn is None):
        return MISSING
    asn = f"AS{info.asn}" if info.asn is not None else None
    if info.aso and asn:
        return f"{outside(info.aso, 60)} ({asn})"
    return outside(info.aso, 60) if info.aso else str(asn)


def _status_card(s: DeviceLiveStatus, now: datetime) -> list[Block]:
    state = (s.status or "").lower()
    emoji = _CONNECTION_EMOJI.get(state, ":white_circle:")
    name = outside(s.device_name or s.device_id, 80)
    line = f"{emoji} *{name}* — {outside(s.status, 40)} · mode {outside(s.mode, 40)}"
    line += f" · colo {outside(s.colo, 10)}"

    battery = _pct(s.battery_pct)
    if s.battery_pct is not None and s.battery_charging is not None:
        battery += " (charging)" if s.battery_charging else " (on battery)"
    wifi_parts = []
    if s.wifi_strength_dbm is not None:
        dbm = s.wifi_strength_dbm
        wifi_parts.append(f"{dbm:.0f} dBm ({_wifi_word(dbm)})")
    if s.network_ssid:
        wifi_parts.append(outside(s.network_ssid, 40))
    rtt = s.rtt.rtt_us if s.rtt else None
    down, up = (rtt.downstream, rtt.upstream) if rtt else (None, None)

    fields = [
        f"*Platform*\n{outside(s.platform, 30)} · WARP {outside(s.version, 30)}",
        f"*CPU / RAM / disk*\n{_pct(s.cpu_pct)} / {_pct(s.ram_used_pct)} / "
        f"{_pct(s.disk_usage_pct)}",
        f"*Battery*\n{battery}",
        f"*Wi-Fi*\n{' · '.join(wifi_parts) or MISSING}",
        f"*Round-trip time*\ndownstream {_ms(down)} · upstream {_ms(up)}",
        f"*Estimated loss*\n{_pct(s.estimated_loss_pct, 1)}",
        f"*ISP*\n{_isp(s.isp_ipv4)}",
        f"*Last seen*\n{relative_time(parse_timestamp(s.timestamp), now)}",
    ]
    context = f"Device {_short_id(s.device_id)} · {outside(s.person_email, 80)}"
    return [_section(line, fields), _context(context)]


_UNAVAILABLE = {
    "no_data": "no live status in the last {minutes} min (not seen in that window)",
    "timeout": "Cloudflare did not answer in time for this device; try again shortly",
    "error": "its live status could not be read just now; try again shortly",
}


def _unavailable_card(s: LiveStatusUnavailable) -> list[Block]:
    name = outside(s.device_name or s.device_id, 80)
    why = _UNAVAILABLE[s.reason].format(minutes=s.since_minutes)
    return [_section(f":white_circle: *{name}* — {why}")]


def render_status(
    statuses: Sequence[DeviceLiveStatus | LiveStatusUnavailable], *, title: str, now: datetime
) -> Rendered:
    """A compact card per device's live status (at most 10, then "and N more").

    Shows connection state, mode, colo, platform and WARP version, CPU/RAM/disk, battery,
    Wi-Fi, RTT, estimated loss, ISP and when the device last reported. Missing values
    read "–". A device whose status could not be had shows one line saying why.
    """
    blocks: list[Block] = [_header(title)]
    if not statuses:
        blocks.append(_section("No live status to show: no device reported in that window."))
        return _finish(f"{escape_mrkdwn(title)}: no live status to show.", blocks)
    shown = statuses[:MAX_STATUS_CARDS]
    summary = []
    for index, status in enumerate(shown):
        if index:
            blocks.append(DividerBlock())
        name = outside(status.device_name or status.device_id, 80)
        if isinstance(status, LiveStatusUnavailable):
            blocks.extend(_unavailable_card(status))
            summary.append(f"{name} (no live status)")
            continue
        blocks.extend(_status_card(status, now))
        summary.append(f"{name} ({outside(status.status, 40)})")
    text = f"{escape_mrkdwn(title)}: {', '.join(summary)}"
    hidden = len(statuses) - len(shown)
    if hidden:
        more = f"…and {plural(hidden, 'more device')} not shown. Ask for fewer devices at a time."
        blocks.append(_context(more))
        text += f" and {hidden} more"
    return _finish(text, blocks)


# -- eligible devices ------------------------------------------------------------------


def _connectivity(status: str | None) -> str:
    """Connected or not, beside eligibility: an eligible device may still be offline."""
    if (status or "").lower() == "connected":
        return ":large_green_circle: connected"
    return f":red_circle: {outside(status, 30) if status else 'connection unknown'}"


def _device_row(d: EligibleDevice, now: datetime) -> str:
    name = outside(d.device_name or d.device_id, 80)
    seen = relative_time(parse_timestamp(d.timestamp), now)
    details = " · ".join(
        (
            outside(d.platform, 30),
            f"WARP {outside(d.version, 30)}",
            _connectivity(d.status),
            f"seen {seen}",
            _short_id(d.device_id),
        )
    )
    row = f"*{name}* · {outside(d.person_email, 80)}\n{details}"
    if not d.eligible:
        row += f"\n:no_entry_sign: {outside(d.ineligible_reason or 'no reason given', 300)}"
    return row


def render_devices(devices: list[EligibleDevice], *, heading: str, now: datetime) -> Rendered:
    """Devices that can take remote commands first, then the ones that cannot, with why.

    At most 20 rows; beyond that it says how many more and asks to narrow the search.
    """
    blocks: list[Block] = [_header(heading)]
    if not devices:
        blocks.append(
            _section(
                "No devices found. Only devices whose WARP client connected in the last hour "
                "are listed; check the name or email, or ask the person to connect WARP."
            )
        )
        return _finish(f"{escape_mrkdwn(heading)}: no devices found.", blocks)

    eligible = [d for d in devices if d.eligible]
    ineligible = [d for d in devices if not d.eligible]
    shown_eligible = eligible[:MAX_DEVICE_ROWS]
    shown_ineligible = ineligible[: MAX_DEVICE_ROWS - len(shown_eligible)]
    counts = f"{len(eligible)} eligible · {len(ineligible)} not eligible for remote commands"
    blocks.append(_context(counts))
    if shown_eligible:
        blocks.append(_section(":white_check_mark: *Eligible*"))
        blocks.extend(_section(_device_row(d, now)) for d in shown_eligible)
    else:
        blocks.append(_section(":information_source: No device here can take remote commands."))
    if shown_ineligible:
        blocks.append(DividerBlock())
        blocks.append(_section(":no_entry_sign: *Not eligible*"))
        blocks.extend(_section(_device_row(d, now)) for d in shown_ineligible)
    hidden = len(devices) - len(shown_eligible) - len(shown_ineligible)
    text = f"{escape_mrkdwn(heading)}: {counts}"
    if hidden:
        blocks.append(
            _context(
                f"…and {plural(hidden, 'more device')} not shown. "
                "Narrow the search with a device name or email."
            )
        )
        text += f" ({hidden} not shown)"
    return _finish(text, blocks)


# -- quota -----------------------------------------------------------------------------


def _bar(remaining: int, total: int) -> str:
    filled = 0 if total <= 0 else round(QUOTA_BAR_WIDTH * remaining / total)
    if remaining > 0:
        # Never show an empty bar while something is left, nor a full one after any use.
        filled = max(1, min(filled, QUOTA_BAR_WIDTH - (remaining < total)))
    return "`" + "█" * filled + "░" * (QUOTA_BAR_WIDTH - filled) + "`"


def render_quota(quota: Quota, *, awaiting_approval: int = 0, now: datetime) -> Rendered:
    """How many commands are left before the reset, as words and a bar.

    "7 of 25 commands left until 14:00 UTC (in 3 h)"; at 0, "quota exhausted until …".
    Mentions requests awaiting approval when there are any.
    """
    reset = as_utc(quota.reset_time)
    when = format_utc(reset, now)
    when += f" ({relative_time(reset, now)})" if reset > as_utc(now) else " (due now)"
    left = quota.remaining
    if left == 0:
        text = f"Quota exhausted until {when}"
        line = f":no_entry: *Quota exhausted* until {when}.\nNo command can run before then."
    else:
        text = f"{left} of {quota.quota} commands left until {when}"
        line = f":bar_chart: *{left} of {quota.quota}* commands left until {when}"
    # Usage can exceed the quota: the dashboard draws on it too.
    used = f"{quota.quota_usage} of {quota.quota} used"
    blocks: list[Block] = [_section(f"{line}\n{_bar(left, quota.quota)} {used}")]
    if awaiting_approval > 0:
        waiting = (
            f":hourglass_flowing_sand: {plural(awaiting_approval, 'request')} awaiting approval"
        )
        if left == 0:
            waiting += "; none can run before the reset"
        elif awaiting_approval > left:
            waiting += f", more than the {left} left"
        blocks.append(_section(waiting + "."))
        text += f"; {awaiting_approval} awaiting approval"
    blocks.append(
        _context(
            "The quota is shared with everyone using the Cloudflare dashboard for this "
            "account, so it can change at any moment."
        )
    )
    return _finish(text, blocks)


# -- history ---------------------------------------------------------------------------


def _created_key(command: Command) -> datetime:
    if command.created_date is None:
        return datetime.min.replace(tzinfo=UTC)
    return as_utc(command.created_date)


def _describe(command: Command) -> tuple[str, str, str]:
    """(emoji, status words, command name) for a row of history."""
    status = command.status_enum
    if status is None:
        emoji, words = ":grey_question:", outside(command.status, 40).lower()
    else:
        emoji, words = _STATUS_WORDS[status]
    name = _COMMAND_NAMES.get(command.type or "", outside(command.type, 40))
    return emoji, words, name


def _who(user_id: str | None) -> str:
    return f"<@{escape_mrkdwn(user_id)}>" if user_id else MISSING


def _origin(c: Command, ours: dict[str, CaptureRequest]) -> str:
    req = ours.get(c.id)
    if req is None:
        return "made outside dexbot (dashboard or API)"
    approved = f" · approved by {_who(req.decided_by)}" if req.decided_by else ""
    return f"asked by {_who(req.requester_id)}{approved} · request `{escape_mrkdwn(req.short_id)}`"


_UNSENT_WORDS = {
    RequestState.DENIED: (":no_entry:", "denied"),
    RequestState.EXPIRED: (":alarm_clock:", "expired unapproved"),
    RequestState.CANCELLED: (":heavy_multiplication_x:", "cancelled"),
    RequestState.DISPATCH_FAILED: (":x:", "not sent"),
}


def _unsent_row(req: CaptureRequest, now: datetime) -> str:
    emoji, words = _UNSENT_WORDS.get(req.state, (":grey_question:", str(req.state)))
    name = _COMMAND_NAMES.get(req.command_type, outside(req.command_type, 40))
    by = (
        f" by {_who(req.decided_by)}" if req.decided_by and req.state is RequestState.DENIED else ""
    )
    devices = ", ".join(f"*{outside(d.name, 60)}*" for d in req.devices) or MISSING
    return (
        f"{emoji} *{name}* · {words}{by} · {devices}\n"
        f"asked by {_who(req.requester_id)} {relative_time(req.created_at, now)} · request "
        f"`{escape_mrkdwn(req.short_id)}` · never reached Cloudflare"
    )


def _history_row(
    c: Command, now: datetime, names: dict[str, str], ours: dict[str, CaptureRequest]
) -> str:
    emoji, words, name = _describe(c)
    device = names.get(c.device_id or "")
    where = f"*{outside(device, 80)}*" if device else _short_id(c.device_id)
    if c.completed_date is not None:
        done = f"completed {format_utc(c.completed_date, now)}"
    elif c.status_enum is not None and c.status_enum.is_final:
        done = f"completed {MISSING}"
    else:
        done = "not finished yet"
    created = relative_time(c.created_date, now)
    return (
        f"{emoji} *{name}* · {words} · {where}\n"
        f"{outside(c.user_email, 80)} · created {created} · {done}\n{_origin(c, ours)}"
    )


def render_history(
    commands: list[Command],
    *,
    heading: str,
    now: datetime,
    device_names: dict[str, str] | None = None,
    ours: dict[str, CaptureRequest] | None = None,
    unsent: Sequence[CaptureRequest] = (),
) -> Rendered:
    """Commands newest first: type, status, device, user, created and completed times, and
    who asked and approved (or that it was made outside dexbot); then our requests that never
    reached Cloudflare (denied, expired, cancelled, not sent).

    ``device_names`` maps device ids to names; a device not in it shows its short id. At
    most 20 rows, then how many more.
    """
    blocks: list[Block] = [_header(heading)]
    owned = ours or {}
    closed: list[Block] = [_section(_unsent_row(r, now)) for r in unsent[:MAX_UNSENT_ROWS]]
    if closed:
        closed.insert(0, _context("Requests that never reached Cloudflare:"))
    if not commands and closed:
        blocks.append(_section("No commands found at Cloudflare for this search."))
        return _finish(f"{escape_mrkdwn(heading)}: no commands found.", [*blocks, *closed])
    if not commands:
        blocks.append(_section("No commands found for this search."))
        return _finish(f"{escape_mrkdwn(heading)}: no commands found.", blocks)
    names = device_names or {}
    ordered = sorted(commands, key=_created_key, reverse=True)
    shown = ordered[:MAX_HISTORY_ROWS]
    blocks.extend(_section(_history_row(c, now, names, owned)) for c in shown)
    _, words, name = _describe(ordered[0])
    text = (
        f"{escape_mrkdwn(heading)}: {plural(len(commands), 'command')}; latest: {name}, {words}, "
        f"created {relative_time(ordered[0].created_date, now)}"
    )
    hidden = len(ordered) - len(shown)
    if hidden:
        blocks.append(
            _context(f"…and {plural(hidden, 'older command')} not shown. Narrow the search.")
        )
    return _finish(text, [*blocks, *closed])


# -- help ------------------------------------------------------------------------------


def render_help(help_text: str) -> Rendered:
    """Wrap the grammar's help text in sections (split at line ends to fit 3,000 chars).

    The text is escaped, so placeholders such as ``<device>`` show literally.
    """
    help_text = help_text.strip() or "No help available."
    chunks: list[str] = []
    for raw in help_text.splitlines():
        line = fit_escaped(raw, SECTION_TEXT_MAX)
        if chunks and len(chunks[-1]) + 1 + len(line) <= SECTION_TEXT_MAX:
            chunks[-1] += "\n" + line
        elif line.strip():  # a blank line never starts a section: Slack rejects empty text
            chunks.append(line)
    blocks: list[Block] = [_section(chunk) for chunk in chunks[:49]]
    if len(chunks) > 49:
        blocks.append(_context("…help truncated."))
    return _finish(fit_escaped(help_text, SECTION_TEXT_MAX), blocks)
