"""Slack's side of Socket Mode, on the fake's loopback server.

``apps.connections.open`` (app-level token only) hands out a single-use WebSocket URL
``ws://127.0.0.1:PORT/socket/<ticket>``. A client that connects there gets Slack's ``hello``;
then a test pushes envelopes to it and waits for the acks::

    await fake.wait_socket_connected()
    ack = await fake.socket_send("slash_commands", slash_command_payload("quota", ...))
    await fake.socket_drop()                  # server-side close: the client must reconnect
    await fake.wait_socket_connected(nth=2)   # a second hello went out

Envelopes go to the newest open connection (Slack spreads them over up to ten). Ping frames
are answered by aiohttp (``autoping``), which is what keeps the SDK's ping-pong check happy.
An envelope Slack gets no ack for within three seconds is, for a slash command, an
``operation_timeout`` in front of the user; ``socket_send`` fails the test the same way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import WSMsgType, web

from bot.sim.slack.model import APP_ID

log = logging.getLogger(__name__)

#: The app-level token (``connections:write``) the fake accepts for ``apps.connections.open``.
FAKE_APP_TOKEN = "xapp-1-A0DEXBOT0-1000000000001-fakeapplevel0000000000000000000000000000"
#: Slack's ack deadline for an envelope.
ACK_DEADLINE = 3.0
#: Pseudo-method names in the call log (``fake.calls()``), next to Web API calls.
SOCKET_HELLO = "socket_hello"
SOCKET_ACK = "socket_ack"
SOCKET_CLOSED = "socket_closed"

EnvelopeType = Literal["slash_commands", "interactive", "events_api"]
ENVELOPE_TYPES: tuple[str, ...] = ("slash_commands", "interactive", "events_api")
#: ``record(method, args)``: how the emulation writes into the fake's call log.
Recorder = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Ack:
    """One acknowledgement the client sent: ``{"envelope_id": ..., "payload"?: ...}``."""

    envelope_id: str
    connection: int
    envelope_type: str
    message: dict[str, Any]

    @property
    def payload(self) -> dict[str, Any] | None:
        """The response payload, when the client sent one (e.g. a slash command's text)."""
        payload = self.message.get("payload")
        return payload if isinstance(payload, dict) else None


@dataclass
class Connection:
    """One WebSocket session a client opened with a ticket."""

    number: int
    ticket: str
    ws: web.WebSocketResponse
    closed: bool = False


class SocketMode:
    """The Socket Mode endpoint of the fake: tickets, sessions, envelopes and acks."""

    def __init__(self, record: Recorder, *, app_id: str = APP_ID) -> None:
        self.app_id = app_id
        self._record = record
        self._tickets: set[str] = set()
        self._numbers = itertools.count(1)
        self._connections: dict[int, Connection] = {}
        self._pending: dict[str, tuple[int, str, asyncio.Future[dict[str, Any]]]] = {}
        self._cond = asyncio.Condition()
        #: False while the fake is stopping: new sessions are refused.
        self.accepting = True
        #: Connections that got a ``hello``, ever (a reconnect makes it two).
        self.hellos = 0
        #: Every ack received, in order.
        self.acks: list[Ack] = []
        #: Text frames from the client that were not acks of a pending envelope.
        self.stray: list[str] = []

    # -- apps.connections.open -------------------------------------------------------------
    def issue_url(self, base_url: str) -> str:
        """A new single-use WebSocket URL on this server (what ``apps.connections.open`` says)."""
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        return base_url.replace("http://", "ws://", 1) + f"socket/{ticket}"

    # -- the WebSocket endpoint ------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /socket/<ticket>``: upgrade, say hello, then read acks until closed."""
        ticket = request.match_info["ticket"]
        if not self.accepting:
            return web.Response(status=503, text="fake Slack is stopping")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or used ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Connection(next(self._numbers), ticket, ws)
        self._connections[conn.number] = conn
        try:
            await self._session(conn)
        finally:
            conn.closed = True
            self._connections.pop(conn.number, None)
            for eid, (number, _, fut) in list(self._pending.items()):
                if number == conn.number and not fut.done():
                    fut.set_exception(ConnectionResetError(f"connection {number} closed"))
                    self._pending.pop(eid, None)
            await self._record(SOCKET_CLOSED, {"connection": conn.number})
            await self._changed()
        return ws

    async def _session(self, conn: Connection) -> None:
        ws = conn.ws
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self.open_connections()),
                "debug_info": {
                    "host": f"applink-fake-{conn.number}",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        self.hellos += 1
        await self._record(SOCKET_HELLO, {"connection": conn.number})
        await self._changed()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await self._on_text(conn, msg.data)

    async def _on_text(self, conn: Connection, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        eid = message.get("envelope_id") if isinstance(message, dict) else None
        pending = self._pending.get(eid) if isinstance(eid, str) else None
        if message is None or pending is None:
            self.stray.append(data)
            log.warning("fake Slack: Socket Mode frame that acks nothing: %.200s", data)
            return
        _, envelope_type, fut = pending
        ack = Ack(str(eid), conn.number, envelope_type, message)
        self.acks.append(ack)
        await self._record(SOCKET_ACK, {"connection": conn.number, **message})
        if not fut.done():
            fut.set_result(message)

    async def _changed(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    # -- what tests use --------------------------------------------------------------------
    def open_connections(self) -> list[Connection]:
        """Sessions still open, oldest first."""
        return [c for c in self._connections.values() if not c.closed and not c.ws.closed]

    def connected(self) -> bool:
        """True while a client holds an open session."""
        return bool(self.open_connections())

    async def wait_connected(self, timeout: float = 5.0, nth: int = 1) -> None:  # noqa: ASYNC109
        """Wait until a session is open and at least ``nth`` hellos have gone out."""

        def ready() -> bool:
            return self.connected() and self.hellos >= nth

        try:
            async with self._cond:
                await asyncio.wait_for(self._cond.wait_for(ready), timeout)
        except TimeoutError:
            raise AssertionError(
                f"fake Slack: no Socket Mode session #{nth} within {timeout}s "
                f"(hellos sent: {self.hellos}, open now: {len(self.open_connections())})"
            ) from None

    async def wait_disconnected(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until no session is open."""
        try:
            async with self._cond:
                await asyncio.wait_for(self._cond.wait_for(lambda: not self.connected()), timeout)
        except TimeoutError:
            raise AssertionError(
                f"fake Slack: Socket Mode sessions still open after {timeout}s"
            ) from None

    async def send(
        self,
        envelope_type: EnvelopeType,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = ACK_DEADLINE,  # noqa: ASYNC109 (Slack's ack deadline)
    ) -> dict[str, Any]:
        """Push one envelope to the newest session and return the client's ack message."""
        if envelope_type not in ENVELOPE_TYPES:
            raise ValueError(f"unknown Socket Mode envelope type {envelope_type!r}")
        sessions = self.open_connections()
        if not sessions:
            raise AssertionError("fake Slack: no Socket Mode client is connected")
        conn = sessions[-1]
        if accepts_response_payload is None:
            accepts_response_payload = envelope_type != "events_api"
        eid = secrets.token_hex(16)
        envelope: dict[str, Any] = {
            "envelope_id": eid,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[eid] = (conn.number, envelope_type, fut)
        try:
            await conn.ws.send_json(envelope)
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            raise AssertionError(
                f"fake Slack: no ack for {envelope_type} envelope {eid} within {timeout}s "
                f"(Slack would show operation_timeout); stray frames: {self.stray}"
            ) from None
        except ConnectionResetError as e:
            raise AssertionError(f"fake Slack: {e} before the {envelope_type} ack") from None
        finally:
            self._pending.pop(eid, None)

    async def drop(self, *, reason: str | None = None, code: int = 1001) -> int:
        """Close every open session from Slack's side; returns how many were closed.

        With ``reason`` (``"refresh_requested"``, ``"warning"``, ``"link_disabled"``), Slack's
        ``{"type": "disconnect", ...}`` message goes out first, as it does before a planned
        close.
        """
        sessions = self.open_connections()
        for conn in sessions:
            if reason is not None:
                await conn.ws.send_json(
                    {
                        "type": "disconnect",
                        "reason": reason,
                        "debug_info": {"host": f"applink-fake-{conn.number}"},
                    }
                )
            await conn.ws.close(code=code, message=b"fake Slack dropped the connection")
        return len(sessions)

    async def close_all(self) -> None:
        """Refuse new sessions and close the open ones (the fake is stopping)."""
        self.accepting = False
        await self.drop(code=1001)
