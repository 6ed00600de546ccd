"""Helpers for the simulator's own tests: an authenticated client on the account's URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from tests.plugins.dexsim import SimHandle


@pytest_asyncio.fixture
async def cf(dex_sim: SimHandle) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for ``/client/v4/accounts/{account}/dex`` with the right token."""
    async with httpx.AsyncClient(
        base_url=dex_sim.account_url + "/dex", headers=dex_sim.auth_headers, timeout=10
    ) as client:
        yield client


def item(
    sim: SimHandle, device: str, kind: str = "pcap", email: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One command of a create body, for a device named in the seeded fleet."""
    found = sim.device(device)
    return {
        "device_id": found.device_id,
        "user_email": email or found.registrations[0].email,
        "type": kind,
        **extra,
    }


async def create(cf: httpx.AsyncClient, *items: dict[str, Any]) -> httpx.Response:
    """POST /dex/commands with these items."""
    return await cf.post("/commands", json={"commands": list(items)})


async def listing(cf: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    """GET /dex/commands (page 1 of 50 unless given), asserting success."""
    query = {"page": 1, "per_page": 50, **params}
    response = await cf.get("/commands", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_codes(response: httpx.Response) -> list[int]:
    """The v4 envelope's error codes, checking the failure envelope's shape."""
    body = response.json()
    assert body["success"] is False
    assert body["result"] is None
    assert body["messages"] == []
    return [e["code"] for e in body["errors"]]
