"""Creating commands, their rules, their progress on the simulated clock, and the list."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import pytest

from tests.plugins.dexsim import SimHandle
from tests.sim.conftest import create, error_codes, item, listing


async def status_of(cf: httpx.AsyncClient, command_id: str) -> dict:
    rows = (await listing(cf))["result"]["commands"]
    return next(r for r in rows if r["id"] == command_id)


async def test_create_answers_pending_commands_with_string_args(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    response = await create(
        cf,
        item(dex_sim, "ann-macbook", "pcap", args={"time-limit-min": 2}),
        item(dex_sim, "bob-thinkpad", "warp-diag", args={"test-all-routes": False}),
        item(dex_sim, "ann-desktop", "speed-test", args={"interfaces": ["tunnel"]}),
    )
    assert response.status_code == 200, response.text
    created = response.json()["result"]["commands"]
    assert [c["type"] for c in created] == ["pcap", "warp-diag", "speed-test"]
    for command in created:
        uuid.UUID(command["id"], version=4)
        assert command["status"] == "PENDING_EXEC"
        assert all(isinstance(v, str) for v in command["args"].values())
    assert created[0]["args"] == {
        "max-file-size-mb": "5",
        "packet-size-bytes": "160",
        "time-limit-min": "2",
    }
    assert created[1]["args"] == {"test-all-routes": "false"}
    assert created[0]["device_id"] == dex_sim.device("ann-macbook").device_id
    assert (
        created[0]["registration_id"]
        == dex_sim.device("ann-macbook").registrations[0].registration_id
    )
    sent = await dex_sim.requests("POST")
    assert sent[0]["json"]["commands"][0]["type"] == "pcap"


async def test_status_progresses_on_the_simulated_clock(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    created = (await create(cf, item(dex_sim, "bob-thinkpad"))).json()["result"]["commands"][0]
    row = await status_of(cf, created["id"])
    assert row["status"] == "PENDING_EXEC"
    assert row["completed_date"] is None and row["filename"] is None
    assert row["user_email"] == "bob@example.com"
    await dex_sim.advance(20)
    assert (await status_of(cf, created["id"]))["status"] == "PENDING_UPLOAD"
    await dex_sim.advance(20)
    row = await status_of(cf, created["id"])
    assert row["status"] == "SUCCESS"
    assert row["filename"] == f"pcap-{created['id']}.zip"
    done = datetime.fromisoformat(row["completed_date"])
    assert done - datetime.fromisoformat(row["created_date"]) == timedelta(seconds=40)


async def test_schedule_and_filename_shape_are_configurable(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await dex_sim.configure(exec_seconds=1, upload_seconds=2, filename_as_url=True)
    created = (await create(cf, item(dex_sim, "ann-macbook", "warp-diag"))).json()
    command_id = created["result"]["commands"][0]["id"]
    await dex_sim.advance(3)
    row = await status_of(cf, command_id)
    assert row["status"] == "SUCCESS"
    assert row["filename"].startswith("http://127.0.0.1:")
    assert row["filename"].endswith(
        f"/dex/commands/{command_id}/downloads/warp-diag-{command_id}.zip"
    )


async def test_disconnected_device_times_out_failed_after_ten_minutes(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    created = (await create(cf, item(dex_sim, "grace-laptop"))).json()["result"]["commands"][0]
    await dex_sim.advance(599)
    assert (await status_of(cf, created["id"]))["status"] == "PENDING_EXEC"
    await dex_sim.advance(1)
    row = await status_of(cf, created["id"])
    assert row["status"] == "FAILED"
    assert row["filename"] is None and row["completed_date"]


async def test_second_pcap_on_windows_fails_at_once(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    first = (await create(cf, item(dex_sim, "ann-desktop"))).json()["result"]["commands"][0]
    second = (await create(cf, item(dex_sim, "ann-desktop"))).json()["result"]["commands"][0]
    assert (await status_of(cf, second["id"]))["status"] == "FAILED"
    assert (await status_of(cf, first["id"]))["status"] == "PENDING_EXEC"
    # Linux runs two captures side by side.
    a = (await create(cf, item(dex_sim, "bob-thinkpad"))).json()["result"]["commands"][0]
    b = (await create(cf, item(dex_sim, "bob-thinkpad"))).json()["result"]["commands"][0]
    await dex_sim.advance(40)
    assert (await status_of(cf, a["id"]))["status"] == "SUCCESS"
    assert (await status_of(cf, b["id"]))["status"] == "SUCCESS"


async def test_forced_outcome_fails_a_device(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    await dex_sim.configure(device_outcomes={"bob-thinkpad": "FAILED"})
    created = (await create(cf, item(dex_sim, "bob-thinkpad"))).json()["result"]["commands"][0]
    await dex_sim.advance(60)
    row = await status_of(cf, created["id"])
    assert row["status"] == "FAILED" and row["filename"] is None


async def test_multi_user_device_needs_the_users_registration(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    dex_sim.expect_invalid_requests = True
    kiosk = dex_sim.device("kiosk-lobby-01")
    erin, frank = kiosk.registrations
    missing = await create(cf, item(dex_sim, "kiosk-lobby-01", email="erin@example.com"))
    assert missing.status_code == 400
    assert "registration_id" in missing.json()["errors"][0]["message"]
    crossed = await create(
        cf,
        item(dex_sim, "kiosk-lobby-01", email="erin@example.com",
             registration_id=frank.registration_id),
    )  # fmt: skip
    assert crossed.status_code == 400
    ok = await create(
        cf,
        item(dex_sim, "kiosk-lobby-01", email="frank@example.com",
             registration_id=frank.registration_id),
    )  # fmt: skip
    assert ok.status_code == 200
    assert ok.json()["result"]["commands"][0]["registration_id"] == frank.registration_id
    rows = (await listing(cf))["result"]["commands"]
    assert [(r["user_email"], r["registration_id"]) for r in rows] == [
        ("frank@example.com", frank.registration_id)
    ]
    assert erin.email == "erin@example.com"


@pytest.mark.parametrize(
    ("device", "patch", "words"),
    [
        ("ann-macbook", {"user_email": "bob@example.com"}, "not registered"),
        ("carol-pc", {}, "2024.12.492.0"),
        ("dave-iphone", {}, "not supported"),
        ("ann-macbook", {"device_id": str(uuid.uuid4())}, "not found"),
        ("ann-macbook", {"type": "traceroute"}, "type"),
        ("ann-macbook", {"args": {"test-all-routes": True}}, "not valid for a pcap"),
        ("ann-macbook", {"args": {"time-limit-min": 0}}, ">= 1"),
        ("ann-macbook", {"type": "speed-test", "args": {"interfaces": ["wifi"]}}, "interfaces"),
        ("ann-macbook", {"registration_id": str(uuid.uuid4())}, "does not belong"),
    ],
)
async def test_bad_commands_are_rejected_and_nothing_is_created(
    dex_sim: SimHandle, cf: httpx.AsyncClient, device: str, patch: dict, words: str
) -> None:
    dex_sim.expect_invalid_requests = True
    good = item(dex_sim, "bob-thinkpad")
    response = await create(cf, good, {**item(dex_sim, device), **patch})
    assert response.status_code == 400
    assert error_codes(response)
    assert words in response.json()["errors"][0]["message"]
    assert await dex_sim.commands() == []
    assert (await cf.get("/commands/quota")).json()["result"]["quota_usage"] == 0


async def test_legacy_command_type_body_is_rejected(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    dex_sim.expect_invalid_requests = True
    device = dex_sim.device("ann-macbook")
    legacy = {
        "device_id": device.device_id,
        "user_email": "ann@example.com",
        "command_type": "pcap",
        "command_args": {"time-limit-min": 1},
    }
    response = await create(cf, legacy)
    assert response.status_code == 400
    assert "command_type" in response.json()["errors"][0]["message"]
    assert await dex_sim.commands() == []


async def test_eleven_commands_are_rejected(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    await dex_sim.generate_fleet(11)
    items = [item(dex_sim, f"fleet-{n:04d}", "speed-test") for n in range(1, 12)]
    response = await create(cf, *items)
    assert response.status_code == 400
    assert "at most 10" in response.json()["errors"][0]["message"]
    assert await dex_sim.commands() == []
    assert (await create(cf, *items[:10])).status_code == 200


async def test_quota_is_spent_then_refused_then_reset(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    quota = (await cf.get("/commands/quota")).json()["result"]
    assert (quota["quota"], quota["quota_usage"]) == (25, 0)
    reset = datetime.fromisoformat(quota["reset_time"])
    assert (reset.hour, reset.minute, reset.second) == (0, 0, 0)
    await dex_sim.set_quota(quota=3, quota_usage=1)
    both = [item(dex_sim, "bob-thinkpad", "speed-test"), item(dex_sim, "ann-macbook", "speed-test")]
    assert (await create(cf, *both)).status_code == 200
    refused = await create(cf, item(dex_sim, "bob-thinkpad", "speed-test"))
    assert refused.status_code == 400
    assert refused.json()["errors"] == [{"code": 1104, "message": "Remote command quota exceeded"}]
    assert len(await dex_sim.commands()) == 2
    used = (await cf.get("/commands/quota")).json()["result"]
    assert used["quota_usage"] == 3
    now = datetime.fromisoformat((await dex_sim.clock())["now"])
    await dex_sim.set_quota(reset_time=(now + timedelta(seconds=30)).isoformat())
    await dex_sim.advance(31)
    after = (await cf.get("/commands/quota")).json()["result"]
    assert after["quota_usage"] == 0
    assert datetime.fromisoformat(after["reset_time"]) > now + timedelta(days=1) - timedelta(
        minutes=1
    )
    assert (await create(cf, item(dex_sim, "bob-thinkpad", "speed-test"))).status_code == 200


async def test_batch_larger_than_the_quota_left_creates_nothing(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await dex_sim.set_quota(quota=2, quota_usage=1)
    both = [item(dex_sim, "bob-thinkpad", "speed-test"), item(dex_sim, "ann-macbook", "speed-test")]
    response = await create(cf, *both)
    assert response.status_code == 400 and error_codes(response) == [1104]
    assert await dex_sim.commands() == []
