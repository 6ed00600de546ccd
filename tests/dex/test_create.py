"""``POST /commands`` is never blindly repeated: lost answers are reconciled."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.dex import (
    CommandSpec,
    CommandType,
    DexAmbiguousWriteError,
    DexClient,
    DexRateLimitedError,
    DexTransportError,
)
from tests.dex.clock import FakeClock
from tests.dex.conftest import make_client


async def warp_diag(client: DexClient, name: str = "bob-thinkpad") -> CommandSpec:
    [dev] = [d async for d in client.iter_devices(name) if d.device_name == name]
    assert dev.person_email
    return CommandSpec(
        device_id=dev.device_id, user_email=dev.person_email, type=CommandType.WARP_DIAG
    )


async def posts(dex_sim: Any) -> list[dict[str, Any]]:
    return await dex_sim.requests(method="POST", path_contains="/dex/commands")


async def test_lost_answer_after_create_finds_the_one_command(
    client: DexClient, dex_sim: Any
) -> None:
    spec = await warp_diag(client)
    await dex_sim.fault("drop_after", method="POST")
    [created] = await client.create_commands([spec])

    [command] = await dex_sim.commands()
    assert created.id == command["id"] and created.type == "warp-diag"
    assert len(await posts(dex_sim)) == 1
    reconcile = (await dex_sim.requests(method="GET", path_contains="/dex/commands"))[-1]
    assert reconcile["query"]["device_id"] == spec.device_id
    assert reconcile["query"]["command_type"] == "warp-diag"
    assert reconcile["query"]["from"].endswith("Z")


async def test_reconciling_skips_commands_we_already_knew(client: DexClient, dex_sim: Any) -> None:
    spec = await warp_diag(client)
    [first] = await client.create_commands([spec])
    await dex_sim.fault("drop_after", method="POST")
    [second] = await client.create_commands([spec])
    assert second.id != first.id
    assert {c["id"] for c in await dex_sim.commands()} == {first.id, second.id}
    assert len(await posts(dex_sim)) == 2


async def test_a_stranger_command_in_the_window_makes_it_ambiguous(
    client: DexClient, dex_sim: Any, clock: FakeClock
) -> None:
    spec = await warp_diag(client)
    async with make_client(dex_sim, clock) as dashboard:  # someone else, same account
        await dashboard.create_commands([spec])
    await dex_sim.fault("drop_after", method="POST")
    with pytest.raises(DexAmbiguousWriteError, match="cannot tell which is ours"):
        await client.create_commands([spec])
    assert len(await dex_sim.commands()) == 2


async def test_connection_dropped_before_create_is_ambiguous_not_resent(
    client: DexClient, dex_sim: Any
) -> None:
    spec = await warp_diag(client)
    await dex_sim.fault("drop", method="POST")
    with pytest.raises(DexAmbiguousWriteError, match="check the command list"):
        await client.create_commands([spec])
    assert await dex_sim.commands() == []
    assert len(await posts(dex_sim)) == 1


@pytest.mark.parametrize("kind", ["500", "502"])
async def test_a_5xx_on_create_is_reconciled_not_resent(
    client: DexClient, dex_sim: Any, kind: str
) -> None:
    spec = await warp_diag(client)
    await dex_sim.fault(kind, method="POST")
    with pytest.raises(DexAmbiguousWriteError) as info:
        await client.create_commands([spec])
    assert "DexServerError" in str(info.value)
    assert await dex_sim.commands() == []
    assert len(await posts(dex_sim)) == 1
    assert len(await dex_sim.requests(method="GET", path_contains="/dex/commands")) >= 1


async def test_429_on_create_is_resent_after_retry_after(
    client: DexClient, dex_sim: Any, clock: FakeClock
) -> None:
    spec = await warp_diag(client)
    await dex_sim.fault("429", method="POST", retry_after=2)
    [created] = await client.create_commands([spec])
    assert [c["id"] for c in await dex_sim.commands()] == [created.id]
    assert [r["status"] for r in await posts(dex_sim)] == [429, 200]
    assert clock.slept == [2]


async def test_a_blocked_create_raises_at_once(client: DexClient, dex_sim: Any) -> None:
    spec = await warp_diag(client)
    await dex_sim.fault("block", method="POST", retry_after=300)
    with pytest.raises(DexRateLimitedError) as info:
        await client.create_commands([spec])
    assert info.value.retry_after == pytest.approx(300, abs=1)
    assert len(await posts(dex_sim)) == 1
    assert await dex_sim.commands() == []


async def test_a_timed_out_create_is_reconciled(dex_sim: Any, clock: FakeClock) -> None:
    # The simulator creates the command only after its delay, so when the client reconciles
    # (right after its own timeout) there is nothing yet: the honest answer is "unknown".
    async with make_client(dex_sim, clock, timeout=0.2) as client:
        spec = await warp_diag(client)
        await dex_sim.fault("slow", method="POST", delay=1.0)
        with pytest.raises(DexAmbiguousWriteError, match=r"ReadTimeout|DexTransportError"):
            await client.create_commands([spec])
    assert len(await posts(dex_sim)) == 1


class RefuseFirstPost(httpx.AsyncBaseTransport):
    """Fails the first POST with ConnectError (nothing sent), then behaves."""

    def __init__(self, times: int = 1) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.times = times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.times > 0:
            self.times -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_create_that_never_left_is_sent_again_once(dex_sim: Any, clock: FakeClock) -> None:
    async with httpx.AsyncClient(transport=RefuseFirstPost()) as http:
        client = make_client(dex_sim, clock, http=http)
        spec = await warp_diag(client)
        [created] = await client.create_commands([spec])
    assert [c["id"] for c in await dex_sim.commands()] == [created.id]
    assert len(await posts(dex_sim)) == 1  # the refused attempt never reached Cloudflare
    assert len(clock.slept) == 1


async def test_a_create_that_never_leaves_is_a_plain_transport_error(
    dex_sim: Any, clock: FakeClock
) -> None:
    async with httpx.AsyncClient(transport=RefuseFirstPost(times=5)) as http:
        client = make_client(dex_sim, clock, http=http)
        spec = await warp_diag(client)
        with pytest.raises(DexTransportError) as info:
            await client.create_commands([spec])
    assert not isinstance(info.value, DexAmbiguousWriteError)  # certainly nothing created
    assert await posts(dex_sim) == []
