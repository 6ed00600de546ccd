"""What runs before an ack is bounded (handlers/ack.py): past the budget the caller goes on
to ack, and the work still finishes after."""

from __future__ import annotations

import asyncio

from handlers.ack import ACK_BUDGET_SECONDS, before_ack


async def test_quick_work_is_done_before_the_ack() -> None:
    async def write() -> str:
        return "intent-1"

    task = await before_ack(write(), "a quick write")
    assert task.done() and task.result() == "intent-1"


async def test_slow_work_lets_the_ack_go_first_then_finishes() -> None:
    release = asyncio.Event()

    async def write() -> str:
        await release.wait()  # a database busy with someone else's transaction
        return "intent-2"

    loop = asyncio.get_running_loop()
    started = loop.time()
    task = await before_ack(write(), "a slow write")
    waited = loop.time() - started
    assert not task.done()  # the caller acks now
    assert waited >= ACK_BUDGET_SECONDS  # it gave the work its budget, then let the ack go
    release.set()
    assert await task == "intent-2"
