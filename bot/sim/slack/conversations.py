"""Channels and messages of the fake Slack workspace (the base of ``Workspace``).

Pure state with no HTTP. Anything Slack would refuse raises
:class:`~bot.sim.slack.model.SlackError` with Slack's error code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from bot.sim import people
from bot.sim.slack.model import (
    BOT_ID,
    Channel,
    Ephemeral,
    Event,
    EventKind,
    Message,
    MessageVersion,
    SlackError,
    User,
)
from bot.sim.slack.scopes import manifest_scopes


def im_channel_id(user_id: str) -> str:
    """The DM channel id the fake gives a user (``U0ANN0001`` -> ``D0ANN0001``)."""
    return "D" + user_id[1:]


class Conversations:
    """Users, user groups, channels and everything posted in them."""

    def __init__(
        self,
        *,
        team_id: str = people.TEAM_ID,
        bot_user_id: str = people.BOT.user_id,
        clock: Callable[[], float] = time.time,
        scopes: Iterable[str] | None = None,
    ) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.clock = clock
        #: The app's bot scopes: the manifest's, unless a test narrows or widens them.
        self.scopes: set[str] = set(manifest_scopes() if scopes is None else scopes)
        self.users: dict[str, User] = {}
        self.groups: dict[str, tuple[str, ...]] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[Ephemeral] = []
        self.events: list[Event] = []
        self._last_us = 0
        self._serial = 0

    # -- identifiers -----------------------------------------------------------------------
    def next_ts(self) -> str:
        """A message ts from the clock, strictly increasing (``"1700000000.000100"``)."""
        now_us = max(int(self.clock() * 1_000_000), self._last_us + 1)
        self._last_us = now_us
        return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        """A fresh Slack-looking id such as ``V0FAKE00001``."""
        self._serial += 1
        return f"{prefix}0FAKE{self._serial:05d}"

    def emit(self, kind: EventKind, item: Any, channel: str | None = None) -> None:
        """Record an event for subscribers (the server delivers it after the call)."""
        self.events.append(Event(kind, item, channel))

    # -- channels --------------------------------------------------------------------------
    def add_im(self, user_id: str) -> Channel:
        """The DM between the bot and ``user_id``, created if needed."""
        cid = im_channel_id(user_id)
        if cid not in self.channels:
            self.channels[cid] = Channel(
                cid,
                user_id,
                is_private=True,
                is_im=True,
                bot_member=True,
                members={user_id, self.bot_user_id},
                im_user=user_id,
            )
        return self.channels[cid]

    def set_member(self, channel_id: str, member: bool) -> None:
        """Put the bot in (or take it out of) a channel."""
        ch = self.channels[channel_id]
        ch.bot_member = member
        if member:
            ch.members.add(self.bot_user_id)
        else:
            ch.members.discard(self.bot_user_id)

    def visible_channel(self, channel_id: str, *, user_ok: bool = False) -> Channel:
        """The channel as the bot can see it; private channels it is not in do not exist.

        ``user_ok``: a user id stands for the DM with them, which only ``chat.postMessage``
        accepts; every other method wants the conversation's own ``D…`` id.
        """
        if user_ok and channel_id[:1] in ("U", "W") and channel_id in self.users:
            return self.add_im(channel_id)  # chat.postMessage to a user id opens the DM
        if channel_id.startswith("#"):  # Slack also takes a channel's name
            channel_id = next(
                (c.id for c in self.channels.values() if "#" + c.name == channel_id), ""
            )
        ch = self.channels.get(channel_id)
        if ch is None or (ch.is_private and not ch.bot_member):
            raise SlackError("channel_not_found")
        return ch

    def writable_channel(self, channel_id: str, *, user_ok: bool = False) -> Channel:
        """A channel the bot may post in: visible, and the bot is a member."""
        ch = self.visible_channel(channel_id, user_ok=user_ok)
        if not ch.bot_member:
            raise SlackError("not_in_channel")
        return ch

    def join(self, channel_id: str) -> Channel:
        """``conversations.join``: public channels only."""
        ch = self.channels.get(channel_id)
        if ch is None:
            raise SlackError("channel_not_found")
        if ch.is_private or ch.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        self.set_member(channel_id, True)
        return ch

    # -- messages --------------------------------------------------------------------------
    def message(self, channel_id: str, ts: str) -> Message | None:
        """The message at ``ts`` in the channel, or None."""
        msg = self.messages.get((channel_id, ts))
        return None if msg is None or msg.deleted else msg

    def thread(self, channel_id: str, thread_ts: str) -> list[Message]:
        """The parent then its replies, in ts order."""
        return [
            m
            for (cid, _), m in sorted(self.messages.items(), key=lambda kv: kv[0][1])
            if cid == channel_id
            and not m.deleted
            and (m.ts == thread_ts or m.thread_ts == thread_ts)
        ]

    def channel_messages(self, channel_id: str, *, include_replies: bool = False) -> list[Message]:
        """Messages in the channel in ts order; top level (and broadcasts) unless asked."""
        return [
            m
            for (cid, _), m in sorted(self.messages.items(), key=lambda kv: kv[0][1])
            if cid == channel_id
            and not m.deleted
            and (include_replies or not m.is_reply or m.reply_broadcast)
        ]

    def post(
        self,
        channel_id: str,
        *,
        user: str | None = None,
        text: str = "",
        blocks: list[Any] | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
        reply_broadcast: bool = False,
        files: list[str] | None = None,
        user_ok: bool = False,
    ) -> Message:
        """Post a message (by the bot unless ``user`` is given) and emit ``message_posted``.

        ``user_ok``: ``channel_id`` may be a user id (``chat.postMessage`` only).
        """
        if user is None:
            ch = self.writable_channel(channel_id, user_ok=user_ok)
        elif channel_id in self.channels:  # a person speaking: any channel they can reach
            ch = self.channels[channel_id]
        else:
            raise SlackError("channel_not_found")
        if thread_ts is not None:
            parent = self.message(ch.id, thread_ts)
            if parent is None:
                raise SlackError("thread_not_found")
            thread_ts = parent.thread_ts or parent.ts  # a reply's ts threads under its parent
        author = user or self.bot_user_id
        msg = Message(
            channel=ch.id,
            ts=self.next_ts(),
            user=author,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            metadata=metadata,
            reply_broadcast=reply_broadcast,
            files=list(files or []),
            bot_id=BOT_ID if author == self.bot_user_id else None,
        )
        self.messages[(ch.id, msg.ts)] = msg
        self.emit("message_posted", msg, ch.id)
        return msg

    def update(
        self,
        channel_id: str,
        ts: str,
        *,
        text: str | None = None,
        blocks: list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        """Replace a message's text/blocks, keeping the old version in ``history``."""
        ch = self.visible_channel(channel_id)
        msg = self.message(ch.id, ts)
        if msg is None:
            raise SlackError("message_not_found")
        if msg.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        msg.history.append(MessageVersion(msg.text, msg.blocks, msg.metadata, self.next_ts()))
        if text is not None:
            msg.text = text
        if blocks is not None:
            msg.blocks = blocks
        if metadata is not None:
            msg.metadata = metadata
        msg.edited = {"user": self.bot_user_id, "ts": msg.history[-1].replaced_at}
        self.emit("message_updated", msg, ch.id)
        return msg

    def delete(self, channel_id: str, ts: str) -> Message:
        """Delete a message (it stays in ``messages`` with ``deleted`` set)."""
        msg = self.message(self.visible_channel(channel_id).id, ts)
        if msg is None:
            raise SlackError("message_not_found")
        msg.deleted = True
        self.emit("message_deleted", msg, channel_id)
        return msg

    def post_ephemeral(
        self,
        channel_id: str,
        user: str,
        *,
        text: str = "",
        blocks: list[Any] | None = None,
        thread_ts: str | None = None,
    ) -> Ephemeral:
        """Show a message to one user in a channel they are in."""
        ch = self.writable_channel(channel_id)
        if user not in self.users:
            raise SlackError("user_not_found")
        if user not in ch.members:
            raise SlackError("user_not_in_channel")
        eph = Ephemeral(ch.id, user, text, blocks, thread_ts, self.next_ts())
        self.ephemerals.append(eph)
        self.emit("ephemeral", eph, ch.id)
        return eph

    def ephemerals_for(self, user: str) -> list[Ephemeral]:
        """Ephemeral messages shown to ``user``, oldest first."""
        return [e for e in self.ephemerals if e.user == user]
