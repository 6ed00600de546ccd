"""A conversation-style driver over the bot harness, so a scenario reads like the chat it
checks::

    chat = Chat(bot)
    answer = await chat.as_(SAM).types(f"/dex pcap <@{ANN.user_id}> 5m --reason x")
    card = chat.card()                      # the newest approval card
    await chat.as_(MAX).presses("Approve", on=card)
    assert "Sent to ann-macbook" in await chat.thread_says(chat.parent(), "Sent to")

Every step is a signed request over HTTP, exactly as Slack sends it; after each one the
driver waits until the bot has finished answering (its listeners count themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.sim.people import APPROVALS_CHANNEL, SUPPORT_CHANNEL, Person
from bot.sim.slack.model import Message
from tests.plugins.bot import BotHarness, Reply


def buttons(msg: Message) -> list[dict[str, Any]]:
    """The buttons on a message, in order."""
    return [el for b in msg.blocks or [] if b.get("type") == "actions" for el in b["elements"]]


@dataclass
class Chat:
    """The people at their Slack clients, acting on the running bot."""

    bot: BotHarness
    person: Person | None = None
    channel: str = SUPPORT_CHANNEL

    def as_(self, person: Person, channel: str | None = None) -> Chat:
        """The same chat, acted in by ``person`` (in ``channel``)."""
        return Chat(self.bot, person, channel or self.channel)

    async def types(self, line: str) -> Reply:
        """Type a ``/dex …`` line; the ephemeral answer the person sees."""
        assert self.person is not None, "say who is typing: chat.as_(SAM)"
        text = line.removeprefix("/dex").strip()
        reply = await self.bot.slash(text, user=self.person, channel=self.channel)
        assert reply is not None
        await self.bot.local.idle()
        return reply

    async def presses(self, label: str, *, on: Message) -> None:
        """Press the button labelled ``label`` on a message (confirming its dialog)."""
        assert self.person is not None, "say who is pressing: chat.as_(MAX)"
        [button] = [b for b in buttons(on) if b["text"]["text"] == label]
        resp = await self.bot.click(
            button["action_id"],
            button.get("value") or "",
            user=self.person,
            channel=on.channel,
            message_ts=on.ts,
        )
        assert resp.status_code == 200, resp.text
        await self.bot.local.idle()

    def card(self) -> Message:
        """The newest approval card, as it reads now."""
        return self.bot.slack.messages(APPROVALS_CHANNEL)[-1]

    def parent(self, channel: str | None = None) -> Message:
        """The newest request message in the channel, as it reads now."""
        return self.bot.slack.messages(channel or self.channel)[-1]

    def thread(self, parent: Message) -> list[str]:
        """The replies under a request message, oldest first."""
        return [m.text for m in self.bot.slack.messages(parent.channel, thread_ts=parent.ts)[1:]]

    async def thread_says(self, parent: Message, needle: str, timeout: float = 10) -> str:  # noqa: ASYNC109
        """Wait for a reply containing ``needle`` under ``parent``; returns it."""
        await self.bot.slack.wait_for(
            lambda c: (
                c.method == "chat.postMessage"
                and c.args.get("thread_ts") == parent.ts
                and needle in str(c.args.get("text"))
            ),
            timeout=timeout,
        )
        return next(t for t in self.thread(parent) if needle in t)
