"""Issue 16, item 1: a command recovery adopts (its POST's answer was lost, the bot died before
recording it) goes through the same path as a polled change, whatever status it has reached by
then: its thread reply, its artifact shared once, the request completed."""

from __future__ import annotations

import pytest

from bot.domain.model import RequestState
from bot.services.dispatch import DISPATCH_GRACE, claim, specs_for
from bot.sim.people import MAX
from tests.plugins.bot import BotHarness
from tests.scenario.test_capture import buttons, request_capture
from tests.worker.story import duplicates, shared_files, texts, thread, worker_for

pytestmark = pytest.mark.botclock("sim")
GRACE = DISPATCH_GRACE.total_seconds() + 1
#: (status at adoption, simulator timings, what the thread ends with)
CASES = {
    "PENDING_EXEC": ({"exec_seconds": GRACE + 60, "upload_seconds": 20}, "finished"),
    "PENDING_UPLOAD": ({"exec_seconds": 10, "upload_seconds": GRACE + 60}, "finished"),
    "SUCCESS": ({"exec_seconds": 10, "upload_seconds": 10}, "finished"),
    "FAILED": ({"exec_seconds": 10, "device_outcomes": {"ann-macbook": "FAILED"}}, "failed"),
}


@pytest.mark.parametrize("status", list(CASES))
async def test_an_adopted_command_is_finished_whatever_its_status(
    bot: BotHarness, status: str
) -> None:
    timings, ending = CASES[status]
    await bot.sim.configure(**timings)
    parent, card = await request_capture(bot)
    request_id = buttons(card)[0]["value"]
    svc = bot.dexbot.services
    await svc.captures.approve(request_id, MAX.user_id)
    owned = await claim(svc, request_id, actor="w1")
    assert owned is not None
    # The POST reached Cloudflare; its answer was lost with the process that sent it.
    [created] = await svc.dex.create_commands(specs_for(owned.request))

    await bot.sim.advance(GRACE)
    assert bot.sim.sim.state.command(created.id).status_at(svc.clock()) == status  # type: ignore[union-attr]
    worker = worker_for(bot)
    assert (await worker.tick()).recovered == 1  # adopted
    for _ in range(4):  # the poller sees it move on (and it finishes, if it had not yet)
        await bot.sim.advance(GRACE if status.startswith("PENDING") else 20)
        await worker.tick()

    req = await svc.requests.get(request_id)
    assert req is not None and req.state is RequestState.COMPLETED
    assert [c.command_id for c in req.commands] == [created.id]
    replies = texts(thread(bot.slack, parent))
    assert sum(ending in t and created.id[:8] in t for t in replies) == 1, replies
    assert len(shared_files(bot.slack)) == (0 if status == "FAILED" else 1)
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1
    assert duplicates(bot.slack) == {}
