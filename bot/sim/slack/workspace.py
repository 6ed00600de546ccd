"""The fake Slack workspace: what the bot has said, where, and to whom.

Pure state with no HTTP: the server (``server.py``) and the method table (``methods.py``)
drive it, and ``dexbot shell`` reads it to draw the conversation. Channels and messages live
in the base class (``conversations.py``); modals, files and response_urls here. Anything
Slack would refuse raises :class:`~bot.sim.slack.model.SlackError` with Slack's error code.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.blockkit import blocks_problems, input_block_ids, view_problems
from bot.sim import people
from bot.sim.slack.conversations import Conversations
from bot.sim.slack.model import (
    BOT_ID,
    Channel,
    Ephemeral,
    FileShare,
    Message,
    MessageVersion,
    Response,
    ResponseUrl,
    SlackError,
    SlackFile,
    User,
    View,
)

#: Slack lets a response_url be used five times within thirty minutes.
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_S = 30 * 60
#: A trigger_id is good for three seconds, once.
TRIGGER_TTL_S = 3.0

DEMO_CHANNELS: tuple[tuple[str, str, bool, bool], ...] = (
    # id, name, private, bot is a member
    (people.SUPPORT_CHANNEL, "dex-support", False, True),
    (people.APPROVALS_CHANNEL, "dex-approvals", False, True),
    (people.PUBLIC_CHANNEL_WITHOUT_BOT, "random", False, False),
    (people.PRIVATE_CHANNEL_WITHOUT_BOT, "secret-ops", True, False),
)
#: Members of the private channel; public channels hold everyone.
PRIVATE_MEMBERS = (people.ANN.user_id, people.MAX.user_id, people.MIA.user_id)


class Workspace(Conversations):
    """The whole fake workspace: conversations plus modals, files and response_urls."""

    def __init__(
        self,
        *,
        team_id: str = people.TEAM_ID,
        bot_user_id: str = people.BOT.user_id,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(team_id=team_id, bot_user_id=bot_user_id, clock=clock)
        self.views: dict[str, View] = {}
        #: Each user's App Home, as ``views.publish`` left it (``bot.sim.slack.apphome``).
        self.homes: dict[str, View] = {}
        self.files: dict[str, SlackFile] = {}
        self.responses: list[Response] = []
        self.response_urls: dict[str, ResponseUrl] = {}
        #: trigger_id -> (user, issued at); only ids the fake issued are good, once, for 3 s.
        self.triggers: dict[str, tuple[str | None, float]] = {}
        self.used_triggers: set[str] = set()
        #: ``files.completeUploadExternal`` refuses bigger files when set (admin restriction).
        self.max_file_size: int | None = None

    @classmethod
    def demo(cls, clock: Callable[[], float] = time.time) -> Workspace:
        """The workspace of ``bot.sim.people``: its people, groups, channels and DMs."""
        ws = cls(clock=clock)
        for p in people.PEOPLE:
            ws.users[p.user_id] = User(p.user_id, p.handle, p.real_name, p.email, p.is_bot)
        ws.groups = dict(people.GROUPS)
        humans = {p.user_id for p in people.PEOPLE if not p.is_bot}
        for cid, name, private, bot_in in DEMO_CHANNELS:
            members = set(PRIVATE_MEMBERS) if private else set(humans)
            ws.channels[cid] = Channel(cid, name, private, bot_member=bot_in, members=members)
            if bot_in:
                members.add(ws.bot_user_id)
        for uid in sorted(humans):
            ws.add_im(uid)
        return ws

    # -- modals ----------------------------------------------------------------------------
    def issue_trigger(self, user: str | None = None) -> str:
        """A trigger_id such as Slack puts in an interaction payload, valid 3 s, once."""
        trigger_id = f"{int(self.clock())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = (user, self.clock())
        return trigger_id

    def _use_trigger(self, trigger_id: str | None) -> str | None:
        if not trigger_id:
            raise SlackError("invalid_arguments", "missing required field: trigger_id")
        if trigger_id in self.used_triggers:
            raise SlackError("exchanged_trigger_id")
        if trigger_id not in self.triggers:
            raise SlackError("invalid_trigger_id")
        self.used_triggers.add(trigger_id)
        user, issued = self.triggers[trigger_id]
        if self.clock() - issued > TRIGGER_TTL_S:
            raise SlackError("expired_trigger_id")
        return user

    @staticmethod
    def _check_view(view: Any) -> dict[str, Any]:
        problems = view_problems(view)
        if problems:
            # Slack answers a bad view with invalid_arguments and the reasons.
            raise SlackError("invalid_arguments", "; ".join(problems))
        return dict(view)

    def check_view_answer(self, view_id: str, answer: dict[str, Any]) -> None:
        """A ``view_submission``'s ack body as Slack checks it; SlackError when refused.

        ``response_action: errors`` may only name input blocks of the view submitted;
        ``update``/``push`` must carry a valid view.
        """
        action = answer.get("response_action")
        if action is None:
            return
        found = self.views.get(view_id)
        if action == "errors":
            errors = answer.get("errors")
            if not isinstance(errors, dict) or not errors:
                raise SlackError("invalid_arguments", "errors must be a non-empty object")
            inputs = input_block_ids(found.view) if found is not None else set()
            unknown = sorted(set(errors) - inputs)
            if unknown:
                raise SlackError(
                    "invalid_arguments", f"errors name blocks that are not inputs: {unknown}"
                )
        elif action in ("update", "push"):
            self._check_view(answer.get("view"))
        elif action != "clear":
            raise SlackError("invalid_arguments", f"unknown response_action {action!r}")

    def open_view(self, trigger_id: str | None, view: Any) -> View:
        """``views.open``: a new modal (uses up the trigger)."""
        body = self._check_view(view)
        user = self._use_trigger(trigger_id)
        vid = self.next_id("V")
        opened = View(vid, body, user, trigger_id, vid, None, secrets.token_hex(8), [body])
        self.views[vid] = opened
        self.emit("view_opened", opened)
        return opened

    def push_view(self, trigger_id: str | None, view: Any) -> View:
        """``views.push``: a modal stacked on the user's latest one."""
        body = self._check_view(view)
        user = self._use_trigger(trigger_id)
        below = next((v for v in reversed(self.views.values()) if v.user == user), None)
        vid = self.next_id("V")
        root = below.root_view_id if below else vid
        pushed = View(
            vid, body, user, trigger_id, root, below.id if below else None, secrets.token_hex(8)
        )
        pushed.versions.append(body)
        self.views[vid] = pushed
        self.emit("view_pushed", pushed)
        return pushed

    def update_view(
        self,
        view: Any,
        *,
        view_id: str | None = None,
        external_id: str | None = None,
        hash: str | None = None,
    ) -> View:
        """``views.update`` by id or external_id; a stale ``hash`` is a ``hash_conflict``."""
        body = self._check_view(view)
        found = self.views.get(view_id or "") or next(
            (
                v
                for v in self.views.values()
                if external_id and v.view.get("external_id") == external_id
            ),
            None,
        )
        if found is None:
            raise SlackError("not_found")
        if hash is not None and hash != found.hash:
            raise SlackError("hash_conflict")
        found.view, found.hash = body, secrets.token_hex(8)
        found.versions.append(body)
        self.emit("view_updated", found)
        return found

    # -- files -----------------------------------------------------------------------------
    def new_upload(self, filename: str | None, length: Any) -> SlackFile:
        """``files.getUploadURLExternal``: announce a file of ``length`` bytes."""
        if not filename:
            raise SlackError("invalid_arguments", "missing required field: filename")
        try:
            size = int(length)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments", "length must be an integer") from None
        if size < 1:
            raise SlackError("invalid_arguments", "length must be positive")
        f = SlackFile(self.next_id("F"), filename, size, int(self.clock()))
        f.upload_sig = secrets.token_urlsafe(16)
        self.files[f.id] = f
        return f

    def finish_upload(self, file_id: str, path: Path, size: int, sha256: str) -> SlackFile:
        """The upload URL received the bytes."""
        f = self.files[file_id]
        f.path, f.size, f.sha256 = path, size, sha256
        return f

    def complete_upload(
        self,
        files: Any,
        *,
        channel_id: str | None = None,
        thread_ts: str | None = None,
        initial_comment: str | None = None,
    ) -> list[SlackFile]:
        """``files.completeUploadExternal``: share uploaded files, as one message, in a thread."""
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments", "files must be a non-empty list")
        done: list[SlackFile] = []
        for spec in files:
            f = self.files.get(str(spec.get("id"))) if isinstance(spec, dict) else None
            if f is None or not f.uploaded:
                raise SlackError("file_not_found")
            if self.max_file_size is not None and (f.size or 0) > self.max_file_size:
                raise SlackError("file_upload_size_restricted")
            done.append(f)
        if channel_id:
            self.writable_channel(channel_id)
        for f, spec in zip(done, files, strict=True):
            f.title = spec.get("title") or f.title or f.filename
        if channel_id:
            msg = self.post(
                channel_id,
                text=initial_comment or "",
                thread_ts=thread_ts,
                files=[f.id for f in done],
            )
            for f in done:
                f.shares.append(FileShare(msg.channel, msg.ts, msg.thread_ts))
                self.emit("file_shared", f, msg.channel)
        return done

    # -- response_url ----------------------------------------------------------------------
    def new_response_url(
        self,
        base_url: str,
        *,
        channel: str | None = None,
        user: str | None = None,
        message_ts: str | None = None,
    ) -> str:
        """A response_url under ``base_url``, remembering what interaction it answers."""
        rid = secrets.token_urlsafe(12)
        url = f"{base_url.rstrip('/')}/response/{rid}"
        self.response_urls[rid] = ResponseUrl(rid, url, self.clock(), channel, user, message_ts)
        return url

    def respond(self, rid: str, body: dict[str, Any]) -> Response:
        """A POST to a response_url: at most 5 within 30 minutes (``used_url``/``expired_url``)."""
        hook = self.response_urls.get(rid)
        if hook is None:
            raise SlackError("no_service")
        blocks = body.get("blocks")
        if blocks is not None:
            problems = blocks_problems(blocks)
            if problems:
                raise SlackError("invalid_blocks", "; ".join(problems))
        if self.clock() - hook.created > RESPONSE_URL_TTL_S:
            raise SlackError("expired_url")
        if hook.uses >= RESPONSE_URL_MAX_USES:
            raise SlackError("used_url")
        hook.uses += 1
        resp = Response(
            url=hook.url,
            body=body,
            text=str(body.get("text") or ""),
            blocks=body.get("blocks"),
            response_type=str(body.get("response_type") or "ephemeral"),
            replace_original=_truthy(body.get("replace_original")),
            delete_original=_truthy(body.get("delete_original")),
            thread_ts=body.get("thread_ts"),
        )
        self.responses.append(resp)
        self.emit("response", resp, hook.channel)
        self._apply_response(hook, resp)
        return resp

    def _apply_response(self, hook: ResponseUrl, resp: Response) -> None:
        original = (
            self.message(hook.channel, hook.message_ts)
            if hook.channel and hook.message_ts
            else None
        )
        if resp.delete_original:
            if original is not None:
                original.deleted = True
                self.emit("message_deleted", original, original.channel)
        elif resp.replace_original and original is not None:
            original.history.append(
                MessageVersion(original.text, original.blocks, original.metadata, self.next_ts())
            )
            original.text, original.blocks = resp.text, resp.blocks
            self.emit("message_updated", original, original.channel)
        elif resp.response_type == "in_channel" and hook.channel in self.channels:
            msg = Message(
                hook.channel,
                self.next_ts(),
                self.bot_user_id,
                resp.text,
                resp.blocks,
                resp.thread_ts,
                bot_id=BOT_ID,
            )
            self.messages[(msg.channel, msg.ts)] = msg
            self.emit("message_posted", msg, msg.channel)
        else:
            eph = Ephemeral(
                hook.channel,
                hook.user,
                resp.text,
                resp.blocks,
                resp.thread_ts,
                self.next_ts(),
                source="response_url",
            )
            self.ephemerals.append(eph)
            self.emit("ephemeral", eph, hook.channel)


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")
