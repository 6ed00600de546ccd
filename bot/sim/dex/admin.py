"""The admin API under ``/_sim/`` (no auth): drive the clock, faults, quota, config and fleet.

========  =========================  =====================================================
method    path                       body / answer
========  =========================  =====================================================
GET       /_sim/clock                -> {now, speed}
POST      /_sim/clock/advance        {"seconds": N} -> {now, speed}
GET       /_sim/faults               -> {faults: [...]} still queued
POST      /_sim/faults               one fault or a list (see ``faults.py``) -> {faults}
DELETE    /_sim/faults               -> {faults: []}
POST      /_sim/quota                {quota?, quota_usage?, reset_time?} -> the quota
GET       /_sim/config               -> every knob
POST      /_sim/config               {knob: value, ...} (see ``config.SimConfig``) -> knobs
GET       /_sim/requests             ?method=&path_contains= -> {requests: [{method, path,
                                     query, json, status, fault, time}]}
DELETE    /_sim/requests             -> {requests: []}
GET       /_sim/fleet                -> {devices: [...]} with owners and registrations
POST      /_sim/fleet/generate       {"count": N} -> {generated, total}
GET       /_sim/commands             -> {commands: [...]} every command, with args
POST      /_sim/reset                fleet, config, quota, commands, faults, requests reset
========  =========================  =====================================================

Bad input answers 400 ``{"error": "..."}``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sim.dex.clock import isoformat
from bot.sim.dex.faults import Fault

if TYPE_CHECKING:
    from bot.sim.dex.simulator import DexSimulator

ADMIN = "/_sim"


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _body(request: web.Request) -> Any:
    if not request.body_exists:
        return {}
    try:
        return await request.json()
    except ValueError:
        raise _bad("body must be JSON") from None


def add_admin_routes(app: web.Application, sim: DexSimulator) -> None:
    """Register the ``/_sim/`` admin endpoints on ``app``."""

    def clock_doc() -> dict[str, Any]:
        return {"now": isoformat(sim.clock.now()), "speed": sim.clock.speed}

    async def get_clock(request: web.Request) -> web.Response:
        return web.json_response(clock_doc())

    async def advance(request: web.Request) -> web.Response:
        body = await _body(request)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise _bad("seconds must be a number >= 0")
        sim.clock.advance(float(seconds))
        return web.json_response(clock_doc())

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response({"faults": sim.faults.pending()})

    async def add_faults(request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            faults = [Fault.from_json(f) for f in (body if isinstance(body, list) else [body])]
        except ValueError as exc:
            raise _bad(str(exc)) from None
        for fault in faults:
            sim.faults.add(fault)
        return web.json_response({"faults": sim.faults.pending()})

    async def clear_faults(request: web.Request) -> web.Response:
        sim.faults.clear()
        return web.json_response({"faults": []})

    async def set_quota(request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, dict) or set(body) - {"quota", "quota_usage", "reset_time"}:
            raise _bad("body takes quota, quota_usage and reset_time only")
        state = sim.state
        for key in ("quota", "quota_usage"):
            if key in body:
                value = body[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise _bad(f"{key} must be an integer >= 0")
                setattr(state, key, value)
        if "reset_time" in body:
            try:
                reset = datetime.fromisoformat(str(body["reset_time"]))
            except ValueError:
                raise _bad("reset_time must be an RFC 3339 time") from None
            if reset.tzinfo is None:
                raise _bad("reset_time needs a timezone")
            state.reset_time = reset
        quota, usage, reset_time = state.current_quota()
        return web.json_response(
            {"quota": quota, "quota_usage": usage, "reset_time": isoformat(reset_time)}
        )

    async def get_config(request: web.Request) -> web.Response:
        return web.json_response(sim.config.as_dict())

    async def set_config(request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, dict):
            raise _bad("body must be an object of knobs")
        try:
            sim.configure(body)
        except ValueError as exc:
            raise _bad(str(exc)) from None
        return web.json_response(sim.config.as_dict())

    async def get_requests(request: web.Request) -> web.Response:
        method = request.query.get("method")
        needle = request.query.get("path_contains")
        rows = [
            r
            for r in sim.requests
            if (method is None or r["method"] == method.upper())
            and (needle is None or needle in r["path"])
        ]
        return web.json_response({"requests": rows})

    async def clear_requests(request: web.Request) -> web.Response:
        sim.requests.clear()
        return web.json_response({"requests": []})

    async def get_fleet(request: web.Request) -> web.Response:
        devices = [
            {
                "device_id": d.device_id,
                "name": d.name,
                "platform": d.platform,
                "version": d.version,
                "status": sim.state.device_status(d),
                "eligible": d.eligible,
                "ineligible_reason": d.ineligible_reason,
                "registrations": [
                    {"registration_id": r.registration_id, "email": r.email}
                    for r in d.registrations
                ],
            }
            for d in sim.state.devices
        ]
        return web.json_response({"devices": devices})

    async def generate(request: web.Request) -> web.Response:
        body = await _body(request)
        count = body.get("count") if isinstance(body, dict) else None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise _bad("count must be an integer >= 0")
        new = sim.generate_fleet(count)
        return web.json_response({"generated": len(new), "total": len(sim.state.devices)})

    async def commands(request: web.Request) -> web.Response:
        rows = []
        for command in sim.state.commands:
            row = sim.state.command_row(command, None)
            row["args"] = command.args
            rows.append(row)
        return web.json_response({"commands": rows})

    async def reset(request: web.Request) -> web.Response:
        sim.reset()
        return web.json_response({"reset": True, **clock_doc()})

    app.router.add_get(ADMIN + "/clock", get_clock)
    app.router.add_post(ADMIN + "/clock/advance", advance)
    app.router.add_get(ADMIN + "/faults", get_faults)
    app.router.add_post(ADMIN + "/faults", add_faults)
    app.router.add_delete(ADMIN + "/faults", clear_faults)
    app.router.add_post(ADMIN + "/quota", set_quota)
    app.router.add_get(ADMIN + "/config", get_config)
    app.router.add_post(ADMIN + "/config", set_config)
    app.router.add_get(ADMIN + "/requests", get_requests)
    app.router.add_delete(ADMIN + "/requests", clear_requests)
    app.router.add_get(ADMIN + "/fleet", get_fleet)
    app.router.add_post(ADMIN + "/fleet/generate", generate)
    app.router.add_get(ADMIN + "/commands", commands)
    app.router.add_post(ADMIN + "/reset", reset)
