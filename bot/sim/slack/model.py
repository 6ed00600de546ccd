"""The records of the fake Slack workspace: users, channels, messages, modals, files.

Plain dataclasses with no HTTP; :class:`~bot.sim.slack.workspace.Workspace` holds and changes
them and ``dexbot shell`` reads them to draw the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

TEAM_DOMAIN = "dexbot-demo"
TEAM_NAME = "DEX Bot Demo"
BOT_ID = "B0DEXBOT0"
APP_ID = "A0DEXBOT0"

EventKind = Literal[
    "message_posted",
    "message_updated",
    "message_deleted",
    "ephemeral",
    "response",
    "view_opened",
    "view_updated",
    "view_pushed",
    "file_shared",
    "home_published",
]


class SlackError(Exception):
    """Slack refused the call; ``error`` is the code Slack puts in ``{"ok": false}``."""

    def __init__(self, error: str, detail: str | None = None) -> None:
        super().__init__(error if detail is None else f"{error}: {detail}")
        self.error = error
        self.detail = detail


@dataclass
class User:
    """A workspace member as ``users.info`` describes them."""

    id: str
    name: str
    real_name: str
    email: str | None
    is_bot: bool = False
    deleted: bool = False


@dataclass
class Channel:
    """A conversation: public or private channel, or a DM (``D…``) with one user."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    bot_member: bool = False
    members: set[str] = field(default_factory=set)
    im_user: str | None = None
    created: int = 1_700_000_000


@dataclass(frozen=True)
class MessageVersion:
    """What a message said before a ``chat.update`` replaced it."""

    text: str
    blocks: list[Any] | None
    metadata: dict[str, Any] | None
    replaced_at: str


@dataclass
class Message:
    """A message in a channel or thread. ``history`` holds earlier versions, oldest first."""

    channel: str
    ts: str
    user: str
    text: str = ""
    blocks: list[Any] | None = None
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    reply_broadcast: bool = False
    files: list[str] = field(default_factory=list)
    bot_id: str | None = None
    edited: dict[str, str] | None = None
    history: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False

    @property
    def is_reply(self) -> bool:
        """True for a message inside a thread (not the thread's parent)."""
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class Ephemeral:
    """A message only ``user`` sees; ``source`` says whether the API or a response_url sent it."""

    channel: str | None
    user: str | None
    text: str
    blocks: list[Any] | None
    thread_ts: str | None
    message_ts: str
    source: Literal["chat.postEphemeral", "response_url"] = "chat.postEphemeral"


@dataclass
class View:
    """A modal. ``versions`` keeps every view body it was opened or updated with."""

    id: str
    view: dict[str, Any]
    user: str | None
    trigger_id: str | None
    root_view_id: str
    previous_view_id: str | None
    hash: str
    versions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class FileShare:
    """One place a file was shared: its file message ``ts`` and the thread it went into."""

    channel: str
    ts: str
    thread_ts: str | None


@dataclass
class SlackFile:
    """A file announced by ``files.getUploadURLExternal``; bytes live at ``path`` once uploaded."""

    id: str
    filename: str
    length: int
    created: int
    title: str | None = None
    path: Path | None = None
    size: int | None = None
    sha256: str | None = None
    upload_sig: str = ""
    shares: list[FileShare] = field(default_factory=list)

    @property
    def uploaded(self) -> bool:
        """True once the upload URL received the bytes."""
        return self.size is not None


@dataclass
class Response:
    """One POST to a ``response_url``."""

    url: str
    body: dict[str, Any]
    text: str
    blocks: list[Any] | None
    response_type: str
    replace_original: bool
    delete_original: bool
    thread_ts: str | None


@dataclass
class ResponseUrl:
    """A ``response_url`` this fake hosts, with what it was issued for."""

    id: str
    url: str
    created: float
    channel: str | None = None
    user: str | None = None
    message_ts: str | None = None
    uses: int = 0


@dataclass(frozen=True)
class Event:
    """Something the shell may want to draw. ``item`` is the Message, View, … concerned."""

    kind: EventKind
    item: Any
    channel: str | None = None
