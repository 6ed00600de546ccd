"""``FakeSlack``: the fake Slack Web API that tests and ``dexbot shell`` talk to.

A real HTTP server on loopback, so the bot's own ``AsyncWebClient`` and slack-bolt are
exercised unchanged. It keeps a readable model of the workspace (``fake.workspace``),
records every call, injects faults, and tells subscribers what changed::

    async with FakeSlack() as fake:
        client = AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=fake.api_url)
        await client.chat_postMessage(channel=SUPPORT_CHANNEL, text="hi")
        [call] = await fake.wait_for("chat.postMessage")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx

from bot.sim.slack.apphome import app_home_opened_body, post_event
from bot.sim.slack.model import Ephemeral, Message, Response, SlackFile, View
from bot.sim.slack.recorder import ArgsMatcher, Call, CallMatcher, Fault, Subscriber
from bot.sim.slack.server import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, Hold, Server
from bot.sim.slack.socket import ACK_DEADLINE, FAKE_APP_TOKEN, Ack, EnvelopeType
from bot.sim.slack.workspace import Workspace

__all__ = ["FakeSlack"]


class FakeSlack(Server):
    """The fake Slack: start it, point clients at ``api_url``, then inspect what happened."""

    def __init__(
        self,
        workspace: Workspace | None = None,
        files_dir: Path | str | None = None,
        *,
        token: str = FAKE_BOT_TOKEN,
        app_token: str = FAKE_APP_TOKEN,
        rate_limits: bool = False,
    ) -> None:
        """Serve ``workspace`` (default: the demo workspace); uploads go to ``files_dir``
        (default: a temporary directory removed on ``stop``). ``token`` is the bot token the
        Web API accepts, ``app_token`` the app-level one for ``apps.connections.open``.
        ``rate_limits`` switches on Slack's per-method limits (``fake.limits.enabled`` too);
        they are off by default so that tests and the shell run at full speed."""
        super().__init__(
            workspace if workspace is not None else Workspace.demo(),
            Path(files_dir) if files_dir is not None else None,
            token,
            app_token,
            rate_limits,
        )

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeSlack:
        """Listen on ``host:port`` (0: any free port); returns self."""
        await self._start(host, port)
        return self

    async def stop(self) -> None:
        """Stop listening (and drop the temporary files directory, if the fake made it)."""
        await self._stop()

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- what was called -------------------------------------------------------------------
    def calls(self, method: CallMatcher | None = None) -> list[Call]:
        """Every request in arrival order, or those of one method (or matching a predicate).

        Besides Web API methods, uploads are recorded as ``"upload"`` and response_url posts
        as ``"response_url"``; refused and rate-limited calls are recorded too.
        """
        return self.log.calls(method)

    def count(self, method: CallMatcher) -> int:
        """How many calls of ``method`` (or matching a predicate) arrived."""
        return len(self.log.calls(method))

    def last(self, method: CallMatcher) -> Call:
        """The latest call of ``method``; AssertionError if there is none."""
        found = self.log.calls(method)
        if not found:
            raise AssertionError(f"fake Slack: no {method!r} call; calls: {self.log.calls()}")
        return found[-1]

    async def wait_for(
        self,
        what: CallMatcher,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 (the deadline is the point of this helper)
    ) -> list[Call]:
        """Wait (no polling) until ``count`` calls match ``what``; returns the matching calls.

        On timeout raises AssertionError listing every call seen.
        """
        return await self.log.wait_for(what, count, timeout)

    # -- what the workspace shows ----------------------------------------------------------
    def messages(self, channel: str, thread_ts: str | None = None) -> list[Message]:
        """Top-level messages of a channel, or a thread (parent first) when ``thread_ts``."""
        if thread_ts is not None:
            return self.workspace.thread(channel, thread_ts)
        return self.workspace.channel_messages(channel)

    def ephemerals(self, user: str | None = None) -> list[Ephemeral]:
        """Ephemeral messages (chat.postEphemeral and response_urls), optionally to one user."""
        eph = self.workspace.ephemerals
        return [e for e in eph if e.user == user] if user is not None else list(eph)

    def views(self) -> list[View]:
        """Modals opened or pushed, in order."""
        return list(self.workspace.views.values())

    def home(self, user: str) -> View | None:
        """``user``'s App Home as last published (``versions``: every publish), or None."""
        return self.workspace.homes.get(user)

    def files(self) -> list[SlackFile]:
        """Files announced with files.getUploadURLExternal, in order."""
        return list(self.workspace.files.values())

    def responses(self, url: str | None = None) -> list[Response]:
        """Posts accepted by response_urls, optionally by one URL."""
        resp = self.workspace.responses
        return [r for r in resp if r.url == url] if url is not None else list(resp)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` (plain or async) for each change; returns an unsubscribe.

        Events (``bot.sim.slack.model.Event``): message_posted, message_updated,
        message_deleted, ephemeral, response, view_opened, view_updated, view_pushed,
        file_shared, home_published. They are delivered after the call that caused them is recorded.
        """
        return self.log.subscribe(callback)

    # -- interactions the tests or the shell start -----------------------------------------
    def new_response_url(
        self, *, channel: str | None = None, user: str | None = None, message_ts: str | None = None
    ) -> str:
        """A response_url hosted here (5 uses within 30 minutes).

        ``channel``/``user``/``message_ts`` say what it answers, so ``in_channel`` responses
        land in the channel and ``replace_original``/``delete_original`` change that message.
        """
        return self.workspace.new_response_url(
            self.base_url, channel=channel, user=user, message_ts=message_ts
        )

    def new_trigger_id(self, user: str | None = None) -> str:
        """A trigger_id good for one views.open/views.push within 3 seconds (on the
        workspace's clock). Slack refuses ids it did not issue (``invalid_trigger_id``), used
        ones (``exchanged_trigger_id``) and late ones (``expired_trigger_id``); so does the fake.
        """
        return self.workspace.issue_trigger(user)

    async def open_home(
        self,
        user: str,
        *,
        events_url: str | None = None,
        signing_secret: str = FAKE_SIGNING_SECRET,
        tab: str = "home",
        event_id: str | None = None,
        retries: int = 0,
    ) -> dict[str, Any]:
        """``user`` opens the bot's Home tab: Slack sends ``app_home_opened``. Over HTTP
        (signed POST to ``events_url``) when given, else over Socket Mode. ``retries``
        delivers the same event that many more times, as Slack's retries (with
        ``X-Slack-Retry-Num`` / the envelope's ``retry_attempt``). Returns the event body
        with ``"deliveries"``: HTTP statuses, or the Socket Mode acks."""
        body = app_home_opened_body(self.workspace, user, tab=tab, event_id=event_id)
        answers: list[Any] = []
        if events_url is not None:
            async with httpx.AsyncClient(timeout=10) as http:
                for attempt in range(retries + 1):
                    resp = await post_event(
                        http, events_url, body, signing_secret, retry_num=attempt
                    )
                    answers.append(resp.status_code)
        else:
            for attempt in range(retries + 1):
                answers.append(
                    await self.socket.send(
                        "events_api",
                        body,
                        retry_attempt=attempt,
                        retry_reason="timeout" if attempt else "",
                    )
                )
        return {**body, "deliveries": answers}

    # -- faults ----------------------------------------------------------------------------
    def rate_limit(
        self, method: str, count: int = 1, retry_after: int = 1, *, where: ArgsMatcher | None = None
    ) -> None:
        """The next ``count`` calls of ``method`` (whose arguments match ``where``, if given)
        get HTTP 429 with ``Retry-After``."""
        fault = Fault("ratelimited", "ratelimited", retry_after, where=where)
        self.log.inject(method, fault, count)

    def fail(
        self, method: str, error: str, count: int = 1, *, where: ArgsMatcher | None = None
    ) -> None:
        """The next ``count`` calls of ``method`` (matching ``where``) get
        ``{"ok": false, "error": error}``."""
        self.log.inject(method, Fault("error", error, where=where), count)

    def fail_http(
        self, method: str, status: int = 503, count: int = 1, *, where: ArgsMatcher | None = None
    ) -> None:
        """The next ``count`` calls of ``method`` (matching ``where``) get a bare HTTP
        ``status`` (no JSON envelope) and are not carried out: Slack's edge failing."""
        self.log.inject(method, Fault("http", status=status, where=where), count)

    def drop(self, method: str, count: int = 1, *, where: ArgsMatcher | None = None) -> None:
        """The next ``count`` calls of ``method`` (matching ``where``) are carried out and
        recorded, then the connection is closed without an answer: the client cannot know
        whether Slack acted."""
        self.log.inject(method, Fault("drop", where=where), count)

    def fail_upload(self, count: int = 1, mode: Literal["500", "drop"] = "500") -> None:
        """The next ``count`` uploads fail: HTTP 500, or the connection is dropped.

        A failed upload does not use up its upload URL.
        """
        self._fail_upload(count, mode)

    def hold(self, method: str, *, before: bool = False, where: ArgsMatcher | None = None) -> Hold:
        """Carry out and record the next call of ``method`` (matching ``where``), then hold
        its answer until ``hold.release()`` (released anyway at ``stop``).
        ``await hold.reached.wait()`` returns once Slack has acted: kill the client then to
        test exactly-once. With ``before`` the call waits before it is carried out, and is
        never carried out if its client is gone by the release: kill the client then to
        test a crash just before a call."""
        return self._hold(method, before, where)

    def set_member(self, channel: str, member: bool = True) -> None:
        """Put the bot in (or out of) a channel."""
        self.workspace.set_member(channel, member)

    def restrict_file_size(self, max_bytes: int | None) -> None:
        """files.completeUploadExternal answers file_upload_size_restricted above this size."""
        self.workspace.max_file_size = max_bytes

    # -- Socket Mode -----------------------------------------------------------------------
    async def socket_send(
        self,
        envelope_type: EnvelopeType,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        timeout: float = ACK_DEADLINE,  # noqa: ASYNC109 (Slack's ack deadline)
    ) -> dict[str, Any]:
        """Deliver ``payload`` over Socket Mode as Slack would and return the client's ack,
        ``{"envelope_id": ..., "payload"?: ...}``.

        ``envelope_type`` is ``"slash_commands"``, ``"interactive"`` or ``"events_api"``;
        ``accepts_response_payload`` defaults to True except for events. AssertionError when
        no client is connected, or no ack arrives within ``timeout`` (Slack allows 3 s).
        """
        ack = await self.socket.send(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            timeout=timeout,
        )
        answer = ack.get("payload")
        if payload.get("type") == "view_submission" and isinstance(answer, dict):
            await self.check_view_answer(str((payload.get("view") or {}).get("id")), answer)
        return ack

    def socket_connected(self) -> bool:
        """True while a Socket Mode client holds an open session."""
        return self.socket.connected()

    async def wait_socket_connected(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 (the deadline is the point of this helper)
        nth: int = 1,
    ) -> None:
        """Wait until a Socket Mode session is open and at least ``nth`` sessions have been
        greeted with ``hello`` (``nth=2``: the client came back after a drop)."""
        await self.socket.wait_connected(timeout, nth)

    async def socket_drop(self, *, reason: str | None = None) -> int:
        """Close the open Socket Mode sessions from Slack's side (a client must reconnect);
        with ``reason``, Slack's ``disconnect`` message goes first. Returns how many closed."""
        return await self.socket.drop(reason=reason)

    def socket_acks(self) -> list[Ack]:
        """Every Socket Mode ack received, in order."""
        return list(self.socket.acks)
