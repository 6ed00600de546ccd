"""The requester is told each outcome directly, with a link to the thread: approved, denied,
expired, completed; never about their own decision; and not at all when the setting is off."""

from __future__ import annotations

import pytest

from bot.domain.model import RequestState
from bot.sim.people import APPROVALS_CHANNEL, MAX, MIA, SAM
from bot.sim.slack.conversations import im_channel_id
from bot.sim.slack.model import Message
from handlers.ids import ActionId, BlockId, CallbackId
from tests.plugins.bot import BotHarness
from tests.scenario.test_capture import buttons, click_approve, request_capture
from tests.worker.story import advance_and_tick, worker_for


def dms(bot: BotHarness) -> list[str]:
    """What Sam reads in his direct messages from dexbot."""
    return [m.text for m in bot.slack.messages(im_channel_id(SAM.user_id))]


async def wait_dm(bot: BotHarness, needle: str) -> str:
    calls = await bot.slack.wait_for(
        lambda c: (
            c.method == "chat.postMessage"
            and c.args.get("channel") == SAM.user_id
            and needle in str(c.args.get("text"))
        ),
        timeout=10,
    )
    return str(calls[0].args["text"])


@pytest.mark.botclock("sim")
async def test_approved_then_completed_each_with_the_thread_link(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    await click_approve(bot, card, MAX)
    approved = await wait_dm(bot, "was approved by")
    assert approved.startswith("Your packet capture, 5 min for <@U0ANN0001> (request ")
    assert f"was approved by <@{MAX.user_id}>." in approved
    assert "|Open the thread>" in approved and parent.ts.replace(".", "") in approved
    worker = worker_for(bot)
    request_id = _id(card)
    for _ in range(10):  # the simulated device picks it up, captures, uploads
        await advance_and_tick(bot, worker, 60)
        req = await bot.dexbot.services.requests.get(request_id)
        assert req is not None
        if req.state is RequestState.COMPLETED:
            break
    await bot.dexbot.services.deliverer.run_once()
    finished = await wait_dm(bot, "has finished")
    assert "|Open the thread>" in finished
    assert sum("was approved" in t for t in dms(bot)) == 1


async def test_denied_with_the_reason(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    request_id = buttons(card)[0]["value"]
    await bot.click(
        ActionId.DENY, request_id, user=MIA, channel=APPROVALS_CHANNEL, message_ts=card.ts
    )
    await bot.slack.wait_for("views.open", timeout=10)
    state = {BlockId.REASON.value: {"reason": {"type": "plain_text_input", "value": "use HAR"}}}
    await bot.submit_view(CallbackId.DENY_REASON, state, user=MIA, private_metadata=request_id)
    denied = await wait_dm(bot, "was denied by")
    assert f"was denied by <@{MIA.user_id}>: use HAR" in denied


@pytest.mark.botclock("sim")
@pytest.mark.botenv(dex_approval_ttl_seconds=600)
async def test_expired(bot: BotHarness) -> None:
    await request_capture(bot)
    await advance_and_tick(bot, worker_for(bot), 11 * 60)
    expired = await wait_dm(bot, "expired")
    assert "nobody approved it within 10 min" in expired


async def test_no_message_about_ones_own_withdrawal(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    request_id = buttons(card)[0]["value"]
    await bot.dexbot.services.flows.deny(request_id, SAM.user_id, None)
    await bot.dexbot.services.deliverer.run_once()
    assert dms(bot) == []


@pytest.mark.botenv(dex_tell_requester=False)
async def test_the_setting_turns_it_off(bot: BotHarness) -> None:
    _, card = await request_capture(bot)
    await click_approve(bot, card, MAX)
    await bot.slack.wait_for("chat.update", count=2, timeout=10)
    await bot.local.idle(10)
    await bot.dexbot.services.deliverer.run_once()
    assert dms(bot) == []
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1


def _id(card: Message) -> str:
    assert card.metadata is not None
    return str(card.metadata["event_payload"]["key"]).split(":")[0]
