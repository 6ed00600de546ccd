"""The request modal (``/dex`` alone, or a capture missing its person, type or reason) and the
small "why deny?" modal; reading the request form back is in ``handlers.blocks.form_read``.

Pure: view dicts in, view dicts out. Option and label texts are ``plain_text``, which Slack
never parses for mentions or links, so they are truncated to Slack's limits, not escaped;
anything shown as mrkdwn (ineligible devices and their reasons, grammar notes) is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)

from bot.blockkit import view_problems
from bot.dex.models import CommandType, EligibleDevice
from bot.domain.grammar import MAX_REASON, CaptureDraft, UserTarget
from bot.domain.rules import Preset
from handlers.blocks.common import (
    SECTION_TEXT_MAX,
    Rendered,
    check_limits,
    outside,
    plural,
    truncate,
)
from handlers.blocks.form_read import (  # reading the form back lives there; re-exported
    ALL_DEVICES,
    ANYWAY,
    ANYWAY_TEXT,
    draft_from_state,
    modal_errors,
    no_devices_error,
    offline_error,
    read_submission,
)
from handlers.blocks.parse_text import describe_clamped
from handlers.ids import ActionId, BlockId, CallbackId

TITLE_MAX = 24
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OPTIONS_MAX = 100
PRIVATE_METADATA_MAX = 3000
MAX_INELIGIBLE_ROWS = 10

_TYPES = (
    (CommandType.PCAP, "Packet capture"),
    (CommandType.WARP_DIAG, "WARP diagnostic"),
    (CommandType.SPEED_TEST, "Speed test"),
)
_INTERFACES = (("default", "Default interface"), ("tunnel", "Tunnel interface"))
_ALL_ROUTES = "all-routes"


def _action(block: BlockId) -> str:
    return f"dex.modal.{block.value}"


#: The value of a preset's option in the "What to run" choice.
PRESET_PREFIX = "preset:"


def preset_value(preset: Preset) -> str:
    """``preset:vpn-drops``: a preset picked in the form instead of a type."""
    return f"{PRESET_PREFIX}{preset.name}"


def _option(text: str, value: str) -> Option:
    return Option(text=truncate(text, OPTION_TEXT_MAX), value=value)


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _device_value(d: EligibleDevice) -> str:
    # Multi-user devices need the registration too; "|" never occurs in either id.
    value = f"{d.device_id}|{d.registration_id}" if d.registration_id else d.device_id
    if len(value) > OPTION_VALUE_MAX:
        raise ValueError(f"device option value is {len(value)} characters; max {OPTION_VALUE_MAX}")
    return value


def _device_text(d: EligibleDevice) -> str:
    return f"{(d.device_name or d.device_id).strip()} · {d.platform or '–'}"


def _picked(
    draft: CaptureDraft | None,
    shown: list[tuple[EligibleDevice, Option]],
    all_option: Option | None,
) -> Option | None:
    """The option the draft asked for (``--all``, ``--device``), or the only device."""
    if draft is not None and draft.all_devices and all_option is not None:
        return all_option
    if draft is not None and draft.device:
        wanted = draft.device.casefold()
        for d, option in shown:
            if wanted in (d.device_id.casefold(), (d.device_name or "").casefold()):
                return option
    return shown[0][1] if len(shown) == 1 and all_option is None else None


def _device_blocks(draft: CaptureDraft | None, devices: list[EligibleDevice] | None) -> list[Block]:
    if devices is None:
        return [_context(":bust_in_silhouette: Pick a person to see their devices.")]
    eligible = [d for d in devices if d.eligible]
    ineligible = [d for d in devices if not d.eligible]
    blocks: list[Block] = []
    if eligible:
        room = OPTIONS_MAX - (1 if len(eligible) > 1 else 0)
        shown = [(d, _option(_device_text(d), _device_value(d))) for d in eligible[:room]]
        all_option = None
        if len(eligible) > 1:
            all_option = _option(f"All eligible devices ({len(eligible)})", ALL_DEVICES)
        options = ([all_option] if all_option else []) + [o for _, o in shown]
        blocks.append(
            InputBlock(
                block_id=BlockId.DEVICE.value,
                label="Device",
                element=StaticSelectElement(
                    action_id=_action(BlockId.DEVICE),
                    placeholder="Pick a device",
                    options=options,
                    initial_option=_picked(draft, shown, all_option),
                ),
                optional=False,
            )
        )
        if len(shown) < len(eligible):
            blocks.append(
                _context(
                    f"Showing the first {len(shown)} of {len(eligible)} eligible devices; "
                    "use `/dex devices` to search for the one you need."
                )
            )
    elif devices:
        blocks.append(
            _context(
                ":no_entry_sign: None of this person's devices can take remote commands now "
                "(only devices whose WARP client connected in the last hour can). "
                "Pick someone else, or ask them to connect WARP and pick them again."
            )
        )
    else:
        blocks.append(
            _context(
                ":no_entry_sign: This person has no WARP devices that Cloudflare knows of. "
                "Pick someone else."
            )
        )
    if ineligible:
        rows = [
            f"*{outside(d.device_name or d.device_id, 60)}* · {outside(d.platform, 30)} — "
            f"{outside(d.ineligible_reason or 'no reason given', 200)}"
            for d in ineligible[:MAX_INELIGIBLE_ROWS]
        ]
        # Escaping can grow each row fivefold: keep whole rows while they fit a context.
        while len("\n".join(rows)) > SECTION_TEXT_MAX - 100:
            rows.pop()
        hidden = len(ineligible) - len(rows)
        if hidden:
            rows.append(f"…and {plural(hidden, 'more device')}")
        blocks.append(_context(":no_entry_sign: Not eligible:\n" + "\n".join(rows)))
    return blocks


def _text_input(
    block: BlockId,
    label: str,
    *,
    placeholder: str,
    initial: int | None,
    unit: str = "",
    hint: str | None = None,
) -> InputBlock:
    return InputBlock(
        block_id=block.value,
        label=label,
        element=PlainTextInputElement(
            action_id=_action(block),
            placeholder=placeholder,
            initial_value=f"{initial}{unit}" if initial is not None else None,
            max_length=20,
        ),
        hint=truncate(hint, 2000) if hint else None,
        optional=True,
    )


def _checkboxes(
    block: BlockId, label: str, choices: tuple[tuple[str, str], ...], checked: set[str], hint: str
) -> InputBlock:
    options = [_option(text, value) for value, text in choices]
    return InputBlock(
        block_id=block.value,
        label=label,
        element=CheckboxesElement(
            action_id=_action(block),
            options=options,
            initial_options=[o for o in options if o.value in checked] or None,
        ),
        hint=hint,
        optional=True,
    )


def request_modal(
    draft: CaptureDraft | None,
    *,
    devices: list[EligibleDevice] | None,
    limits_note: str,
    private_metadata: str,
    require_reason: bool = True,
    presets: Sequence[Preset] = (),
) -> dict[str, Any]:
    """The ``views.open`` view asking who, which device, what to run, for how long, and why.

    ``draft`` pre-fills what the user typed; ``devices`` are the chosen person's devices
    (None until a person is picked: choosing one dispatches ``ActionId.MODAL_USER`` so the
    view can be updated). Ineligible devices are listed with their reason, not offered.
    """
    if len(private_metadata) > PRIVATE_METADATA_MAX:
        raise ValueError(f"private_metadata is {len(private_metadata)} characters; max 3000")
    d = draft or CaptureDraft(None, None)
    user = d.target.user_id if isinstance(d.target, UserTarget) else None
    types = [_option(text, kind.value) for kind, text in _TYPES]
    # Slack allows 10 radio options: the three types, then up to seven presets.
    types += [
        _option(
            f"Preset {p.name}" + (f": {p.description}" if p.description else ""), preset_value(p)
        )
        for p in list(presets)[:7]
    ]
    blocks: list[Block] = []
    if d.notes:
        blocks.append(_context("\n".join(outside(n, 100) for n in d.notes[:5])))
    if d.clamped:  # what was typed over a limit, so the person sees what the form holds
        held = "; ".join(describe_clamped(c) for c in d.clamped)
        blocks.append(_context(f"Held to the maximum: {held}."))
    blocks.append(
        InputBlock(
            block_id=BlockId.USER.value,
            label="Whose device?",
            element=UserSelectElement(
                action_id=ActionId.MODAL_USER.value, placeholder="Pick a person", initial_user=user
            ),
            dispatch_action=True,
        )
    )
    blocks.extend(_device_blocks(draft, devices))
    if devices is not None and not any(x.eligible for x in devices):
        # Nothing could be accepted for this person: ask only for another person.
        return _request_view(blocks, private_metadata)
    blocks.append(
        InputBlock(
            block_id=BlockId.TYPE.value,
            label="What to run",
            element=RadioButtonsElement(
                action_id=ActionId.MODAL_TYPE.value,
                options=types,
                initial_option=next(
                    (o for o in types if d.command_type and o.value == d.command_type.value), None
                ),
            ),
            dispatch_action=True,  # the form then shows that type's fields only
        )
    )
    blocks += _type_fields(d, limits_note)
    blocks += [
        _checkboxes(
            BlockId.ANYWAY,
            "If the device looks offline",
            ((ANYWAY, ANYWAY_TEXT),),
            {ANYWAY} if d.anyway else set(),
            "Cloudflare waits up to 10 min for an offline device, then fails, "
            "and the command still counts against the quota.",
        ),
        InputBlock(
            block_id=BlockId.REASON.value,
            label="Reason",
            element=PlainTextInputElement(
                action_id=_action(BlockId.REASON),
                multiline=True,
                max_length=MAX_REASON,
                placeholder="Why you need this; the approver will see it",
                initial_value=d.reason,
            ),
            optional=not require_reason,
        ),
    ]
    return _request_view(blocks, private_metadata)


def _type_fields(d: CaptureDraft, limits_note: str) -> list[Block]:
    """The fields of the chosen type only (none until a type is chosen)."""
    if d.command_type is CommandType.PCAP:
        return [
            _text_input(
                BlockId.DURATION,
                "Capture length",
                placeholder="5m",
                initial=d.time_limit_min,
                unit="m",
                hint=limits_note or None,
            ),
            _text_input(
                BlockId.SIZE, "Max file size in MB", placeholder="MB", initial=d.max_file_size_mb
            ),
            _text_input(
                BlockId.SNAPLEN,
                "Packet size in bytes",
                placeholder="1500",
                initial=d.packet_size_bytes,
            ),
        ]
    if d.command_type is CommandType.WARP_DIAG:
        return [
            _checkboxes(
                BlockId.ALL_ROUTES,
                "Routes",
                ((_ALL_ROUTES, "Test all routes"),),
                # Cloudflare tests all routes unless told not to.
                set() if d.test_all_routes is False else {_ALL_ROUTES},
                "Untick to skip testing every route (faster).",
            )
        ]
    if d.command_type is CommandType.SPEED_TEST:
        return [
            _checkboxes(
                BlockId.INTERFACES,
                "Interfaces",
                _INTERFACES,
                set(d.interfaces or ()),
                "Leave both unticked for Cloudflare's default.",
            )
        ]
    return []


def _request_view(blocks: list[Block], private_metadata: str) -> dict[str, Any]:
    check_limits(Rendered("", [b.to_dict() for b in blocks]), surface="modal")
    return _checked_view(
        {
            "type": "modal",
            "callback_id": CallbackId.REQUEST.value,
            "title": _plain("Remote capture"),
            "submit": _plain("Request"),
            "close": _plain("Cancel"),
            "private_metadata": private_metadata,
            "blocks": [b.to_dict() for b in blocks],
        }
    )


def _checked_view(view: dict[str, Any]) -> dict[str, Any]:
    """``view`` if Slack would take it (title, buttons, metadata, blocks); ValueError if not."""
    problems = view_problems(view)
    if problems:
        raise ValueError("; ".join(problems))
    return view


def _plain(text: str) -> dict[str, str]:
    if len(text) > TITLE_MAX:
        raise ValueError(f"modal title or button {text!r} is over {TITLE_MAX} characters")
    return {"type": "plain_text", "text": text}


def deny_modal(request_id: str, short_id: str) -> dict[str, Any]:
    """The "Deny request?" modal: an optional reason the requester will see."""
    if len(request_id) > PRIVATE_METADATA_MAX:
        raise ValueError("request id too long for private_metadata")
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"Deny request `{outside(short_id, 20)}`? Nothing will run on the device."
            )
        ),
        InputBlock(
            block_id=BlockId.REASON.value,
            label="Reason (optional)",
            element=PlainTextInputElement(
                action_id=_action(BlockId.REASON),
                multiline=True,
                max_length=MAX_REASON,
                placeholder="The requester will see this",
            ),
            optional=True,
        ),
    ]
    check_limits(Rendered("", [b.to_dict() for b in blocks]), surface="modal")
    return _checked_view(
        {
            "type": "modal",
            "callback_id": CallbackId.DENY_REASON.value,
            "title": _plain("Deny request"),
            "submit": _plain("Deny"),
            "close": _plain("Back"),
            "private_metadata": request_id,
            "blocks": [b.to_dict() for b in blocks],
        }
    )


__all__ = [
    "ALL_DEVICES",
    "ANYWAY",
    "ANYWAY_TEXT",
    "deny_modal",
    "draft_from_state",
    "modal_errors",
    "no_devices_error",
    "offline_error",
    "read_submission",
    "request_modal",
]
