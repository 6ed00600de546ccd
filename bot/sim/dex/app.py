"""The ``/client/v4`` API: routes, the v4 envelope, auth, faults and the rate limit.

Every request under ``/client/v4`` goes through ``api_middleware``: it is recorded (for
``GET /_sim/requests``), may meet an injected fault or the rate limit, is authenticated
like Cloudflare does (Bearer token; 401 missing, 403 wrong, 404 unknown account), and any
error becomes a v4 envelope ``{success: false, errors: [{code, message}], messages: [],
result: null}``.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bot.sim.dex.clock import isoformat
from bot.sim.dex.config import (
    AUTH_ERROR,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NO_ROUTE,
    NOT_FOUND,
    RATE_LIMITED,
    SimApiError,
)
from bot.sim.dex.live import live_status
from bot.sim.dex.state import STATUSES, TYPES, args_as_strings, bad

if TYPE_CHECKING:
    from bot.sim.dex.simulator import DexSimulator

API = "/client/v4"
ACCOUNT = API + "/accounts/{account_id}/dex"
FAULT_KEY = web.RequestKey("dexsim.fault", str)
#: ``FAULT_KEY`` of a deliberately empty answer (``live_no_data: empty``), outside the contract.
EMPTY_BODY = "empty_body"
_BAD_GATEWAY_HTML = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    "</h1></center><hr><center>cloudflare</center></body></html>"
)


class ConnectionDropped(web.HTTPException):
    """Raised after the connection was closed on purpose: no response will reach the client."""

    status_code = 500


def envelope(result: Any, result_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """A successful v4 envelope."""
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return body


def error_response(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A v4 error envelope."""
    body = {
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": None,
    }
    return web.json_response(body, status=status, headers=headers)


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()
    raise ConnectionDropped()


def api_middleware(sim: DexSimulator) -> Middleware:
    """The simulator's middleware for everything under ``/client/v4``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API + "/") and request.path != API:
            return await handler(request)
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "json": await _json_or_none(request),
            "status": None,
            "fault": None,
            "time": isoformat(sim.clock.now()),
        }
        sim.requests.append(record)
        response = await _answer(sim, request, handler, record)
        record["status"] = response.status
        return response

    return middleware


async def _json_or_none(request: web.Request) -> Any:
    if not request.body_exists:
        return None
    try:
        return json.loads(await request.read())
    except ValueError:
        return None


async def _answer(
    sim: DexSimulator, request: web.Request, handler: Handler, record: dict[str, Any]
) -> web.StreamResponse:
    cfg = sim.config
    now = sim.clock.timestamp()
    fault = sim.faults.take(request.method, request.path)
    if fault is not None:
        request[FAULT_KEY] = record["fault"] = fault.kind
        if fault.kind == "drop":
            _drop(request)
        if fault.kind == "block":
            sim.limiter.block(now, fault.retry_after or cfg.block_seconds)
    wait = sim.limiter.hit(now, cfg.rate_limit, cfg.rate_window_seconds, cfg.block_seconds)
    if wait > 0:
        return _too_many(wait)
    if fault is not None:
        if fault.kind == "429":
            return _too_many(fault.retry_after if fault.retry_after is not None else 1)
        if fault.kind == "500":
            return error_response(500, INTERNAL_ERROR, "Internal server error")
        if fault.kind == "502":
            return web.Response(status=502, text=_BAD_GATEWAY_HTML, content_type="text/html")
        if fault.kind == "error":
            after = fault.retry_after
            headers = {"Retry-After": str(max(1, math.ceil(after)))} if after is not None else None
            return error_response(fault.status, fault.code, fault.message, headers)
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
    try:
        _authenticate(sim, request)
        response = await handler(request)
    except ConnectionDropped:
        raise
    except SimApiError as exc:
        response = error_response(exc.status, exc.code, exc.message, exc.headers)
    except web.HTTPMethodNotAllowed:
        response = error_response(405, METHOD_NOT_ALLOWED, "Method not allowed for this route")
    except web.HTTPException as exc:
        response = error_response(exc.status, NO_ROUTE, f"No route for the URI {request.path}")
    if fault is not None and fault.kind == "drop_after":
        _drop(request)
    return response


def _too_many(seconds: float) -> web.Response:
    retry = str(max(1, math.ceil(seconds)))
    return error_response(
        429,
        RATE_LIMITED,
        "Rate limited. Please wait and consider throttling your request speed",
        headers={"Retry-After": retry},
    )


def _authenticate(sim: DexSimulator, request: web.Request) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SimApiError(401, AUTH_ERROR, "Authentication error")
    if token.strip() != sim.token:
        raise SimApiError(403, AUTH_ERROR, "Authentication error")
    account = request.match_info.get("account_id")
    if account is not None and account != sim.account_id:
        raise SimApiError(
            404,
            NO_ROUTE,
            f"Could not route to {request.path}, perhaps your object identifier is invalid?",
        )
    if request.match_info.http_exception is not None:
        raise request.match_info.http_exception


# -- parameters ------------------------------------------------------------------------


def _int_param(request: web.Request, name: str, low: int, high: int | None) -> int:
    raw = request.query.get(name)
    if raw is None:
        raise bad(f"Query parameter '{name}' is required")
    try:
        value = float(raw)
    except ValueError:
        raise bad(f"Query parameter '{name}' must be a number, not {raw!r}") from None
    if not value.is_integer() or value < low or (high is not None and value > high):
        upper = f" and {high}" if high is not None else ""
        raise bad(f"Query parameter '{name}' must be a whole number between {low}{upper}")
    return int(value)


def _time_param(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in raw.upper():
        raise bad(f"Query parameter '{name}' must be an RFC 3339 time, e.g. 2024-08-20T20:45:00Z")
    return moment


def _choice_param(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = request.query.get(name)
    if raw is not None and raw not in allowed:
        raise bad(f"Query parameter '{name}' must be one of {', '.join(allowed)}")
    return raw


def _page(rows: list[Any], page: int, per_page: int) -> tuple[list[Any], dict[str, int]]:
    chunk = rows[(page - 1) * per_page : page * per_page]
    info = {
        "count": len(chunk),
        "page": page,
        "per_page": per_page,
        "total_count": len(rows),
        "total_pages": math.ceil(len(rows) / per_page),
    }
    return chunk, info


# -- handlers --------------------------------------------------------------------------


def add_api_routes(app: web.Application, sim: DexSimulator) -> None:
    """Register the DEX endpoints on ``app``."""

    async def list_commands(request: web.Request) -> web.Response:
        page = _int_param(request, "page", 1, None)
        per_page = _int_param(request, "per_page", 1, 50)
        kind = _choice_param(request, "command_type", TYPES)
        status = _choice_param(request, "status", STATUSES)
        start, end = _time_param(request, "from"), _time_param(request, "to")
        device_id = request.query.get("device_id")
        email = request.query.get("user_email")
        now = sim.clock.now()
        chosen = [
            c
            for c in sim.state.commands
            if (kind is None or c.type == kind)
            and (device_id is None or c.device_id == device_id)
            and (email is None or c.user_email.lower() == email.strip().lower())
            and (status is None or c.status_at(now) == status)
            and (start is None or c.created >= start)
            and (end is None or c.created <= end)
        ]
        chosen.sort(key=lambda c: (c.created, c.seq), reverse=sim.config.list_order != "oldest")
        rows, info = _page(chosen, page, per_page)
        if sim.config.list_order == "shuffled":
            random.Random(f"{sim.seed}-{page}").shuffle(rows)  # stable, but no order to rely on
        base = f"{request.url.origin()}{API}/accounts/{sim.account_id}/dex/commands"
        result = {"commands": [sim.state.command_row(c, base) for c in rows]}
        if not rows and sim.config.omit_empty_result:
            return web.json_response({"success": True, "errors": [], "messages": []})
        return web.json_response(envelope(result, info))

    async def create_commands(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise bad("Request body must be JSON") from None
        created = sim.state.create(body)
        result = {
            "commands": [
                {
                    "id": c.id,
                    "args": args_as_strings(c.args),
                    "device_id": c.device_id,
                    "registration_id": c.registration_id,
                    "status": "PENDING_EXEC",
                    "type": c.type,
                }
                for c in created
            ]
        }
        return web.json_response(envelope(result))

    async def devices(request: web.Request) -> web.Response:
        page = _int_param(request, "page", 1, None)
        per_page = _int_param(request, "per_page", 1, 50)
        rows, info = _page(sim.state.device_rows(request.query.get("search")), page, per_page)
        return web.json_response(envelope({"devices": rows}, info))

    async def quota(request: web.Request) -> web.Response:
        limit, usage, reset = sim.state.current_quota()
        body = {"quota": limit, "quota_usage": usage, "reset_time": isoformat(reset)}
        return web.json_response(envelope(body))

    async def download(request: web.Request) -> web.StreamResponse:
        command = sim.state.command(request.match_info["command_id"])
        filename = request.match_info["filename"]
        if command is None:
            raise SimApiError(404, NOT_FOUND, "Command not found")
        if filename != command.filename:
            raise SimApiError(404, NOT_FOUND, f"File {filename} not found for this command")
        if not command.has_artifact(sim.clock.now()):
            raise SimApiError(404, NOT_FOUND, "No artifact: the command has not succeeded")
        device = sim.state.device(command.device_id)
        path = await sim.artifacts.path_for(
            command, sim.config.artifact_bytes, device.colo if device else "SJC"
        )
        headers = {
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{command.filename}"',
        }
        return web.FileResponse(path, headers=headers)

    async def live(request: web.Request) -> web.Response:
        since = _int_param(request, "since_minutes", 1, 60)
        device = next(
            (d for d in sim.state.devices if d.device_id == request.match_info["device_id"]), None
        )
        if device is None:
            raise SimApiError(404, NOT_FOUND, "Device not found")
        status = sim.state.device_status(device)
        if status != "connected" and sim.config.live_no_data != "off":
            # Assumption: a device not seen within since_minutes has no data in the window.
            if sim.config.live_no_data == "404":
                raise SimApiError(404, NOT_FOUND, "No fleet status for the device in the window")
            request[FAULT_KEY] = EMPTY_BODY  # off-contract on purpose: the contract check knows
            return web.Response(status=200, body=b"", content_type="application/json")
        body = live_status(device, status, sim.clock.now(), sim.seed, since)
        return web.json_response(envelope(body) if sim.config.live_status_envelope else body)

    app.router.add_get(ACCOUNT + "/commands", list_commands)
    app.router.add_post(ACCOUNT + "/commands", create_commands)
    app.router.add_get(ACCOUNT + "/commands/devices", devices)
    app.router.add_get(ACCOUNT + "/commands/quota", quota)
    app.router.add_get(ACCOUNT + "/commands/{command_id}/downloads/{filename}", download)
    app.router.add_get(ACCOUNT + "/devices/{device_id}/fleet-status/live", live)
