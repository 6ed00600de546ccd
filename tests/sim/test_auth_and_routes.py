"""Cloudflare-style authentication and routing errors, in the v4 envelope."""

from __future__ import annotations

import httpx

from tests.plugins.dexsim import SimHandle
from tests.sim.conftest import error_codes

QUOTA = "/dex/commands/quota"


async def test_no_token_is_401(dex_sim: SimHandle) -> None:
    dex_sim.expect_invalid_requests = True  # the contract requires a credential
    async with httpx.AsyncClient() as client:
        response = await client.get(dex_sim.account_url + QUOTA)
    assert response.status_code == 401
    assert error_codes(response) == [10000]


async def test_malformed_authorization_is_401(dex_sim: SimHandle) -> None:
    dex_sim.expect_invalid_requests = True
    async with httpx.AsyncClient() as client:
        response = await client.get(
            dex_sim.account_url + QUOTA, headers={"Authorization": f"Token {dex_sim.token}"}
        )
    assert response.status_code == 401
    assert error_codes(response) == [10000]


async def test_wrong_token_is_403(dex_sim: SimHandle) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            dex_sim.account_url + QUOTA, headers={"Authorization": "Bearer not-the-token"}
        )
    assert response.status_code == 403
    assert error_codes(response) == [10000]
    assert response.json()["errors"][0]["message"] == "Authentication error"


async def test_unknown_account_is_404_7003(dex_sim: SimHandle) -> None:
    async with httpx.AsyncClient(headers=dex_sim.auth_headers) as client:
        response = await client.get(f"{dex_sim.base_url}/accounts/{'f' * 32}{QUOTA}")
    assert response.status_code == 404
    assert error_codes(response) == [7003]


async def test_unknown_route_is_404_7003(dex_sim: SimHandle) -> None:
    dex_sim.expect_invalid_requests = True  # not a path of the contract
    async with httpx.AsyncClient(headers=dex_sim.auth_headers) as client:
        response = await client.get(dex_sim.account_url + "/dex/nothing-here")
    assert response.status_code == 404
    assert error_codes(response) == [7003]


async def test_wrong_method_is_an_envelope_too(dex_sim: SimHandle) -> None:
    dex_sim.expect_invalid_requests = True
    async with httpx.AsyncClient(headers=dex_sim.auth_headers) as client:
        response = await client.delete(dex_sim.account_url + QUOTA)
    assert response.status_code == 405
    assert error_codes(response) == [7001]


async def test_every_request_is_recorded_with_its_answer(dex_sim: SimHandle) -> None:
    async with httpx.AsyncClient(headers=dex_sim.auth_headers) as client:
        await client.get(dex_sim.account_url + QUOTA)
        await client.get(dex_sim.account_url + "/dex/commands", params={"page": 2, "per_page": 5})
    seen = await dex_sim.requests()
    assert [(r["method"], r["status"]) for r in seen] == [("GET", 200), ("GET", 200)]
    assert seen[1]["query"] == {"page": "2", "per_page": "5"}
    assert seen[1]["json"] is None
    assert await dex_sim.requests(path_contains="/quota") == [seen[0]]
    assert await dex_sim.requests(method="POST") == []
