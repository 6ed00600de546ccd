"""``GET /dex/commands``: newest first, pagination, every filter, and from/to."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from tests.plugins.dexsim import SimHandle
from tests.sim.conftest import create, error_codes, item, listing


async def make_history(dex_sim: SimHandle, cf: httpx.AsyncClient) -> list[dict]:
    """Five commands a minute apart; the first two have finished by the end."""
    plan = [
        ("bob-thinkpad", "pcap"),
        ("ann-macbook", "warp-diag"),
        ("ann-desktop", "speed-test"),
        ("bob-thinkpad", "warp-diag"),
        ("grace-laptop", "pcap"),
    ]
    made = []
    for name, kind in plan:
        made += (await create(cf, item(dex_sim, name, kind))).json()["result"]["commands"]
        await dex_sim.advance(60)
    return made


async def test_newest_first_with_every_filter(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    made = await make_history(dex_sim, cf)
    ids = [c["id"] for c in made]
    rows = (await listing(cf))["result"]["commands"]
    assert [r["id"] for r in rows] == ids[::-1]

    async def ids_for(**params: str) -> list[str]:
        return [r["id"] for r in (await listing(cf, **params))["result"]["commands"]]

    assert await ids_for(command_type="warp-diag") == [ids[3], ids[1]]
    assert await ids_for(device_id=dex_sim.device("bob-thinkpad").device_id) == [ids[3], ids[0]]
    assert await ids_for(user_email="ann@example.com") == [ids[2], ids[1]]
    assert await ids_for(status="PENDING_EXEC") == [ids[4]]
    assert await ids_for(status="SUCCESS") == [ids[3], ids[2], ids[1], ids[0]]
    assert await ids_for(status="FAILED") == []
    assert await ids_for(command_type="pcap", status="SUCCESS") == [ids[0]]


async def test_from_and_to_compare_created_date(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    made = await make_history(dex_sim, cf)
    rows = {r["id"]: r for r in (await listing(cf))["result"]["commands"]}
    created = [datetime.fromisoformat(rows[c["id"]]["created_date"]) for c in made]
    start = (created[1] + timedelta(seconds=30)).isoformat()
    end = created[3].isoformat()  # inclusive
    window = await listing(cf, **{"from": start, "to": end})
    assert [r["id"] for r in window["result"]["commands"]] == [made[3]["id"], made[2]["id"]]
    since = await listing(cf, **{"from": created[4].isoformat().replace("+00:00", "Z")})
    assert [r["id"] for r in since["result"]["commands"]] == [made[4]["id"]]


async def test_bad_filters_are_400(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    dex_sim.expect_invalid_requests = True
    for params in ({"status": "DONE"}, {"command_type": "ping"}, {"from": "yesterday"}):
        response = await cf.get("/commands", params={"page": 1, "per_page": 5, **params})
        assert response.status_code == 400, params
        assert error_codes(response)


@pytest.mark.dexsim(filler=40)
async def test_pagination_over_more_than_three_pages(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await dex_sim.set_quota(quota=100)
    names = [f"fleet-{n:04d}" for n in range(1, 38)]
    for start in range(0, len(names), 10):
        batch = [item(dex_sim, n, "speed-test") for n in names[start : start + 10]]
        assert (await create(cf, *batch)).status_code == 200
        await dex_sim.advance(1)
    seen: list[str] = []
    for page in range(1, 6):
        body = await listing(cf, page=page, per_page=10)
        info = body["result_info"]
        assert info["total_count"] == 37 and info["total_pages"] == 4
        assert info["count"] == len(body["result"]["commands"])
        seen += [r["id"] for r in body["result"]["commands"]]
    assert len(seen) == len(set(seen)) == 37
    created = [r["created_date"] for r in (await listing(cf))["result"]["commands"]]
    assert created == sorted(created, reverse=True)
