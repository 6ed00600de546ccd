"""What people see when they ask /dex for status, devices, quota, history or help.

Golden tests render fixed, realistic inputs (built from Cloudflare's wire shapes) and compare
the result with ``tests/golden/<name>.json``. After an intended change to a renderer, rewrite
the files and review the diff by eye:

    UPDATE_GOLDEN=1 /work/venv/bin/pytest tests/unit/test_blocks_readonly.py

The focused tests below check escaping, Slack's limits, missing values and time wording.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.dex.models import Command, DeviceLiveStatus, EligibleDevice, Quota
from handlers.blocks.common import (
    MISSING,
    Rendered,
    check_limits,
    ephemeral_error,
    escape_mrkdwn,
    fit_escaped,
    format_bytes,
    format_utc,
    parse_timestamp,
    relative_time,
    truncate,
    user_ref,
)
from handlers.blocks.readonly import (
    render_devices,
    render_help,
    render_history,
    render_quota,
    render_status,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
HOSTILE = "<!channel> <@U123> & <https://evil.example|bank>"

ANN_LAPTOP = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
BOB_MAC = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
CAROL_PHONE = "c4r01000-1111-4222-8333-444455556666"


def assert_golden(name: str, rendered: Rendered) -> None:
    """Compare with tests/golden/<name>.json, or rewrite it when UPDATE_GOLDEN=1."""
    path = GOLDEN / f"{name}.json"
    data = {"text": rendered.text, "blocks": rendered.blocks}
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        return
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 and review it"
    assert json.loads(path.read_text()) == data


def dump(rendered: Rendered) -> str:
    return json.dumps({"text": rendered.text, "blocks": rendered.blocks}, ensure_ascii=False)


def live(**overrides: Any) -> DeviceLiveStatus:
    wire: dict[str, Any] = {
        "colo": "SJC",
        "deviceId": ANN_LAPTOP,
        "deviceName": "ann-thinkpad",
        "personEmail": "ann@example.com",
        "mode": "warp+doh",
        "platform": "windows",
        "status": "connected",
        "timestamp": "2026-03-10 10:58:00+00",
        "version": "2025.1.861.0",
        "batteryCharging": True,
        "batteryPct": 82.4,
        "connectionType": "wifi",
        "cpuPct": 12.6,
        "ramUsedPct": 48.1,
        "diskUsagePct": 71.0,
        "estimatedLossPct": 0.4,
        "wifiStrengthDbm": -58,
        "networkSsid": "Ann-Home-5G",
        "rtt": {"rttUs": {"downstream": 23400, "upstream": 25100}},
        "ispIpv4": {"address": "203.0.113.7", "asn": 7922, "aso": "Comcast Cable"},
        "alwaysOn": True,
    }
    wire.update(overrides)
    return DeviceLiveStatus.model_validate(wire)


def device(name: str | None, **overrides: Any) -> EligibleDevice:
    wire: dict[str, Any] = {
        "deviceId": ANN_LAPTOP,
        "deviceName": name,
        "eligible": True,
        "personEmail": "ann@example.com",
        "platform": "windows",
        "registrationId": "reg-1",
        "status": "connected",
        "timestamp": "2026-03-10 10:57:00+00",
        "version": "2025.1.861.0",
    }
    wire.update(overrides)
    return EligibleDevice.model_validate(wire)


def command(cid: str, **overrides: Any) -> Command:
    wire: dict[str, Any] = {
        "id": cid,
        "type": "pcap",
        "status": "SUCCESS",
        "device_id": ANN_LAPTOP,
        "user_email": "ann@example.com",
        "registration_id": "reg-1",
        "created_date": "2026-03-10T10:40:00.117Z",
        "completed_date": "2026-03-10T10:46:12.000Z",
        "filename": f"{cid}.zip",
    }
    wire.update(overrides)
    return Command.model_validate(wire)


STATUSES = [
    live(),
    live(deviceId=BOB_MAC, deviceName="bob-macbook", personEmail="bob@example.com", mode="proxy",
         platform="mac", status="paused", colo="LHR", timestamp="2026-03-10T08:15:00Z",
         batteryCharging=False, batteryPct=19, wifiStrengthDbm=-78,
         networkSsid="Cafe & Co <guest>", estimatedLossPct=3.25, ispIpv4={"asn": 2856},
         rtt={"rttUs": {"downstream": 8200, "upstream": None}}),
    DeviceLiveStatus.model_validate(
        {"deviceId": CAROL_PHONE, "status": "disconnected", "timestamp": "yesterday-ish"}
    ),
]  # fmt: skip

DEVICES = [
    device("ann-thinkpad"),
    device("bob-macbook", deviceId=BOB_MAC, personEmail="bob@example.com", platform="mac",
           timestamp="2026-03-10T10:20:00Z"),
    device("carol-pixel", deviceId=CAROL_PHONE, eligible=False,
           ineligibleReason="Remote captures are not supported on Android",
           personEmail="carol@example.com", platform="android", version="2024.9.1"),
    device("dave-old-laptop", deviceId="d4ve0000-0000-4000-8000-000000000001", eligible=False,
           ineligibleReason="WARP client 2024.6.415.0 is older than 2024.12.492.0",
           personEmail="dave@example.com", platform="linux", version="2024.6.415.0",
           status="disconnected"),
]  # fmt: skip

HISTORY = [
    command("cmd-1"),
    command("cmd-2", type="warp-diag", status="PENDING_EXEC", completed_date=None,
            created_date="2026-03-10T10:59:30Z", device_id=BOB_MAC, user_email="bob@example.com"),
    command("cmd-3", type="speed-test", status="FAILED", created_date="2026-03-09T16:00:00Z",
            completed_date="2026-03-09T16:10:00Z", device_id=CAROL_PHONE),
    command("cmd-4", status="PENDING_UPLOAD", completed_date=None,
            created_date="2026-03-10T10:52:00Z"),
]  # fmt: skip

HELP = """*dexbot* runs Cloudflare DEX remote commands on a WARP device.
`/dex status <@person or device>` live status
`/dex capture <@person or device> [5m] [50MB]` packet capture (needs approval)
`/dex quota` commands left before the reset
Questions? Ask in #it-support & mention "dexbot"."""


# -- golden ----------------------------------------------------------------------------


def test_status_cards_match_golden() -> None:
    assert_golden("status", render_status(STATUSES, title="Live status: 3 devices", now=NOW))


def test_device_list_matches_golden() -> None:
    assert_golden("devices", render_devices(DEVICES, heading="Devices matching “a”", now=NOW))


def test_empty_device_list_matches_golden() -> None:
    assert_golden("devices_empty", render_devices([], heading="Devices matching “zed”", now=NOW))


def test_quota_matches_golden() -> None:
    quota = Quota.model_validate(
        {"quota": 25, "quota_usage": 18, "reset_time": "2026-03-10T14:00:00Z"}
    )
    assert_golden("quota", render_quota(quota, awaiting_approval=2, now=NOW))


def test_exhausted_quota_matches_golden() -> None:
    quota = Quota.model_validate(
        {"quota": 25, "quota_usage": 27, "reset_time": "2026-03-11T00:00:00Z"}
    )
    assert_golden("quota_exhausted", render_quota(quota, awaiting_approval=3, now=NOW))


def test_history_matches_golden() -> None:
    names = {ANN_LAPTOP: "ann-thinkpad", BOB_MAC: "bob-macbook"}
    rendered = render_history(HISTORY, heading="Recent commands", now=NOW, device_names=names)
    assert_golden("history", rendered)


def test_empty_history_matches_golden() -> None:
    assert_golden("history_empty", render_history([], heading="Commands for @heidi", now=NOW))


def test_help_matches_golden() -> None:
    assert_golden("help", render_help(HELP))


def test_error_matches_golden() -> None:
    assert_golden("error", ephemeral_error("I don't know the device <laptop-x>. Try /dex devices."))


# -- escaping --------------------------------------------------------------------------


def assert_escaped(rendered: Rendered) -> None:
    out = dump(rendered)
    for raw in ("<!channel>", "<@U123>", "<https://"):
        assert raw not in out
    assert "&lt;!channel&gt;" in out
    assert "&lt;@U123&gt;" in out


def test_hostile_text_from_cloudflare_cannot_ping_or_link() -> None:
    status = live(deviceName=HOSTILE, networkSsid=HOSTILE, ispIpv4={"aso": HOSTILE, "asn": 1})
    assert_escaped(render_status([status], title="Live status", now=NOW))
    hostile_devices = [
        device(HOSTILE, personEmail=HOSTILE),
        device("x", eligible=False, ineligibleReason=HOSTILE),
    ]
    assert_escaped(render_devices(hostile_devices, heading="Devices", now=NOW))
    history = [command("c", user_email=HOSTILE, type=HOSTILE, status=HOSTILE)]
    names = {ANN_LAPTOP: HOSTILE}
    assert_escaped(render_history(history, heading="History", now=NOW, device_names=names))
    assert_escaped(ephemeral_error(f"no device called {HOSTILE}"))
    assert_escaped(render_help(HOSTILE))


def test_escape_mrkdwn_escapes_ampersand_first() -> None:
    assert escape_mrkdwn("a & <b> &lt;") == "a &amp; &lt;b&gt; &amp;lt;"


def test_truncated_escaped_text_never_splits_an_entity() -> None:
    cut = fit_escaped("&" * 100, 12)
    assert len(cut) <= 12
    assert cut.endswith("…")
    assert cut.replace("&amp;", "") == "…"


# -- limits ----------------------------------------------------------------------------


def test_sixty_devices_fit_a_message_and_ask_to_narrow() -> None:
    many = [device(f"laptop-{n:02}", deviceId=f"id-{n:02}", eligible=n % 3 != 0) for n in range(60)]
    rendered = render_devices(many, heading="Devices", now=NOW)
    assert len(rendered.blocks) <= 50
    assert "40 more devices not shown" in dump(rendered)
    assert "Narrow the search" in dump(rendered)


def test_sixty_statuses_and_commands_fit_a_message() -> None:
    statuses = [live(deviceName=f"d{n}") for n in range(60)]
    rendered = render_status(statuses, title="Status", now=NOW)
    assert len(rendered.blocks) <= 50
    assert "50 more devices" in dump(rendered)
    commands = [command(f"c{n}") for n in range(60)]
    rendered = render_history(commands, heading="History", now=NOW)
    assert len(rendered.blocks) <= 50
    assert "40 older commands not shown" in dump(rendered)


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


@pytest.mark.parametrize(
    ("rendered", "surface", "complaint"),
    [
        (Rendered("t", [section("x" * 3001)]), "message", "3001 characters"),
        (Rendered("t", [section("x", fields=[{"text": "f"}] * 11)]), "message", "11 fields"),
        (Rendered("t", [section("x", fields=[{"text": "f" * 2001}])]), "message", "field 0"),
        (Rendered("t", [{"type": "header", "text": {"text": "h" * 151}}]), "message", "151"),
        (Rendered("t", [section("x")] * 51), "message", "51 blocks"),
        (Rendered("t", [section("x")] * 101), "modal", "101 blocks"),
        (Rendered("t", [section("x", block_id="b" * 256)]), "message", "block_id"),
        (
            Rendered("t", [{"type": "actions", "elements": [{"action_id": "a" * 256}]}]),
            "message",
            "action_id",
        ),
        (Rendered("t" * 40_001, [section("x")]), "message", "fallback"),
        (Rendered("  ", [section("x")]), "message", "fallback text"),
    ],
)
def test_check_limits_rejects_what_slack_would(
    rendered: Rendered, surface: Any, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        check_limits(rendered, surface=surface)


def test_check_limits_accepts_exactly_the_limits() -> None:
    fine = Rendered(
        "t",
        [section("x" * 3000, fields=[{"text": "f" * 2000}] * 10)]
        + [{"type": "header", "text": {"text": "h" * 150}, "block_id": "b" * 255}] * 49,
    )
    assert check_limits(fine) is fine
    assert check_limits(Rendered("", [section("x")] * 100), surface="modal")


def test_long_help_is_split_into_sections_that_fit() -> None:
    rendered = render_help("\n".join(f"line {n} <arg> " + "x" * 80 for n in range(200)))
    assert len(rendered.blocks) > 1
    assert all(len(b["text"]["text"]) <= 3000 for b in rendered.blocks)


# -- missing values --------------------------------------------------------------------


def test_missing_values_show_a_dash_never_none() -> None:
    bare = DeviceLiveStatus.model_validate({"deviceId": "dev-1"})
    out = dump(render_status([bare], title="Status", now=NOW))
    assert "None" not in out and "null" not in out
    assert f"*Battery*\\n{MISSING}" in out
    assert f"*Last seen*\\n{MISSING}" in out
    assert f"*Round-trip time*\\ndownstream {MISSING} · upstream {MISSING}" in out

    nameless = EligibleDevice.model_validate({"deviceId": "dev-2"})
    out = dump(render_devices([nameless], heading="D", now=NOW))
    assert "None" not in out and "null" not in out
    assert f"*dev-2* · {MISSING}\\n{MISSING} · WARP {MISSING}" in out

    out = dump(render_history([Command.model_validate({"id": "c"})], heading="H", now=NOW))
    assert "None" not in out


def test_every_renderer_has_a_fallback_that_says_something() -> None:
    quota = Quota.model_validate({"quota": 5, "quota_usage": 0, "reset_time": NOW})
    for rendered in (
        render_status([], title="Status", now=NOW),
        render_status(STATUSES, title="Status", now=NOW),
        render_devices([], heading="Devices", now=NOW),
        render_history([], heading="History", now=NOW),
        render_quota(quota, now=NOW),
        render_help(""),
    ):
        assert len(rendered.text.strip()) > 10
    assert render_status(STATUSES, title="Status", now=NOW).text.startswith(
        "Status: ann-thinkpad (connected), bob-macbook (paused)"
    )


# -- quota and history wording ---------------------------------------------------------


def test_quota_says_how_many_are_left_and_when_it_resets() -> None:
    quota = Quota.model_validate(
        {"quota": 25, "quota_usage": 18, "reset_time": "2026-03-10T14:00Z"}
    )
    rendered = render_quota(quota, now=NOW)
    assert rendered.text == "7 of 25 commands left until 14:00 UTC (in 3 h)"
    assert "awaiting" not in dump(rendered)


def test_exhausted_quota_says_so() -> None:
    quota = Quota.model_validate(
        {"quota": 25, "quota_usage": 25, "reset_time": "2026-03-11T09:30Z"}
    )
    rendered = render_quota(quota, now=NOW)
    assert rendered.text.startswith("Quota exhausted until Mar 11 09:30 UTC (in 22 h)")
    assert "`░░░░░░░░░░░░░░░░░░░░`" in dump(rendered)


def test_history_is_newest_first_with_short_ids_for_unknown_devices() -> None:
    rendered = render_history(HISTORY, heading="Recent", now=NOW)
    rows = [b["text"]["text"] for b in rendered.blocks if b["type"] == "section"]
    assert [r.split(" · ")[1] for r in rows] == [
        "waiting for the device",
        "uploading",
        "succeeded",
        "failed",
    ]
    assert "`6f1c2a3b`" in rows[1]
    assert "not finished yet" in rows[0]


# -- small helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=-59), "just now"),
        (timedelta(seconds=60), "1 min ago"),
        (timedelta(minutes=59, seconds=59), "59 min ago"),
        (timedelta(hours=1), "1 h ago"),
        (timedelta(hours=23, minutes=59), "23 h ago"),
        (timedelta(hours=49), "2 d ago"),
        (timedelta(hours=-3), "in 3 h"),
        (timedelta(minutes=-5), "in 5 min"),
    ],
)
def test_relative_time(delta: timedelta, expected: str) -> None:
    assert relative_time(NOW - delta, NOW) == expected


def test_relative_time_treats_naive_as_utc_and_none_as_missing() -> None:
    assert relative_time(datetime(2026, 3, 10, 10, 57), NOW) == "3 min ago"
    assert relative_time(None, NOW) == MISSING


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-10-11 00:00:00+00", datetime(2023, 10, 11, tzinfo=UTC)),
        ("2023-10-11T00:00:00Z", datetime(2023, 10, 11, tzinfo=UTC)),
        ("2023-10-11T02:00:00+02:00", datetime(2023, 10, 11, tzinfo=UTC)),
        ("2023-10-11T00:00:00.123456789Z", datetime(2023, 10, 11, 0, 0, 0, 123456, tzinfo=UTC)),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_timestamp(raw: str | None, expected: datetime | None) -> None:
    assert parse_timestamp(raw) == expected


def test_format_utc_spells_the_day_only_when_not_today() -> None:
    assert format_utc(datetime(2026, 3, 10, 14, 0, tzinfo=UTC), NOW) == "14:00 UTC"
    assert format_utc(datetime(2026, 11, 23, 14, 0, tzinfo=UTC), NOW) == "Nov 23 14:00 UTC"
    assert format_utc(datetime(2027, 1, 2, 3, 4, tzinfo=UTC), NOW) == "Jan 2 2027 03:04 UTC"
    assert format_utc(None, NOW) == MISSING


@pytest.mark.parametrize(
    ("size", "expected"),
    [(None, MISSING), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KB"), (50 * 1024**2, "50.0 MB")],
)
def test_format_bytes(size: int | None, expected: str) -> None:
    assert format_bytes(size) == expected


def test_truncate_and_user_ref() -> None:
    assert truncate("abcdef", 6) == "abcdef"
    assert truncate("abcdef", 4) == "abc…"
    assert user_ref("U0ANN0001") == "<@U0ANN0001>"
    assert user_ref("W0FRANK06") == "<@W0FRANK06>"
    with pytest.raises(ValueError):
        user_ref("U1> <!channel")


def test_quota_past_its_reset_and_more_waiting_than_left() -> None:
    quota = Quota.model_validate(
        {"quota": 25, "quota_usage": 23, "reset_time": "2026-03-10T10:00Z"}
    )
    rendered = render_quota(quota, awaiting_approval=5, now=NOW)
    assert rendered.text == "2 of 25 commands left until 10:00 UTC (due now); 5 awaiting approval"
    assert "5 requests awaiting approval, more than the 2 left." in dump(rendered)


def test_fit_escaped_never_raises_and_keeps_what_fits() -> None:
    from handlers.blocks.common import fit_escaped

    assert len(fit_escaped("&" * 100, 100)) <= 100
    assert fit_escaped("&" * 100, 100).startswith("&amp;" * 19)
    assert fit_escaped("&" * 100, 3) == "…"
