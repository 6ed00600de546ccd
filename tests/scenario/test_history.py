"""`/dex history` a person can read: device names, who asked and who approved our commands,
commands made elsewhere marked as such, and our requests that never reached Cloudflare."""

from __future__ import annotations

from bot.dex.models import CommandSpec, CommandType
from bot.sim.people import ANN, APPROVALS_CHANNEL, MAX, SAM
from handlers.ids import BlockId, CallbackId
from tests.plugins.bot import BotHarness, blocks_text
from tests.plugins.chat import Chat, buttons


async def test_history_tells_ours_from_others_and_shows_what_never_left(bot: BotHarness) -> None:
    chat = Chat(bot)
    await chat.as_(SAM).types(
        f'/dex pcap <@{ANN.user_id}> 1m --device ann-macbook --reason "VPN drops"'
    )
    await chat.as_(MAX, APPROVALS_CHANNEL).presses("Approve", on=chat.card())
    await chat.thread_says(chat.parent(), "Sent to")
    await chat.as_(SAM).types(f'/dex diag <@{ANN.user_id}> --device ann-macbook --reason "logs"')
    request_id = buttons(chat.card())[0]["value"]
    state = {BlockId.REASON.value: {"reason": {"type": "plain_text_input", "value": "not now"}}}
    await bot.submit_view(CallbackId.DENY_REASON, state, user=MAX, private_metadata=request_id)
    await bot.local.idle()
    # Someone else starts a speed test from the dashboard.
    desktop = bot.sim.device("ann-desktop")
    await bot.dexbot.services.dex.create_commands(
        [
            CommandSpec(
                device_id=desktop.device_id,
                user_email="ann@example.com",
                type=CommandType.SPEED_TEST,
                registration_id=desktop.registrations[0].registration_id,
            )
        ]
    )

    shown = blocks_text((await chat.as_(SAM).types(f"/dex history <@{ANN.user_id}>")).blocks)
    assert "asked by <@U0SAM0010> · approved by <@U0MAX0012>" in shown
    assert "made outside dexbot (dashboard or API)" in shown
    assert "*ann-desktop*" in shown and desktop.device_id[:8] not in shown  # names, not ids
    assert "ann-macbook" in shown
    assert ":no_entry: *WARP diagnostics* · denied by <@U0MAX0012>" in shown
    assert "never reached Cloudflare" in shown
