"""Recording many events in one transaction (``RequestStore.apply_many``, the poller's
batches): each through the same guards as ``apply``, exactly once, on both engines."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.domain.lifecycle import Event
from bot.domain.model import CommandRecord, RequestState, TargetDevice
from bot.store.commands import CommandStore
from bot.store.tables import DexCommandRow, OutboxRow
from bot.store.transitions import Change, CommandChange, RequestStore
from tests.store.test_store import NOW, SUPERSEDE, approve, new_request

LATER = NOW + timedelta(seconds=30)


async def dispatched(store: RequestStore, n: int, devices: int = 2) -> list[str]:
    """``n`` dispatched requests with ``devices`` PENDING_EXEC commands each."""
    ids = []
    for i in range(n):
        devs = tuple(
            TargetDevice(f"dev-{i}-{d}", f"mac-{i}-{d}", "mac", None, "2025.1.1")
            for d in range(devices)
        )
        req = await store.create(new_request(devs), now=NOW, supersede_after=SUPERSEDE)
        await approve(store, req.id, "U0MAX0012", remaining=1000)
        await store.apply(req.id, Event.DISPATCH_STARTED, actor="w", now=NOW)
        cmds = [
            CommandRecord(f"cmd-{i}-{d}", req.id, f"dev-{i}-{d}", "PENDING_EXEC")
            for d in range(devices)
        ]
        await store.apply(req.id, Event.DISPATCHED, actor="w", now=NOW, fence=1, commands=cmds)
        ids.append(req.id)
    return ids


def status(request_id: str, command_id: str, to: str, frm: str = "PENDING_EXEC") -> Change:
    facts = {"device": command_id, "command_id": command_id, "status": to, "command_type": "pcap"}
    change = CommandChange(command_id, frm, to, created_date=NOW - timedelta(minutes=1))
    return Change(request_id, Event.COMMAND_STATUS, facts, f"{command_id}:{to}", change)


async def thread_status_rows(sessions) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        return int(
            await s.scalar(select(func.count()).where(OutboxRow.kind == "thread_status")) or 0
        )


async def test_a_batch_records_every_change_and_completes_finished_requests(sessions) -> None:
    store = RequestStore(sessions)
    ids = await dispatched(store, 3)
    batch = [status(r, f"cmd-{i}-{d}", "SUCCESS") for i, r in enumerate(ids) for d in range(2)]
    assert await store.apply_many(batch, actor="dexbot", now=LATER) == [True] * 6
    for r in ids:
        req = await store.get(r)
        assert req is not None and req.state is RequestState.COMPLETED
    assert await thread_status_rows(sessions) == 6
    # Cloudflare's creation time was recorded on first sight.
    async with sessions() as s:
        dates = set((await s.scalars(select(DexCommandRow.created_date))).all())
    assert dates == {NOW - timedelta(minutes=1)}


async def test_a_change_someone_else_recorded_is_skipped_and_the_rest_land_once(sessions) -> None:
    store = RequestStore(sessions)
    ids = await dispatched(store, 2)
    first = status(ids[0], "cmd-0-0", "PENDING_UPLOAD")
    # Another replica recorded this one already: the whole batch falls back, one at a time.
    assert await store.apply_many([first], actor="other", now=LATER) == [True]
    batch = [
        first,
        status(ids[0], "cmd-0-1", "PENDING_UPLOAD"),
        status(ids[1], "cmd-1-0", "FAILED"),
    ]
    assert await store.apply_many(batch, actor="dexbot", now=LATER) == [False, True, True]
    assert await thread_status_rows(sessions) == 3  # one per change, none twice
    again = await store.apply_many(batch, actor="dexbot", now=LATER)
    assert again == [False, False, False]
    assert await thread_status_rows(sessions) == 3


async def test_first_sight_keeps_a_date_already_known(sessions) -> None:
    store = RequestStore(sessions)
    await dispatched(store, 1, devices=1)
    commands = CommandStore(sessions)
    await commands.set_created_dates({"cmd-0-0": NOW})
    await commands.set_created_dates({"cmd-0-0": LATER})
    (row,) = await commands.in_flight()
    assert row.created_date == NOW
