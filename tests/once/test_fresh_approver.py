"""Issue 16, item 3: an approver removed from the approvers' group is refused at the very next
click, although the bot read (and cached) the group's membership moments earlier."""

from __future__ import annotations

from bot.sim.people import ANN, APPROVALS_CHANNEL, MANAGERS_GROUP_ID, MAX, MIA, SAM, SUPPORT_CHANNEL
from handlers.ids import ActionId
from tests.plugins.bot import BotHarness, click_answers
from tests.scenario.test_capture import buttons, click_approve, wait_thread

PCAP_MAC = f'capture <@{ANN.user_id}> pcap 5m --device ann-macbook --reason "VPN drops"'
PCAP_DESKTOP = f'capture <@{ANN.user_id}> pcap 5m --device ann-desktop --reason "VPN drops"'


async def test_removed_approver_is_refused_at_the_click(bot: BotHarness) -> None:
    await bot.slash(PCAP_MAC, user=SAM)
    parent = bot.slack.messages(SUPPORT_CHANNEL)[-1]
    first = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    await click_approve(bot, first, MAX)  # the managers group is read and cached here
    await wait_thread(bot, parent, "Sent to ann-macbook")
    await bot.slash(PCAP_DESKTOP, user=SAM)
    second = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    assert second.ts != first.ts

    groups = bot.slack.workspace.groups
    groups[MANAGERS_GROUP_ID] = tuple(u for u in groups[MANAGERS_GROUP_ID] if u != MAX.user_id)
    await click_approve(bot, second, MAX)
    await bot.click(
        ActionId.DENY,
        buttons(second)[1]["value"],
        user=MAX,
        channel=APPROVALS_CHANNEL,
        message_ts=second.ts,
    )
    await bot.slack.wait_for(click_answers(bot.slack), count=2, timeout=10)
    refused = [e.text for e in bot.slack.ephemerals(MAX.user_id)]
    assert len(refused) == 2
    assert all(t.endswith("You are not an approver for this request.") for t in refused)
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 1  # only the first
    assert bot.slack.views() == []  # no deny form opened for him
    card_now = next(m for m in bot.slack.messages(APPROVALS_CHANNEL) if m.ts == second.ts)
    assert buttons(card_now)  # still waiting for a real approver

    await click_approve(bot, second, MIA)  # who is still in the group
    await bot.slack.wait_for(
        lambda c: c.method == "chat.postMessage" and "Sent to ann-desktop" in str(c.args),
        timeout=10,
    )
    assert len(bot.cloudflare_posts(await bot.sim.requests("POST"))) == 2
