"""The fake Slack's HTTP layer: a real aiohttp server on a loopback port.

Routes::

    GET|POST /api/<method>            Web API (form, JSON or query arguments; Bearer token)
    POST     /upload/<file_id>?sig=…  upload URL from files.getUploadURLExternal (single use)
    GET      /files-pri/<team>-<file_id>/<name>   download an uploaded file (Bearer token)
    POST     /response/<id>           a response_url from new_response_url()
    GET      /socket/<ticket>         Socket Mode WebSocket from apps.connections.open

Web API answers are HTTP 200 with Slack's ``ok``/``error`` envelope, except rate limits
(injected, or Slack's own per-method ones when switched on): HTTP 429, ``Retry-After`` and
``{"ok": false, "error": "ratelimited"}``. A method outside the manifest's scopes answers
``missing_scope`` with ``needed`` and ``provided``. A held
method (``hold``) is carried out and recorded, then its answer waits until released: the
moment a client can be killed after Slack acted but before the client heard about it. A hold
``before`` acting waits first, and a call whose client went away meanwhile is never carried
out (recorded with status 0). Injected ``http`` faults answer a bare 5xx without acting;
``drop`` faults act, then close the connection unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from aiohttp import BodyPartReader, web

from bot.sim.slack import apphome  # noqa: F401 (registers views.publish)
from bot.sim.slack.methods import METHODS
from bot.sim.slack.model import Channel, SlackError
from bot.sim.slack.ratelimit import RateLimits
from bot.sim.slack.recorder import RESPONSE_URL, UPLOAD, VIEW_ANSWER, ArgsMatcher, Call, CallLog
from bot.sim.slack.render import Context
from bot.sim.slack.scopes import BY_CHANNEL, manifest_scopes, needed_scope
from bot.sim.slack.socket import FAKE_APP_TOKEN, SocketMode
from bot.sim.slack.workspace import Workspace

log = logging.getLogger(__name__)

FAKE_BOT_TOKEN = "xoxb-fake-0000000000-dexbot"
FAKE_SIGNING_SECRET = "fake-signing-secret-8f14e45fceea167a5a36dedd4bea2543"
#: Fields slack_sdk sends as JSON strings in form bodies; recorded decoded.
JSON_FIELDS = frozenset({"blocks", "attachments", "files", "metadata", "view", "event_payload"})
CHUNK = 256 * 1024
#: The bot scopes the fake's token is granted by default: ``app_manifest.yml``'s. Slack
#: reports them on every answer to a valid token, in ``x-oauth-scopes``.
FAKE_SCOPES = tuple(sorted(manifest_scopes()))
#: Methods that take the app-level token (``xapp-``) instead of the bot token.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
#: Injected faults that replace the answer (a ``drop`` fault acts, then hangs up).
ANSWERS = frozenset({"ratelimited", "error", "http"})
#: A private marker from ``_answer`` to ``_api``: answer this bare HTTP status.
_HTTP = "_http_status"


class Hold:
    """One held answer: ``reached`` is set once the call was carried out and recorded (with
    ``before``: once it arrived, not yet carried out)."""

    def __init__(self, before: bool = False, where: ArgsMatcher | None = None) -> None:
        self.before = before
        self.where = where
        self.reached = asyncio.Event()
        self._released = asyncio.Event()

    def release(self) -> None:
        """Let the held answer go out (to whoever is still connected)."""
        self._released.set()

    async def wait_released(self) -> None:
        """Block the answer until ``release()``."""
        await self._released.wait()


class Server:
    """The aiohttp application and the request handlers (``FakeSlack`` builds on it)."""

    def __init__(
        self,
        workspace: Workspace,
        files_dir: Path | None,
        token: str,
        app_token: str = FAKE_APP_TOKEN,
        rate_limits: bool = False,
    ) -> None:
        self.workspace = workspace
        #: Slack's per-method limits; ``self.limits.enabled`` switches them on and off.
        self.limits = RateLimits(workspace.clock, enabled=rate_limits)
        self.token = token
        self.app_token = app_token
        self.log = CallLog()
        self.socket = SocketMode(self._record_socket)
        self._files_dir = files_dir
        self._tmp: str | None = None
        self._runner: web.AppRunner | None = None
        self._base_url = ""
        self._upload_faults: list[Literal["500", "drop"]] = []
        self._used_uploads: set[str] = set()
        self._holds: dict[str, list[Hold]] = {}
        #: Exceptions raised inside the fake itself (each answered ``fatal_error``).
        self.internal_errors: list[Exception] = []

    @property
    def oauth_scopes(self) -> set[str]:
        """The scopes granted to the bot token: the workspace's, which every method checks
        (remove one to provoke ``missing_scope``, as a reinstall without it would)."""
        return self.workspace.scopes

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/`` once started."""
        if not self._base_url:
            raise RuntimeError("FakeSlack is not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """The Web API base for ``AsyncWebClient(base_url=...)``: ``…/api/``."""
        return self.base_url + "api/"

    @property
    def files_dir(self) -> Path:
        """Where uploaded bytes are written."""
        if self._files_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="fake-slack-files-")
            self._files_dir = Path(self._tmp)
        return self._files_dir

    async def _start(self, host: str, port: int) -> None:
        self.socket.accepting = True
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files-pri/{team_file}/{name}", self._download)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_get("/socket/{ticket}", self.socket.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"http://{bound_host}:{bound_port}/"
        self.files_dir.mkdir(parents=True, exist_ok=True)

    async def _stop(self) -> None:
        for hold in (h for held in self._holds.values() for h in held):
            hold.release()  # a held handler would otherwise stall the shutdown
        await self.socket.close_all()  # an open WebSocket would too
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- Web API ---------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        args, token = await _parse(request)
        early = self._take_hold(name, args, before=True)
        if early is not None:
            await early.wait_released()
            if request.transport is None or request.transport.is_closing():
                # The client went away while the call waited: Slack never saw it.
                await self._record(name, args, 0, None, token, request.path)
                return web.Response(status=499)
        drop = self.log.take_fault(name, args, {"drop"}) is not None
        status, body, headers = 200, await self._answer(name, args, token), {}
        if token == self.token:
            headers["X-OAuth-Scopes"] = ",".join(sorted(self.oauth_scopes))
        if body.get("error") == "ratelimited":
            status, headers = 429, {"Retry-After": str(body.pop("retry_after"))}
        http = body.pop(_HTTP, None)
        if http is not None:
            await self._record(name, args, http, None, token, request.path)
            return web.Response(status=http, text="upstream connect error")
        await self._record(name, args, status, body, token, request.path)
        if drop and request.transport is not None:
            request.transport.close()  # acted, recorded, never answered
            return web.Response(status=500)
        late = self._take_hold(name, args, before=False)
        if late is not None:
            await late.wait_released()
        return web.json_response(body, status=status, headers=headers)

    def _take_hold(self, name: str, args: dict[str, Any], *, before: bool) -> Hold | None:
        """The first unreached hold of this kind that the call matches, marked reached."""
        for hold in self._holds.get(name, []):
            fits = hold.where is None or hold.where(args)
            if hold.before is before and not hold.reached.is_set() and fits:
                hold.reached.set()
                return hold
        return None

    async def _answer(self, name: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if name not in METHODS and name not in APP_TOKEN_METHODS:
            return {"ok": False, "error": "unknown_method"}
        if not token:
            return {"ok": False, "error": "not_authed"}
        expected = self.app_token if name in APP_TOKEN_METHODS else self.token
        if token != expected:
            # Slack tells a token of the wrong kind apart from a wrong token.
            wrong_kind = token.startswith("xapp-") != expected.startswith("xapp-")
            return {
                "ok": False,
                "error": "not_allowed_token_type" if wrong_kind else "invalid_auth",
            }
        fault = self.log.take_fault(name, args, ANSWERS)
        if fault is not None and fault.kind == "ratelimited":
            return {"ok": False, "error": "ratelimited", "retry_after": fault.retry_after}
        if fault is not None and fault.kind == "http":
            return {_HTTP: fault.status}
        if fault is not None and fault.kind == "error":
            return {"ok": False, "error": fault.error}
        if name == "apps.connections.open":
            return {"ok": True, "url": self.socket.issue_url(self.base_url)}
        retry_after = self.limits.check(name, args)
        if retry_after is not None:
            return {"ok": False, "error": "ratelimited", "retry_after": retry_after}
        needed = needed_scope(name, args, self._channel_named(name, args))
        if needed is not None and needed not in self.workspace.scopes:
            provided = ",".join(sorted(self.workspace.scopes))
            return {"ok": False, "error": "missing_scope", "needed": needed, "provided": provided}
        try:
            return {"ok": True, **METHODS[name](Context(self.workspace, self.base_url), args)}
        except SlackError as e:
            out: dict[str, Any] = {"ok": False, "error": e.error}
            if e.detail:
                out["response_metadata"] = {"messages": [f"[ERROR] {e.detail}"]}
            return out
        except Exception as e:  # a bug in the fake: answer like Slack's internal error, loudly
            log.exception("fake Slack failed on %s %r", name, args)
            self.internal_errors.append(e)
            return {"ok": False, "error": "fatal_error"}

    def _channel_named(self, name: str, args: dict[str, Any]) -> Channel | None:
        """The conversation a channel-typed method names (its scope depends on the type)."""
        if name not in BY_CHANNEL:
            return None
        return self.workspace.channels.get(str(args.get("channel") or ""))

    async def check_view_answer(self, view_id: str, answer: dict[str, Any]) -> str | None:
        """Check the ack body of a ``view_submission`` as Slack does; recorded as
        ``"view_answer"``. Returns Slack's error code when it would refuse it, else None."""
        try:
            self.workspace.check_view_answer(view_id, answer)
        except SlackError as e:
            detail = {"ok": False, "error": e.error, "detail": e.detail}
            await self._record(VIEW_ANSWER, {"view_id": view_id, **answer}, 200, detail)
            return e.error
        await self._record(VIEW_ANSWER, {"view_id": view_id, **answer}, 200, {"ok": True})
        return None

    async def _record(
        self,
        method: str,
        args: dict[str, Any],
        status: int,
        response: dict[str, Any] | None,
        token: str | None = None,
        path: str = "",
    ) -> None:
        call = Call(self.log.next_seq(), method, args, status, response, token, path)
        await self.log.record(call)
        events, self.workspace.events[:] = list(self.workspace.events), []
        await self.log.publish(events)

    # -- uploads ---------------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.StreamResponse:
        fid = request.match_info["file_id"]
        f = self.workspace.files.get(fid)

        async def refuse(status: int, reason: str) -> web.Response:
            await self._record(
                UPLOAD, {"file_id": fid}, status, {"error": reason}, None, request.path
            )
            return web.Response(status=status, text=reason)

        if f is None or request.query.get("sig") != f.upload_sig:
            return await refuse(404, "not_found")
        if fid in self._used_uploads:
            return await refuse(410, "upload_url_used")
        if request.content_length is None:
            return await refuse(411, "content_length_required")
        if self._upload_faults:
            mode = self._upload_faults.pop(0)
            if mode == "drop" and request.transport is not None:
                request.transport.close()
            return await refuse(500, f"injected_{mode}")
        path = self.files_dir / f"{fid}-{_safe(f.filename)}"
        size, sha = await _stream_to(request, path)
        self._used_uploads.add(fid)
        self.workspace.finish_upload(fid, path, size, sha)
        args = {"file_id": fid, "size": size, "sha256": sha, "declared_length": f.length}
        await self._record(UPLOAD, args, 200, None, None, request.path)
        return web.Response(text=f"OK - {size}")

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=403, text="invalid_auth")
        fid = request.match_info["team_file"].rsplit("-", 1)[-1]
        f = self.workspace.files.get(fid)
        if f is None or f.path is None:
            return web.Response(status=404, text="file_not_found")
        return web.FileResponse(f.path)

    # -- response_url ----------------------------------------------------------------------
    async def _response(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            await self._record(
                RESPONSE_URL, {}, 400, {"error": "invalid_payload"}, None, request.path
            )
            return web.Response(status=400, text="invalid_payload")
        try:
            self.workspace.respond(request.match_info["rid"], body)
        except SlackError as e:
            status = 400 if e.error == "invalid_blocks" else 404
            await self._record(RESPONSE_URL, body, status, {"error": e.error}, None, request.path)
            return web.Response(status=status, text=e.error)
        await self._record(RESPONSE_URL, body, 200, None, None, request.path)
        return web.Response(text="ok")

    async def _record_socket(self, what: str, args: dict[str, Any]) -> None:
        await self._record(what, args, 200, None, None, "/socket")

    def _hold(self, method: str, before: bool, where: ArgsMatcher | None) -> Hold:
        hold = Hold(before, where)
        self._holds.setdefault(method, []).append(hold)
        return hold

    def _fail_upload(self, count: int, mode: Literal["500", "drop"]) -> None:
        self._upload_faults.extend([mode] * count)


async def _parse(request: web.Request) -> tuple[dict[str, Any], str | None]:
    args: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                args.update(body)
        else:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    token = args.pop("token", None)
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        token = auth.removeprefix("Bearer ").strip()
    for key in JSON_FIELDS & args.keys():
        if isinstance(args[key], str):
            # Undecodable JSON is left as sent; the method then answers as Slack does to garbage.
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args, token


async def _stream_to(request: web.Request, path: Path) -> tuple[int, str]:
    """Copy the body (raw, or the first multipart part) to ``path`` chunk by chunk."""
    sha, size = hashlib.sha256(), 0
    fh = await asyncio.to_thread(path.open, "wb")
    try:
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            part = await reader.next()
            while part is not None and not isinstance(part, BodyPartReader):
                part = await reader.next()
            while part is not None and (chunk := await part.read_chunk(CHUNK)):
                sha.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(fh.write, chunk)
        else:
            async for chunk in request.content.iter_chunked(CHUNK):
                sha.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(fh.write, chunk)
    finally:
        await asyncio.to_thread(fh.close)
    return size, sha.hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120] or "file"
