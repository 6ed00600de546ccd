"""The core loop read as the chat it is: Sam asks, Max approves, the thread tells the story,
and the request's two messages were posted through the outbox exactly once each."""

from __future__ import annotations

from bot.sim.people import ANN, APPROVALS_CHANNEL, MAX, SAM, SUPPORT_CHANNEL
from tests.plugins.bot import BotHarness, blocks_text
from tests.plugins.chat import Chat, buttons


async def test_sam_asks_max_approves_and_the_thread_says_so(bot: BotHarness) -> None:
    chat = Chat(bot)
    answer = await chat.as_(SAM).types(
        f'/dex pcap <@{ANN.user_id}> 5m --device ann-macbook --reason "VPN drops"'
    )
    assert "posted in <#C0SUPPORT>; waiting for approval" in blocks_text(answer.blocks)
    card, parent = chat.card(), chat.parent()
    assert [b["text"]["text"] for b in buttons(card)] == ["Approve", "Deny"]

    await chat.as_(MAX, APPROVALS_CHANNEL).presses("Approve", on=card)
    assert "Approved by <@U0MAX0012>" in await chat.thread_says(parent, "Approved by")
    assert "ann-macbook" in await chat.thread_says(parent, "Sent to")
    assert buttons(chat.card()) == []  # the card says what happened instead
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1

    # Each top-level message was posted once, tagged with its outbox key.
    keys = [
        (c.args.get("metadata") or {}).get("event_payload", {}).get("key", "")
        for c in bot.slack.calls("chat.postMessage")
        if c.args.get("channel") in (SUPPORT_CHANNEL, APPROVALS_CHANNEL)
        and not c.args.get("thread_ts")
    ]
    assert sorted(k.split(":", 1)[1] for k in keys) == [
        "post_card:requested",
        "post_parent:requested",
    ]
    # Every edit carries its blocks (Slack would keep the old ones otherwise).
    assert all(c.args.get("blocks") for c in bot.slack.calls("chat.update"))
