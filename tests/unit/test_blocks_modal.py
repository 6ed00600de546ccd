"""The request modal a supporter fills in, what its submission reads back as, and the deny modal.

Golden files (``tests/golden/modal_*.json``) hold the views as Slack receives them from
``views.open``; rewrite with ``UPDATE_GOLDEN=1`` and review the diff by eye.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from bot.dex.models import CommandType, EligibleDevice
from bot.domain.grammar import CaptureDraft, Clamped, DeviceTarget, UserTarget
from handlers.blocks.modal import (
    ALL_DEVICES,
    deny_modal,
    modal_errors,
    read_submission,
    request_modal,
)
from handlers.ids import ActionId, BlockId, CallbackId
from tests.unit.test_blocks_readonly import GOLDEN, HOSTILE

ANN_MAC = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
ANN_LAB = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
ANN_PHONE = "c4r01000-1111-4222-8333-444455556666"
LIMITS = "Up to 10 min (e.g. 90s, 5m); files up to 50 MB; packets up to 1500 bytes."
META = '{"channel_id": "C0SUPPORT"}'


def device(name: str, device_id: str = ANN_MAC, **overrides: Any) -> EligibleDevice:
    wire: dict[str, Any] = {
        "deviceId": device_id,
        "deviceName": name,
        "eligible": True,
        "personEmail": "ann@example.com",
        "platform": "mac",
        "status": "connected",
        "timestamp": "2026-03-10 10:57:00+00",
        "version": "2025.1.861.0",
    }
    wire.update(overrides)
    return EligibleDevice.model_validate(wire)


ANN_DEVICES = [
    device("ann-macbook"),
    device("lab-linux-01", ANN_LAB, platform="linux", registrationId="reg-7f3e9a21"),
    device(
        "ann-pixel",
        ANN_PHONE,
        platform="android",
        eligible=False,
        ineligibleReason="Remote captures are not supported on Android",
    ),
]
DRAFT = CaptureDraft(
    CommandType.PCAP,
    UserTarget("U0ANN0001"),
    device="lab-linux-01",
    time_limit_min=10,
    max_file_size_mb=50,
    reason="VPN drops every few minutes",
    clamped=(Clamped("time_limit_min", 90, 10),),
)


def assert_golden_view(name: str, view: dict[str, Any]) -> None:
    """Compare with tests/golden/<name>.json, or rewrite it when UPDATE_GOLDEN=1."""
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(view, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        return
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 and review it"
    assert json.loads(path.read_text()) == view


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


# -- golden ----------------------------------------------------------------------------


def test_blank_modal_matches_golden() -> None:
    view = request_modal(None, devices=None, limits_note=LIMITS, private_metadata=META)
    assert_golden_view("modal_request_blank", view)


def test_modal_with_devices_matches_golden() -> None:
    draft = CaptureDraft(None, UserTarget("U0ANN0001"))
    view = request_modal(draft, devices=ANN_DEVICES, limits_note=LIMITS, private_metadata=META)
    assert_golden_view("modal_request_devices", view)


def test_modal_prefilled_from_a_draft_matches_golden() -> None:
    view = request_modal(DRAFT, devices=ANN_DEVICES, limits_note=LIMITS, private_metadata=META)
    assert_golden_view("modal_request_draft", view)


def test_deny_modal_matches_golden() -> None:
    assert_golden_view("modal_deny", deny_modal("1a2b3c4d-5e6f-4a7b", "1a2b3c4d"))


# -- the request modal -----------------------------------------------------------------


def test_request_modal_frame() -> None:
    view = request_modal(None, devices=None, limits_note=LIMITS, private_metadata=META)
    assert view["type"] == "modal"
    assert view["callback_id"] == CallbackId.REQUEST
    assert view["title"]["text"] == "Remote capture"
    assert (view["submit"]["text"], view["close"]["text"]) == ("Request", "Cancel")
    assert view["private_metadata"] == META
    user = block(view, BlockId.USER)
    assert user["dispatch_action"] is True
    assert user["element"]["action_id"] == ActionId.MODAL_USER
    assert block(view, BlockId.TYPE)["element"]["action_id"] == ActionId.MODAL_TYPE
    assert "Pick a person to see their devices" in json.dumps(view, ensure_ascii=False)
    assert not any(b.get("block_id") == BlockId.DEVICE for b in view["blocks"])
    # No type chosen yet: no type's fields are asked for.
    shown = {b.get("block_id") for b in view["blocks"]}
    assert not shown & {BlockId.DURATION, BlockId.SIZE, BlockId.SNAPLEN, BlockId.INTERFACES}
    assert block(view, BlockId.TYPE)["dispatch_action"] is True
    assert block(view, BlockId.REASON)["element"]["max_length"] == 500


def test_only_eligible_devices_are_offered_and_all_comes_first() -> None:
    view = request_modal(None, devices=ANN_DEVICES, limits_note=LIMITS, private_metadata=META)
    select = block(view, BlockId.DEVICE)
    assert select["optional"] is False
    values = [o["value"] for o in select["element"]["options"]]
    assert values == [ALL_DEVICES, ANN_MAC, f"{ANN_LAB}|reg-7f3e9a21"]
    texts = [o["text"]["text"] for o in select["element"]["options"]]
    assert texts[1:] == ["ann-macbook · mac", "lab-linux-01 · linux"]
    assert "Remote captures are not supported on Android" in json.dumps(view, ensure_ascii=False)


def test_one_eligible_device_is_preselected_without_an_all_option() -> None:
    view = request_modal(None, devices=ANN_DEVICES[:1], limits_note="", private_metadata="")
    element = block(view, BlockId.DEVICE)["element"]
    assert [o["value"] for o in element["options"]] == [ANN_MAC]
    assert element["initial_option"]["value"] == ANN_MAC


def test_draft_fills_person_device_type_length_and_reason() -> None:
    view = request_modal(DRAFT, devices=ANN_DEVICES, limits_note=LIMITS, private_metadata=META)
    assert block(view, BlockId.USER)["element"]["initial_user"] == "U0ANN0001"
    assert block(view, BlockId.DEVICE)["element"]["initial_option"]["value"].startswith(ANN_LAB)
    assert block(view, BlockId.TYPE)["element"]["initial_option"]["value"] == "pcap"
    assert block(view, BlockId.DURATION)["element"]["initial_value"] == "10m"
    assert block(view, BlockId.SIZE)["element"]["initial_value"] == "50"
    assert block(view, BlockId.REASON)["element"]["initial_value"] == DRAFT.reason
    everything = CaptureDraft(
        CommandType.WARP_DIAG, DeviceTarget("x"), all_devices=True, test_all_routes=False
    )
    view = request_modal(everything, devices=ANN_DEVICES, limits_note="", private_metadata="")
    assert "initial_user" not in block(view, BlockId.USER)["element"]
    assert block(view, BlockId.DEVICE)["element"]["initial_option"]["value"] == ALL_DEVICES
    assert "initial_options" not in block(view, BlockId.ALL_ROUTES)["element"]


def test_no_eligible_device_says_so_and_offers_nothing() -> None:
    view = request_modal(None, devices=ANN_DEVICES[2:], limits_note="", private_metadata="")
    assert not any(b.get("block_id") == BlockId.DEVICE for b in view["blocks"])
    assert "can take remote commands now" in json.dumps(view, ensure_ascii=False)


def test_hostile_device_names_and_reasons_are_escaped_where_mrkdwn() -> None:
    bad = device(HOSTILE, eligible=False, ineligibleReason=HOSTILE, platform=HOSTILE)
    draft = CaptureDraft(None, None, notes=(HOSTILE,))
    out = json.dumps(request_modal(draft, devices=[bad], limits_note="", private_metadata=""))
    assert "<!channel>" not in out
    assert "&lt;!channel&gt;" in out


def test_two_hundred_devices_are_capped_at_one_hundred_options_and_say_so() -> None:
    many = [device(f"laptop-{n:03}-" + "x" * 100, f"id-{n:03}") for n in range(200)]
    view = request_modal(None, devices=many, limits_note=LIMITS, private_metadata=META)
    options = block(view, BlockId.DEVICE)["element"]["options"]
    assert len(options) == 100
    assert all(len(o["text"]["text"]) <= 75 for o in options)
    assert "Showing the first 99 of 200 eligible devices" in json.dumps(view, ensure_ascii=False)
    assert len(view["blocks"]) <= 100


def test_ten_devices_fit() -> None:
    ten = [device(f"d{n}", f"id-{n}") for n in range(10)] + [
        device(f"old{n}", f"old-{n}", eligible=False, ineligibleReason="old") for n in range(15)
    ]
    view = request_modal(None, devices=ten, limits_note=LIMITS, private_metadata=META)
    assert len(block(view, BlockId.DEVICE)["element"]["options"]) == 11
    assert "…and 5 more devices" in json.dumps(view, ensure_ascii=False)


# -- reading the submission ------------------------------------------------------------

# view.state.values as Slack sends it in a view_submission payload (ids from the modal).
STATE_VALUES: dict[str, Any] = {
    "user": {"dex.modal.user": {"type": "users_select", "selected_user": "U0ANN0001"}},
    "device": {
        "dex.modal.device": {
            "type": "static_select",
            "selected_option": {
                "text": {"type": "plain_text", "text": "lab-linux-01 · linux", "emoji": True},
                "value": f"{ANN_LAB}|reg-7f3e9a21",
            },
        }
    },
    "type": {
        "dex.modal.type": {
            "type": "radio_buttons",
            "selected_option": {
                "text": {"type": "plain_text", "text": "Packet capture", "emoji": True},
                "value": "pcap",
            },
        }
    },
    "duration": {"dex.modal.duration": {"type": "plain_text_input", "value": "90s"}},
    "size": {"dex.modal.size": {"type": "plain_text_input", "value": None}},
    "snaplen": {"dex.modal.snaplen": {"type": "plain_text_input", "value": "1500"}},
    "all_routes": {
        "dex.modal.all_routes": {
            "type": "checkboxes",
            "selected_options": [
                {
                    "text": {"type": "plain_text", "text": "Test all routes", "emoji": True},
                    "value": "all-routes",
                }
            ],
        }
    },
    "interfaces": {"dex.modal.interfaces": {"type": "checkboxes", "selected_options": []}},
    "reason": {
        "dex.modal.reason": {"type": "plain_text_input", "value": "VPN drops <!channel> & more"}
    },
}


def test_read_submission_reads_every_field_raw() -> None:
    assert read_submission(STATE_VALUES) == {
        "user": "U0ANN0001",
        "device": f"{ANN_LAB}|reg-7f3e9a21",
        "type": "pcap",
        "duration": "90s",
        "size": None,
        "snaplen": "1500",
        "all_routes": ["all-routes"],
        "interfaces": [],
        "anyway": None,
        "reason": "VPN drops <!channel> & more",
    }


def test_read_submission_round_trips_the_modal_ids() -> None:
    ids = {}
    for kind in CommandType:  # each type shows its own fields: together they are all of them
        draft = CaptureDraft(kind, UserTarget("U0ANN0001"))
        view = request_modal(draft, devices=ANN_DEVICES, limits_note=LIMITS, private_metadata=META)
        ids |= {
            b["block_id"]: b["element"]["action_id"] for b in view["blocks"] if b["type"] == "input"
        }
    expected = {k: next(iter(v)) for k, v in STATE_VALUES.items()}
    assert expected | {"anyway": "dex.modal.anyway"} == ids


def test_read_submission_tolerates_missing_blocks() -> None:
    partial = {k: v for k, v in STATE_VALUES.items() if k not in ("device", "interfaces")}
    fields = read_submission(partial | {"junk": {}, "size": {}})
    assert fields["device"] is None and fields["interfaces"] is None and fields["size"] is None
    assert fields["user"] == "U0ANN0001"
    assert read_submission({}) == {b.value: None for b in BlockId}


def test_modal_errors_shape() -> None:
    body = modal_errors({BlockId.DURATION: "Give a length like 5m.", "reason": "Add a reason."})
    assert body == {
        "response_action": "errors",
        "errors": {"duration": "Give a length like 5m.", "reason": "Add a reason."},
    }
    assert json.loads(json.dumps(body)) == body


# -- deny ------------------------------------------------------------------------------


def test_deny_modal_asks_an_optional_reason() -> None:
    view = deny_modal("1a2b3c4d-5e6f-4a7b", "1a2b3c4d")
    assert view["callback_id"] == CallbackId.DENY_REASON
    assert view["private_metadata"] == "1a2b3c4d-5e6f-4a7b"
    assert view["submit"]["text"] == "Deny"
    reason = block(view, BlockId.REASON)
    assert reason["optional"] is True


@pytest.mark.parametrize("metadata", ["x" * 3001])
def test_oversized_private_metadata_is_refused(metadata: str) -> None:
    with pytest.raises(ValueError, match="private_metadata"):
        request_modal(None, devices=None, limits_note="", private_metadata=metadata)


def test_ampersand_heavy_names_and_notes_still_fit() -> None:
    amps = "&" * 1000
    bad = [device(amps, f"id-{n}", eligible=n < 3, ineligibleReason=amps) for n in range(30)]
    draft = CaptureDraft(None, None, notes=(amps, amps, amps))
    view = request_modal(draft, devices=bad, limits_note=amps, private_metadata="")
    assert "more devices" in json.dumps(view, ensure_ascii=False)
