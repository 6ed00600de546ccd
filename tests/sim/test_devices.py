"""Eligible devices, pagination, search and live status of the seeded fleet."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from bot.sim.dex import DexSimulator
from bot.sim.dex.fleet import load_fleet
from tests.plugins.dexsim import SimHandle
from tests.sim.conftest import error_codes


async def all_devices(cf: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await cf.get("/commands/devices", params={"page": 1, "per_page": 50, **params})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["result"]["devices"]
    return rows


async def test_seeded_fleet_belongs_to_the_demo_people(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    rows = await all_devices(cf)
    owners: dict[str, list[str]] = {}
    for row in rows:
        owners.setdefault(row["personEmail"], []).append(row["deviceName"])
        uuid.UUID(row["deviceId"])
        uuid.UUID(row["registrationId"])
    assert owners == {
        "ann@example.com": ["ann-macbook", "ann-desktop"],
        "bob@example.com": ["bob-thinkpad"],
        "carol@example.com": ["carol-pc"],
        "dave@example.com": ["dave-iphone"],
        "erin@example.com": ["kiosk-lobby-01"],
        "frank@example.com": ["kiosk-lobby-01"],
        "grace@example.com": ["grace-laptop"],
    }
    by_name = {r["deviceName"]: r for r in rows}
    assert by_name["ann-macbook"]["platform"] == "mac"
    assert by_name["ann-desktop"]["platform"] == "windows"
    assert by_name["bob-thinkpad"]["platform"] == "linux"
    assert by_name["carol-pc"]["eligible"] is False
    assert "2024.12.492.0" in by_name["carol-pc"]["ineligibleReason"]
    assert by_name["dave-iphone"]["eligible"] is False
    assert "ios" in by_name["dave-iphone"]["ineligibleReason"]
    assert by_name["grace-laptop"]["eligible"] is True
    assert by_name["grace-laptop"]["status"] == "disconnected"
    assert "ineligibleReason" not in by_name["ann-macbook"]


async def test_multi_user_device_is_listed_once_per_registration(cf: httpx.AsyncClient) -> None:
    kiosk = [r for r in await all_devices(cf) if r["deviceName"] == "kiosk-lobby-01"]
    assert len(kiosk) == 2
    assert kiosk[0]["deviceId"] == kiosk[1]["deviceId"]
    assert kiosk[0]["registrationId"] != kiosk[1]["registrationId"]


async def test_search_matches_name_or_email_case_insensitively(cf: httpx.AsyncClient) -> None:
    assert {r["deviceName"] for r in await all_devices(cf, search="ANN")} == {
        "ann-macbook",
        "ann-desktop",
    }
    assert [r["personEmail"] for r in await all_devices(cf, search="Frank@")] == [
        "frank@example.com"
    ]
    assert [r["deviceName"] for r in await all_devices(cf, search="thinkpad")] == ["bob-thinkpad"]
    assert await all_devices(cf, search="nobody-has-this") == []


async def test_fleet_is_deterministic_for_a_seed() -> None:
    one, two, other = DexSimulator(seed=5), DexSimulator(seed=5), DexSimulator(seed=6)
    ids = [d.device_id for d in one.state.devices]
    assert ids == [d.device_id for d in two.state.devices]
    assert ids != [d.device_id for d in other.state.devices]
    names = [d.name for d in one.state.devices]
    assert len(set(names)) == len(names)


@pytest.mark.dexsim(filler=150)
async def test_pagination_walks_more_than_three_pages(cf: httpx.AsyncClient) -> None:
    seen: list[str] = []
    page, pages = 1, None
    while pages is None or page <= pages:
        response = await cf.get("/commands/devices", params={"page": page, "per_page": 40})
        info = response.json()["result_info"]
        pages = info["total_pages"]
        assert info["page"] == page and info["per_page"] == 40
        assert info["count"] == len(response.json()["result"]["devices"])
        seen += [r["registrationId"] for r in response.json()["result"]["devices"]]
        page += 1
    assert pages == 4  # 8 seeded registrations + 150 filler = 158 rows
    assert len(seen) == len(set(seen)) == 158
    beyond = await cf.get("/commands/devices", params={"page": 9, "per_page": 40})
    assert beyond.json()["result"]["devices"] == []


async def test_fleet_can_grow_at_run_time(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    assert await dex_sim.generate_fleet(12) == 19
    rows = await all_devices(cf, search="fleet-")
    assert len(rows) == 12
    owners = {r["personEmail"] for r in rows}
    assert owners <= {"ann@example.com", "bob@example.com", "carol@example.com",
                      "dave@example.com", "erin@example.com", "frank@example.com",
                      "grace@example.com"}  # fmt: skip


@pytest.mark.parametrize("params", [{"page": 1}, {"per_page": 10}, {"page": 1, "per_page": 51}])
async def test_page_and_per_page_are_required_and_bounded(
    dex_sim: SimHandle, cf: httpx.AsyncClient, params: dict[str, int]
) -> None:
    dex_sim.expect_invalid_requests = True
    response = await cf.get("/commands/devices", params=params)
    assert response.status_code == 400
    assert error_codes(response)


async def test_live_status_is_the_bare_device_object(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    device = dex_sim.device("ann-macbook")
    response = await cf.get(f"/devices/{device.device_id}/fleet-status/live?since_minutes=10")
    assert response.status_code == 200
    body = response.json()
    assert "success" not in body
    assert body["deviceId"] == device.device_id
    assert body["deviceName"] == "ann-macbook"
    assert body["platform"] == "mac" and body["status"] == "connected"
    assert body["colo"] and body["mode"] and body["version"] and body["timestamp"]
    assert 0 <= body["cpuPct"] <= 100 and 0 <= body["ramUsedPct"] <= 100
    assert 0 <= body["diskUsagePct"] <= 100 and 0 <= body["batteryPct"] <= 100
    assert -100 < body["wifiStrengthDbm"] < 0
    assert body["rtt"]["rttUs"]["downstream"] > 0
    assert 0 <= body["estimatedLossPct"] < 5
    assert body["ispIpv4"]["asn"] > 0 and body["ispIpv4"]["name"]


async def test_live_status_can_be_enveloped(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    await dex_sim.configure(live_status_envelope=True)
    device = dex_sim.device("grace-laptop")
    response = await cf.get(f"/devices/{device.device_id}/fleet-status/live?since_minutes=60")
    body = response.json()
    assert body["success"] is True
    assert body["result"]["deviceId"] == device.device_id
    assert body["result"]["status"] == "disconnected"


async def test_live_status_rejects_bad_minutes_and_unknown_devices(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    dex_sim.expect_invalid_requests = True
    device = dex_sim.device("bob-thinkpad")
    too_far = await cf.get(f"/devices/{device.device_id}/fleet-status/live?since_minutes=61")
    assert too_far.status_code == 400
    unknown = await cf.get(f"/devices/{uuid.uuid4()}/fleet-status/live?since_minutes=5")
    assert unknown.status_code == 404
    assert error_codes(unknown)


def test_fleet_file_is_loaded(tmp_path: Any) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(
        '{"filler": 2, "devices": ['
        '{"name": "lab-1", "platform": "linux", "email": "bob@example.com"},'
        '{"name": "shared", "platform": "windows", "registrations": ['
        '{"email": "ann@example.com"}, {"email": "bob@example.com"}]}]}'
    )
    devices = load_fleet(path, seed=3)
    assert [d.name for d in devices] == ["lab-1", "shared", "fleet-0001", "fleet-0002"]
    assert devices[1].multi_user
    assert devices == load_fleet(path, seed=3)
