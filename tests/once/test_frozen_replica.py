"""Issue 16, items 2 and 9 (fencing), on two real replicas on PostgreSQL: replica A takes the
approval and starts dispatching, then is frozen (SIGSTOP) past the dispatch grace while it
waits for Cloudflare. Replica B reconciles, finds nothing and sends the command. A wakes up
(SIGCONT): it must neither undo B's dispatch nor send a second command. One command."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bot.domain.model import RequestState
from bot.sim.people import APPROVALS_CHANNEL, MAX
from bot.sim.slack import FAKE_SIGNING_SECRET
from bot.sim.slack.payloads import block_actions_body, signed_headers
from handlers.ids import ActionId
from tests.once.procs import logs, serve_process, wait_ready, worker_process
from tests.plugins.bot import BotHarness
from tests.scenario.test_capture import buttons, request_capture
from tests.worker.story import duplicates

GRACE = {"DEX_DISPATCH_GRACE_SECONDS": "2", "DEX_POLL_INTERVAL_SECONDS": "0.2"}


async def until(check, what: str, tmp_path: Path, deadline: float = 30) -> None:  # type: ignore[no-untyped-def]
    """Wait for ``check()`` (a coroutine function) to be true, with a deadline."""
    try:
        async with asyncio.timeout(deadline):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.05)  # a condition poll, not a timed wait
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}\n{logs(tmp_path)}") from None


@pytest.mark.postgres
@pytest.mark.botdb("postgres")
async def test_a_frozen_replica_neither_undoes_nor_repeats_anothers_dispatch(
    bot: BotHarness, tmp_path: Path
) -> None:
    parent, card = await request_capture(bot)
    rid = buttons(card)[0]["value"]
    store = bot.dexbot.services.requests

    async def state() -> RequestState | None:
        req = await store.get(rid)
        return req.state if req else None

    with serve_process(bot, tmp_path, "replica-a", **GRACE) as (a, url):
        await wait_ready(url, a)
        edit = bot.slack.hold("chat.update")  # A edits the card after approving, pre-claim
        response_url = bot.slack.new_response_url(channel=APPROVALS_CHANNEL, user=MAX.user_id)
        body = block_actions_body(
            ActionId.APPROVE, rid, MAX.user_id, APPROVALS_CHANNEL, card.ts, response_url, "t-1"
        )
        headers = signed_headers(FAKE_SIGNING_SECRET, body)
        click = await bot.http.post(f"{url}/slack/events", content=body, headers=headers)
        assert click.status_code == 200
        await asyncio.wait_for(edit.reached.wait(), 30)
        # A's next Cloudflare call, the dispatch's quota check, hangs.
        await bot.sim.fault("slow", method="GET", path="/quota", delay=6)
        edit.release()

        async def dispatching() -> bool:
            return await state() is RequestState.DISPATCHING

        await until(dispatching, "A's claim", tmp_path)
        a.send_signal(signal.SIGSTOP)  # frozen while it waits for Cloudflare

        with worker_process(bot, tmp_path, "replica-b", **GRACE):

            async def sent_by_b() -> bool:
                return await state() is RequestState.DISPATCHED

            await until(sent_by_b, "B's dispatch", tmp_path)
        a.send_signal(signal.SIGCONT)

        async def a_woke_and_finished() -> bool:
            # Either it noticed before sending, or its fenced record of a send was refused.
            text = logs(tmp_path)
            return "was taken over; not sending" in text or "lost its claim" in text

        await until(a_woke_and_finished, "A to finish its stale attempt", tmp_path)

    commands = await bot.sim.commands()
    req = await store.get(rid)
    assert req is not None and req.state is RequestState.DISPATCHED, logs(tmp_path)
    assert len(commands) == 1, logs(tmp_path)
    assert [c.command_id for c in req.commands] == [commands[0]["id"]]
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1
    trail = [a.action for a in await store.audit_trail(rid)]
    assert trail.count("dispatched") == 1
    await bot.dexbot.services.deliverer.run_once()
    sent = [m.text for m in bot.slack.messages(parent.channel, thread_ts=parent.ts)]
    assert sum("Sent to" in t for t in sent) == 1
    assert duplicates(bot.slack) == {}
