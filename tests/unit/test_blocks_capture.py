"""What the requester, the approver and the thread see as a capture request moves along.

Golden tests render one realistic request in every state, as the parent message in the
requester's channel and as the approver's card, and compare with
``tests/golden/capture_*.json``. After an intended change, rewrite and review by eye:

    UPDATE_GOLDEN=1 /work/venv/bin/pytest tests/unit/test_blocks_capture.py

The focused tests check that buttons appear only while a decision is possible, carry only
the request id, ask for confirmation, and that text from outside can never ping anyone.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.model import CaptureRequest, CommandRecord, RequestState, TargetDevice
from bot.domain.quota import forecast
from handlers.blocks.capture import (
    describe_command,
    render_card,
    render_parent,
    render_request_ack,
    render_thread_note,
    render_thread_status,
)
from handlers.blocks.common import Rendered
from handlers.ids import ActionId
from tests.unit.test_blocks_readonly import HOSTILE, assert_golden, dump

NOW = datetime(2026, 3, 10, 10, 45, tzinfo=UTC)
CREATED = datetime(2026, 3, 10, 10, 40, tzinfo=UTC)
DECIDED = datetime(2026, 3, 10, 10, 42, tzinfo=UTC)
REQUEST_ID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
ANN_MAC = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
ANN_LAB = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
CMD_1 = "5758fefe-8e4c-4bd0-9a8c-2f9b0c1d2e3f"
CMD_2 = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
PCAP_ARGS = {"time-limit-min": 5, "max-file-size-mb": 50, "packet-size-bytes": 1500}

MAC = TargetDevice(ANN_MAC, "ann-macbook", platform="mac", version="2025.1.861.0")
LAB = TargetDevice(ANN_LAB, "lab-linux-01", platform="linux", registration_id="reg-7f3e9a21")

PENDING = CaptureRequest(
    id=REQUEST_ID,
    team_id="T0123ABCD",
    channel_id="C0SUPPORT",
    requester_id="U0SUPPORT1",
    target_user_id="U0ANN0001",
    target_email="ann@example.com",
    command_type="pcap",
    args=PCAP_ARGS,
    devices=(MAC,),
    reason="VPN drops every few minutes on the office Wi-Fi",
    state=RequestState.PENDING_APPROVAL,
    created_at=CREATED,
    expires_at=CREATED + timedelta(minutes=30),
)
POSTED = replace(PENDING, parent_channel="C0SUPPORT", parent_ts="1741603200.000100")
APPROVED = replace(
    PENDING, state=RequestState.APPROVED, decided_by="U0MANAGER1", decided_at=DECIDED
)


def record(cid: str, status: str, device_id: str = ANN_MAC) -> CommandRecord:
    return CommandRecord(cid, REQUEST_ID, device_id, status, created_date=DECIDED)


STATES: dict[RequestState, CaptureRequest] = {
    RequestState.PENDING_APPROVAL: PENDING,
    RequestState.AWAITING_OWNER: replace(APPROVED, state=RequestState.AWAITING_OWNER),
    RequestState.APPROVED: APPROVED,
    RequestState.DISPATCHING: replace(APPROVED, state=RequestState.DISPATCHING),
    RequestState.DISPATCHED: replace(
        APPROVED,
        state=RequestState.DISPATCHED,
        devices=(MAC, LAB),
        commands=(record(CMD_1, "PENDING_UPLOAD"), record(CMD_2, "PENDING_EXEC", ANN_LAB)),
    ),
    RequestState.COMPLETED: replace(
        APPROVED,
        state=RequestState.COMPLETED,
        devices=(MAC, LAB),
        commands=(record(CMD_1, "SUCCESS"), record(CMD_2, "FAILED", ANN_LAB)),
    ),
    RequestState.DENIED: replace(
        PENDING,
        state=RequestState.DENIED,
        decided_by="U0MANAGER1",
        decided_at=DECIDED,
        decision_note="Use the office capture box instead",
    ),
    RequestState.EXPIRED: replace(PENDING, state=RequestState.EXPIRED),
    RequestState.CANCELLED: replace(
        PENDING, state=RequestState.CANCELLED, decided_by="U0SUPPORT1", decided_at=DECIDED
    ),
    RequestState.DISPATCH_FAILED: replace(
        APPROVED,
        state=RequestState.DISPATCH_FAILED,
        error="Cloudflare says the device is not eligible for remote commands any more",
    ),
}
FORECAST = forecast(
    quota=25, used=16, held=1, awaiting=2, units=1, reset_time=datetime(2026, 3, 10, 14, tzinfo=UTC)
)


def action_elements(rendered: Rendered) -> list[dict[str, Any]]:
    return [e for b in rendered.blocks if b["type"] == "actions" for e in b["elements"]]


# -- golden ----------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(RequestState))
def test_parent_message_matches_golden_in_every_state(state: RequestState) -> None:
    rendered = render_parent(STATES[state], now=NOW, approval_channel="C0APPROVE")
    assert_golden(f"capture_parent_{state.value}", rendered)


def test_parent_with_the_card_below_matches_golden() -> None:
    rendered = render_parent(PENDING, now=NOW, approval_channel=None)
    assert_golden("capture_parent_pending_approval_here", rendered)


@pytest.mark.parametrize("state", list(RequestState))
def test_card_matches_golden_in_every_state(state: RequestState) -> None:
    assert_golden(f"capture_card_{state.value}", render_card(STATES[state], FORECAST, now=NOW))


def test_card_over_quota_matches_golden() -> None:
    short = forecast(quota=25, used=24, held=0, awaiting=3, units=2, reset_time=FORECAST.reset_time)
    shared = replace(PENDING, devices=(MAC, LAB))
    assert_golden("capture_card_over_quota", render_card(shared, short, now=NOW))


@pytest.mark.parametrize(
    ("name", "status", "detail"),
    [
        ("pending_exec", "PENDING_EXEC", None),
        ("pending_upload", "PENDING_UPLOAD", None),
        ("success", "SUCCESS", None),
        ("failed", "FAILED", "the device's WARP client disconnected"),
    ],
)
def test_thread_status_matches_golden(name: str, status: str, detail: str | None) -> None:
    rendered = render_thread_status("ann-macbook", CMD_1, status, detail=detail)
    assert_golden(f"capture_thread_{name}", rendered)


def test_thread_note_and_ack_match_golden() -> None:
    assert_golden(
        "capture_thread_note", render_thread_note(f"Sent to ann-macbook, command {CMD_1}")
    )
    link = "https://example.slack.com/archives/C0SUPPORT/p1741603200000100"
    assert_golden("capture_ack", render_request_ack(POSTED, permalink=link))


# -- words -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "args", "words"),
    [
        ("pcap", PCAP_ARGS, "packet capture, 5 min, up to 50 MB, 1500-byte packets"),
        ("pcap", {"time-limit-min": 10}, "packet capture, 10 min"),
        ("warp-diag", {"test-all-routes": True}, "WARP diagnostic bundle (all routes tested)"),
        ("warp-diag", {}, "WARP diagnostic bundle (all routes tested)"),
        ("warp-diag", {"test-all-routes": False}, "WARP diagnostic bundle (without testing all "
                                                  "routes)"),
        ("speed-test", {"interfaces": ["default", "tunnel"]}, "speed test on default and tunnel "
                                                               "interfaces"),
        ("speed-test", {"interfaces": ["tunnel"]}, "speed test on the tunnel interface"),
        ("speed-test", {}, "speed test"),
        ("<!here>", {}, "&lt;!here&gt; command"),
    ],
)  # fmt: skip
def test_commands_are_described_in_words(kind: str, args: dict[str, Any], words: str) -> None:
    assert describe_command(kind, args) == words


def test_parent_says_what_and_where_it_waits() -> None:
    out = dump(render_parent(PENDING, now=NOW, approval_channel="C0APPROVE"))
    assert "Waiting for approval in <#C0APPROVE>" in out
    assert "expires 11:10 UTC" in out
    assert "Request `1a2b3c4d`" in out
    assert "<@U0ANN0001>" in out and "<@U0SUPPORT1>" in out
    assert (
        "waiting for approval below"
        in dump(render_parent(PENDING, now=NOW, approval_channel=None)).lower()
    )


def test_target_without_slack_account_shows_the_email() -> None:
    by_email = replace(PENDING, target_user_id=None)
    assert "ann@example.com" in dump(render_parent(by_email, now=NOW, approval_channel=None))


def test_dispatched_parent_lists_each_device_with_its_status() -> None:
    out = dump(render_parent(STATES[RequestState.DISPATCHED], now=NOW, approval_channel=None))
    assert ":arrow_up: *ann-macbook*: uploading" in out
    assert ":hourglass_flowing_sand: *lab-linux-01*: waiting for the device" in out


def test_card_notes_the_registration_of_each_device() -> None:
    card = render_card(replace(PENDING, devices=(MAC, LAB)), FORECAST, now=NOW)
    assert "(registration `reg-7f3e`)" in dump(card)


def test_decided_card_says_who_and_when() -> None:
    assert "Approved by <@U0MANAGER1> at 10:42 UTC" in dump(render_card(APPROVED, None, now=NOW))
    denied = dump(render_card(STATES[RequestState.DENIED], None, now=NOW))
    assert "Denied by <@U0MANAGER1> at 10:42 UTC: Use the office capture box instead" in denied
    expired = dump(render_card(STATES[RequestState.EXPIRED], None, now=NOW))
    assert "Expired at 11:10 UTC — nobody decided within 30 min" in expired


def test_forecast_line_and_shortfall_warning() -> None:
    out = dump(render_card(PENDING, FORECAST, now=NOW))
    assert "After this: 7 left until 14:00 UTC; 2 awaiting approval" in out
    short = forecast(quota=5, used=5, held=0, awaiting=0, units=1, reset_time=FORECAST.reset_time)
    out = dump(render_card(PENDING, short, now=NOW))
    assert "Not enough quota" in out
    assert "After this" not in out


# -- buttons ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", [s for s in RequestState if s is not RequestState.PENDING_APPROVAL]
)
def test_no_buttons_once_the_request_is_not_pending(state: RequestState) -> None:
    rendered = render_card(STATES[state], FORECAST, now=NOW)
    assert action_elements(rendered) == []
    assert "Approval needed" not in dump(rendered)
    parent = render_parent(STATES[state], now=NOW, approval_channel="C0APPROVE")
    assert action_elements(parent) == []


def test_pending_card_buttons_carry_only_the_request_id_and_ask_first() -> None:
    approve, deny = action_elements(
        render_card(replace(PENDING, devices=(MAC, LAB)), None, now=NOW)
    )
    assert (approve["action_id"], approve["style"], approve["value"]) == (
        ActionId.APPROVE,
        "primary",
        REQUEST_ID,
    )
    assert (deny["action_id"], deny["style"], deny["value"]) == (
        ActionId.DENY,
        "danger",
        REQUEST_ID,
    )
    assert approve["confirm"]["title"]["text"] == "Approve this packet capture?"
    assert approve["confirm"]["text"]["text"] == (
        "It spends 2 of the account's Cloudflare command quota."
    )
    assert "confirm" not in deny  # Deny asks once: its form is the question


# -- escaping and limits ---------------------------------------------------------------


def assert_escaped(rendered: Rendered) -> None:
    out = dump(rendered)
    for raw in ("<!channel>", "<@U123>", "<https://"):
        assert raw not in out
    assert "&lt;!channel&gt;" in out


def test_hostile_reason_device_email_note_and_error_cannot_ping() -> None:
    evil = TargetDevice(ANN_MAC, HOSTILE, platform=HOSTILE, registration_id=HOSTILE)
    for req in STATES.values():
        hostile = replace(
            req,
            reason=HOSTILE,
            devices=(evil,),
            target_user_id=None,
            target_email=HOSTILE,
            decision_note=HOSTILE,
            error=HOSTILE,
        )
        assert_escaped(render_card(hostile, FORECAST, now=NOW))
        assert_escaped(render_parent(hostile, now=NOW, approval_channel=HOSTILE))
    assert_escaped(render_thread_status(HOSTILE, HOSTILE, "FAILED", detail=HOSTILE))


def test_thread_note_keeps_our_mentions_and_services_make_outside_text_inert() -> None:
    from bot.domain.errors import inert

    note = render_thread_note(f"Denied by <@U0MIA0013>: {inert(HOSTILE)}")
    assert "<@U0MIA0013>" in dump(note)  # a real mention, not &lt;@…&gt;
    assert "<!channel>" not in dump(note) and "<@U123>" not in dump(note)


def test_a_link_that_is_not_a_plain_url_is_left_out() -> None:
    ack = dump(render_request_ack(POSTED, permalink="https://evil.example|Click <!channel>"))
    assert "evil.example" not in ack
    assert "Request `1a2b3c4d` posted in <#C0SUPPORT>; waiting for approval." in ack


def test_ten_devices_with_long_names_fit_card_and_parent() -> None:
    many = tuple(
        TargetDevice(f"dev-{n:02}", f"{'x' * 200}-{n}", platform="windows", registration_id=f"r{n}")
        for n in range(10)
    )
    commands = tuple(record(f"cmd-{n:02}", "PENDING_EXEC", f"dev-{n:02}") for n in range(10))
    req = replace(
        STATES[RequestState.DISPATCHED], devices=many, commands=commands, reason="r" * 500
    )
    for rendered in (
        render_card(req, FORECAST, now=NOW),
        render_parent(req, now=NOW, approval_channel=None),
        render_card(replace(req, state=RequestState.PENDING_APPROVAL), FORECAST, now=NOW),
    ):
        assert len(rendered.blocks) <= 50
        assert all(len(json.dumps(b)) < 6000 for b in rendered.blocks)


def test_text_that_grows_fivefold_when_escaped_still_fits() -> None:
    amps = "&" * 2000
    evil = tuple(
        TargetDevice(f"dev-{n}", amps, platform=amps, registration_id=amps) for n in range(10)
    )
    commands = tuple(record(f"cmd-{n}", "FAILED", f"dev-{n}") for n in range(10))
    for req in STATES.values():
        hostile = replace(
            req, reason=amps, devices=evil, commands=commands, target_user_id=None,
            target_email=amps, decision_note=amps, error=amps,
        )  # fmt: skip
        render_card(hostile, FORECAST, now=NOW)
        render_parent(hostile, now=NOW, approval_channel=None)
    render_thread_status(amps, amps, "FAILED", detail=amps)
    render_thread_note(amps * 3)


def test_each_type_is_named_in_the_confirm_and_the_upload_words() -> None:
    for kind, name in (("warp-diag", "WARP diagnostic bundle"), ("speed-test", "speed test")):
        card = render_card(replace(PENDING, command_type=kind, args={}), None, now=NOW)
        approve = action_elements(card)[0]
        assert approve["confirm"]["title"]["text"] == f"Approve this {name}?"
    diag = render_thread_status("ann-macbook", "c1", "PENDING_UPLOAD", command_type="warp-diag")
    assert "uploading the diagnostic bundle" in diag.text and "capture" not in diag.text
    speed = render_thread_status("ann-macbook", "c1", "PENDING_UPLOAD", command_type="speed-test")
    assert "uploading the results" in speed.text


def test_a_closed_card_shows_no_expiry() -> None:
    denied = render_card(replace(PENDING, state=RequestState.DENIED), None, now=NOW)
    assert "Expires" not in dump(denied)
    assert "Expires" in dump(render_card(PENDING, None, now=NOW))
