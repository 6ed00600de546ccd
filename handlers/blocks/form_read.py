"""Reading the request form back: its fields as Slack submits them, what it holds (to render
it again after the person or the type changed), and the errors shown under its fields.

Pure: ``view.state.values`` in, plain values and ``response_action: errors`` answers out.
"""

from __future__ import annotations

from typing import Any

from bot.blockkit import input_block_ids
from bot.dex.models import CommandType
from bot.domain import durations
from bot.domain.grammar import CaptureDraft, UserTarget
from handlers.blocks.capture import offline_warning
from handlers.blocks.common import truncate
from handlers.ids import BlockId

#: Value of the device option meaning "every eligible device of this person".
ALL_DEVICES = "__all__"
#: The checkbox value of "go ahead even if the device looks offline" (``--anyway``).
ANYWAY = "anyway"
ANYWAY_TEXT = "Go ahead even if the device looks offline"
ERROR_MAX = 300


def _value(action: dict[str, Any]) -> str | list[str] | None:
    kind = action.get("type")
    if kind == "users_select":
        return action.get("selected_user")
    if kind in ("static_select", "radio_buttons"):
        return (action.get("selected_option") or {}).get("value")
    if kind == "plain_text_input":
        return action.get("value")
    if kind == "checkboxes":
        return [o["value"] for o in action.get("selected_options") or [] if "value" in o]
    return None


def read_submission(state_values: dict[str, Any]) -> dict[str, str | list[str] | None]:
    """Each field's raw value from ``view.state.values``, keyed by ``BlockId`` value.

    users_select -> user id; static select and radio -> the chosen option's value; text ->
    what was typed (None if left empty); checkboxes -> the ticked values. A block that is
    missing (the device list before a person is picked) reads None.
    """
    fields: dict[str, str | list[str] | None] = {}
    for block in BlockId:
        actions = state_values.get(block.value) or {}
        # One element per input block; its action_id is not needed to read it.
        action = next(iter(actions.values()), None) if isinstance(actions, dict) else None
        fields[block.value] = _value(action) if isinstance(action, dict) else None
    return fields


def _minutes(raw: Any) -> int | None:
    try:
        return durations.parse_minutes(str(raw).strip()) if raw else None
    except durations.ReadError:
        return None  # Slack keeps what was typed; the submission reports it


def _number(raw: Any) -> int | None:
    text = str(raw or "").strip().upper().removesuffix("MB").removesuffix("B").strip()
    return int(text) if text.isdigit() else None


def draft_from_state(
    fields: dict[str, str | list[str] | None], *, user_id: str | None = None
) -> CaptureDraft:
    """What the form holds now (``read_submission``'s fields), to render it again after the
    person or the type changed. ``user_id`` replaces the person (their device is dropped)."""
    user = user_id if user_id is not None else fields.get(BlockId.USER.value)
    try:
        kind = CommandType(str(fields.get(BlockId.TYPE.value)))
    except ValueError:
        kind = None
    device = None if user_id is not None else fields.get(BlockId.DEVICE.value)
    routes = fields.get(BlockId.ALL_ROUTES.value)
    return CaptureDraft(
        command_type=kind,
        target=UserTarget(str(user)) if user else None,
        device=str(device).split("|")[0] if device and device != ALL_DEVICES else None,
        all_devices=device == ALL_DEVICES,
        time_limit_min=_minutes(fields.get(BlockId.DURATION.value)),
        max_file_size_mb=_number(fields.get(BlockId.SIZE.value)),
        packet_size_bytes=_number(fields.get(BlockId.SNAPLEN.value)),
        # Never shown yet means Cloudflare's default (all routes); shown and unticked means no.
        test_all_routes=None if routes is None else bool(routes),
        interfaces=tuple(fields.get(BlockId.INTERFACES.value) or ()) or None,
        reason=str(fields.get(BlockId.REASON.value) or "") or None,
        anyway=bool(fields.get(BlockId.ANYWAY.value)),
    )


def no_devices_error() -> dict[str, str]:
    """The submission's errors when the chosen person has nothing that can run a command."""
    return {BlockId.USER.value: "None of this person's devices can run it; pick someone else."}


def offline_error(devices: list[tuple[str, Any]]) -> dict[str, str]:
    """The submission's errors for a device that looks offline: tick the box to go ahead."""
    # Slack shows field errors as plain text: no emoji code, and short.
    lines = [offline_warning(name, snap).removeprefix(":warning: ") + "." for name, snap in devices]
    lines.append(f"Tick “{ANYWAY_TEXT}” if it is still worth it.")
    return {BlockId.ANYWAY.value: truncate(" ".join(lines), ERROR_MAX)}


def modal_errors(errors: dict[str, str], view: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``view_submission`` answer that shows ``errors`` under their input blocks.

    Slack refuses errors naming a block that is not an input of the submitted ``view`` (the
    device select exists only once a person is picked), so with ``view`` such errors are
    shown under the person field, which every request form has.
    """
    inputs = input_block_ids(view) if view and view.get("blocks") else None
    shown: dict[str, str] = {}
    for key, message in errors.items():
        target = str(key) if inputs is None or str(key) in inputs else BlockId.USER.value
        shown[target] = f"{shown[target]} {message}" if target in shown else message
    return {"response_action": "errors", "errors": shown}
