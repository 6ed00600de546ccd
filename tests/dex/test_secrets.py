"""The API token never shows up in a repr, an error message or a log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.dex import DexAuthError, DexClient, DexError, DexTransportError
from tests.dex.clock import FakeClock
from tests.dex.conftest import make_client


async def test_the_token_stays_secret(
    dex_sim: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    token = dex_sim.token
    caplog.set_level(logging.DEBUG)
    errors: list[DexError] = []
    async with make_client(dex_sim, clock, max_attempts=2) as client:
        assert token not in repr(client) and token not in str(client)
        assert token not in repr(client.__dict__.get("_token"))
        await dex_sim.fault("drop", count=2)
        with pytest.raises(DexTransportError) as transport:
            await client.get_quota()
        errors.append(transport.value)
        await dex_sim.fault("500", count=2)
        with pytest.raises(DexError) as server:
            await client.get_quota()
        errors.append(server.value)

    wrong = token + "-but-wrong"
    async with DexClient(dex_sim.base_url, wrong, dex_sim.account_id) as other:
        with pytest.raises(DexAuthError) as auth:
            await other.get_quota()
        errors.append(auth.value)
        assert wrong not in repr(other)

    for err in errors:
        for text in (str(err), repr(err), str(err.__cause__), repr(err.__cause__)):
            assert token not in text
    assert caplog.records  # retries were logged...
    assert all(token not in r.getMessage() for r in caplog.records)  # ...without the token
