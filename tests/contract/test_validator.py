"""The contract checker must catch what breaks the contract, or it proves nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from bot.config import LOCAL_SIM_ACCOUNT
from tests.plugins import contract
from tests.plugins.contract import ContractRecorder, ContractValidator, load_validator
from tests.plugins.dexsim import SimHandle

ACCOUNT = f"/client/v4/accounts/{LOCAL_SIM_ACCOUNT}/dex"
AUTH = {"Authorization": "Bearer x"}


@pytest.fixture
def validator() -> ContractValidator:
    found, _ = load_validator()
    return found


def envelope(result: object) -> bytes:
    return json.dumps({"success": True, "errors": [], "messages": [], "result": result}).encode()


def check(validator: ContractValidator, path: str, status: int, body: bytes) -> list[str]:
    return validator.check_response(
        "GET", ACCOUNT + path, {}, AUTH, status, {}, body, "application/json"
    )


def test_good_answers_pass(validator: ContractValidator) -> None:
    quota = {"quota": 25, "quota_usage": 1, "reset_time": "2026-01-02T00:00:00.000Z"}
    assert check(validator, "/commands/quota", 200, envelope(quota)) == []
    failure = {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }
    assert check(validator, "/commands/quota", 403, json.dumps(failure).encode()) == []


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/commands/quota", envelope({"quota": "25", "reset_time": "soon"}), "quota"),
        ("/commands?page=1&per_page=5", envelope({"commands": "none"}), "commands"),
        ("/commands/quota", json.dumps({"result": {}}).encode(), "success"),
        ("/devices/x/fleet-status/live", json.dumps({"deviceId": "x"}).encode(), "colo"),
    ],
)
def test_bad_answers_are_caught(
    validator: ContractValidator, path: str, body: bytes, words: str
) -> None:
    problems = check(validator, path.split("?")[0], 200, body)
    assert problems
    assert words in " ".join(problems)


def test_bad_error_envelope_is_caught(validator: ContractValidator) -> None:
    body = {"success": False, "errors": [{"code": 7, "message": "x"}], "messages": []}
    assert check(validator, "/commands/quota", 404, json.dumps(body).encode())


def test_live_status_may_be_bare_or_enveloped(validator: ContractValidator) -> None:
    device = {
        "colo": "SJC",
        "deviceId": "d",
        "mode": "warp",
        "platform": "mac",
        "status": "connected",
        "timestamp": "2026-01-01T00:00:00Z",
        "version": "2025.1.1.0",
    }
    path = "/devices/d/fleet-status/live"
    assert check(validator, path, 200, json.dumps(device).encode()) == []
    assert check(validator, path, 200, envelope(device)) == []
    assert check(validator, path, 200, envelope({"deviceId": "d"}))


def test_bad_requests_are_caught(validator: ContractValidator) -> None:
    path = ACCOUNT + "/commands"
    assert validator.check_request("GET", path, {"page": "1", "per_page": "10"}, AUTH) == []
    assert validator.check_request("GET", path, {"page": "1"}, AUTH)  # per_page is required
    assert validator.check_request("GET", path, {"page": "1", "per_page": "10"}, {})  # no auth
    legacy = {"commands": [{"device_id": "d", "user_email": "e", "command_type": "pcap"}]}
    assert validator.check_request("POST", path, {}, AUTH, json.dumps(legacy).encode())
    empty_args = {"commands": [{"device_id": "d", "user_email": "e", "type": "pcap", "args": {}}]}
    # ``args: {}`` matches all three argument schemas, which ``oneOf`` forbids.
    assert validator.check_request("POST", path, {}, AUTH, json.dumps(empty_args).encode())


def test_missing_spec_is_reported_not_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(contract.SPEC_ENV, str(tmp_path / "absent.json"))
    with pytest.raises(contract.SpecMissing) as raised:
        load_validator()
    assert "absent.json" in str(raised.value) and contract.SPEC_ENV in str(raised.value)


def test_the_vendored_spec_is_used_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(contract.SPEC_ENV, raising=False)
    _, note = load_validator()
    assert str(contract.VENDORED_SPEC) in note and contract.VENDORED_SPEC.is_file()


@pytest_asyncio.fixture
async def broken_server(
    validator: ContractValidator,
) -> AsyncIterator[tuple[str, ContractRecorder]]:
    """A server that answers the quota endpoint wrongly, behind the contract middleware."""

    async def wrong_quota(request: web.Request) -> web.Response:
        return web.json_response({"success": True, "errors": [], "messages": [], "result": []})

    recorder = ContractRecorder(validator)
    app = web.Application(middlewares=[recorder.middleware()])
    app.router.add_get(ACCOUNT + "/commands/quota", wrong_quota)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", recorder
    finally:
        await runner.cleanup()


async def test_middleware_records_a_bad_response(
    broken_server: tuple[str, ContractRecorder],
) -> None:
    url, recorder = broken_server
    async with httpx.AsyncClient(headers=AUTH) as client:
        await client.get(url + ACCOUNT + "/commands/quota")
    failures = recorder.failures(expect_invalid_requests=True)
    assert [v.kind for v in failures] == ["response"]
    assert "result" in failures[0].message


async def test_fixture_validates_real_traffic(dex_sim: SimHandle) -> None:
    async with httpx.AsyncClient(headers=dex_sim.auth_headers) as client:
        await client.get(dex_sim.account_url + "/dex/commands/quota")
        await client.get(dex_sim.account_url + "/dex/commands?page=1&per_page=3")
    assert dex_sim.contract.checked == 2
    assert dex_sim.contract.violations == []


async def test_fixture_sees_a_bad_request_and_exempts_it_only_when_told(
    dex_sim: SimHandle,
) -> None:
    async with httpx.AsyncClient(headers=dex_sim.auth_headers) as client:
        response = await client.get(dex_sim.account_url + "/dex/commands?page=1&per_page=500")
    assert response.status_code == 400
    (violation,) = dex_sim.contract.violations
    assert violation.kind == "request" and violation.status == 400
    assert dex_sim.contract.failures(expect_invalid_requests=False) == [violation]
    assert dex_sim.contract.failures(expect_invalid_requests=True) == []
    dex_sim.expect_invalid_requests = True
