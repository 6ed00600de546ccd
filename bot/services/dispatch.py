"""Send an approved request to Cloudflare exactly once.

The intent (APPROVED -> DISPATCHING) is committed before the POST, so only one caller sends.
The client reconciles a POST that got no answer. If the process dies between the POST and the
commit, ``recover`` finds the request still DISPATCHING after a grace period and reconciles
against Cloudflare's list before anything is sent again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from bot.dex.errors import (
    DexAmbiguousWriteError,
    DexApiError,
    DexError,
    DexQuotaExceededError,
    DexRateBudgetExceeded,
    DexRateLimitedError,
    DexServerError,
    DexTransportError,
)
from bot.dex.models import ARGS_FOR_TYPE, CommandSpec, CommandType, CreatedCommand
from bot.domain.errors import inert
from bot.domain.model import CaptureRequest, CommandRecord, RequestState
from bot.services.context import Context

log = logging.getLogger("dexbot.dispatch")

#: A request left DISPATCHING longer than this was interrupted; reconcile it. It must exceed
#: DISPATCH_BUDGET by far, so a slow dispatch is never taken for a dead one.
DISPATCH_GRACE = timedelta(minutes=5)
#: The most one dispatch may spend talking to Cloudflare (the client's own retries included).
DISPATCH_BUDGET_SECONDS = 60.0
#: How far before the intent to look for the command in Cloudflare's list (clock skew).
RECONCILE_SKEW = timedelta(minutes=2)
MAX_ATTEMPTS = 3


def specs_for(req: CaptureRequest) -> list[CommandSpec]:
    """One command spec per target device, with the args model of the request's type."""
    kind = CommandType(req.command_type)
    args = ARGS_FOR_TYPE[kind].model_validate(req.args) if req.args else None
    return [
        CommandSpec(
            device_id=d.device_id,
            user_email=req.target_email,
            type=kind,
            args=args,
            registration_id=d.registration_id,
        )
        for d in req.devices
    ]


def _records(
    req: CaptureRequest, created: list[CreatedCommand], now: datetime
) -> list[CommandRecord]:
    return [
        CommandRecord(
            command_id=c.id,
            request_id=req.id,
            device_id=c.device_id or req.devices[i].device_id,
            status=c.status or "PENDING_EXEC",
            created_date=now,
        )
        for i, c in enumerate(created)
    ]


async def _sent(
    ctx: Context, req: CaptureRequest, created: list[CreatedCommand], actor: str
) -> None:
    now = ctx.clock()
    names = {d.device_id: d.name for d in req.devices}
    lines = [
        f"Sent to {inert(names.get(c.device_id or '', c.device_id), 60)}, command {inert(c.id)}"
        for c in created
    ]
    await ctx.requests.record_dispatch(
        req.id,
        _records(req, created, now),
        now=now,
        actor=actor,
        user_email=req.target_email,
        command_type=req.command_type,
        outbox=[
            (f"{req.id}:thread:sent", "note", {"text": "\n".join(lines)}),
            (f"{req.id}:parent:sent", "parent", {}),
            (f"{req.id}:card:sent", "card", {}),
        ],
    )


async def _fail(ctx: Context, req: CaptureRequest, actor: str, message: str) -> None:
    await ctx.requests.transition(
        req.id,
        [RequestState.DISPATCHING, RequestState.APPROVED],
        RequestState.DISPATCH_FAILED,
        actor=actor,
        action="dispatch_failed",
        now=ctx.clock(),
        release_quota=True,
        values={"error": message},
        outbox=[
            (f"{req.id}:thread:failed", "note", {"text": f"Not sent: {message}"}),
            (f"{req.id}:parent:failed", "parent", {}),
            (f"{req.id}:card:failed", "card", {}),
        ],
        error=message,
    )


async def _back_to_approved(
    ctx: Context, req: CaptureRequest, actor: str, why: str, *, counts: bool = True
) -> None:
    """Nothing was sent: try again later. Rate limits do not use up the attempts (a
    5-minute block must not fail an approved request); errors do."""
    attempts = await ctx.requests.dispatch_attempts(req.id)
    if counts and attempts >= MAX_ATTEMPTS:
        await _fail(ctx, req, actor, f"Cloudflare kept failing ({why}); ask again later.")
        return
    await ctx.requests.transition(
        req.id,
        [RequestState.DISPATCHING],
        RequestState.APPROVED,
        actor=actor,
        action="dispatch_retry",
        now=ctx.clock(),
        values={} if counts else {"dispatch_attempts": max(0, attempts - 1)},
        why=why,
    )


RATE_LIMITS = (DexRateLimitedError, DexRateBudgetExceeded)
NOTHING_SENT = (DexTransportError, DexServerError, *RATE_LIMITS)


async def dispatch(ctx: Context, request_id: str, *, actor: str) -> CaptureRequest | None:
    """Send an APPROVED request; returns it afterwards, or None if another caller has it."""
    claim = await ctx.requests.begin_dispatch(request_id, now=ctx.clock(), actor=actor)
    if not claim.won:
        return None
    req = claim.request
    assert req is not None
    try:
        async with asyncio.timeout(DISPATCH_BUDGET_SECONDS / 3):
            quota = await ctx.dex.get_quota()
    except (*NOTHING_SENT, TimeoutError) as e:
        await _back_to_approved(
            ctx, req, actor, type(e).__name__, counts=not isinstance(e, RATE_LIMITS)
        )
        return await ctx.requests.get(request_id)
    if quota.remaining < req.units:
        await _fail(
            ctx,
            req,
            actor,
            f"Cloudflare's command quota is used up until {quota.reset_time:%H:%M} UTC.",
        )
        return await ctx.requests.get(request_id)
    try:
        specs = specs_for(req)
    except ValueError as e:  # stored args no longer valid (e.g. limits changed): never send
        await _fail(ctx, req, actor, f"the request is not valid any more ({inert(str(e))})")
        return await ctx.requests.get(request_id)
    try:
        async with asyncio.timeout(DISPATCH_BUDGET_SECONDS):
            created = await ctx.dex.create_commands(specs)
    except (DexAmbiguousWriteError, TimeoutError):
        # Leave it DISPATCHING: recover() reconciles after the grace period, never re-POSTs blind.
        log.warning("request %s: create outcome unknown; will reconcile", req.short_id)
        return await ctx.requests.get(request_id)
    except DexQuotaExceededError:
        await _fail(ctx, req, actor, "Cloudflare's command quota is used up.")
        return await ctx.requests.get(request_id)
    except NOTHING_SENT as e:
        await _back_to_approved(
            ctx, req, actor, type(e).__name__, counts=not isinstance(e, RATE_LIMITS)
        )
        return await ctx.requests.get(request_id)
    except DexApiError as e:
        detail = "; ".join(inert(m.message, 200) for m in e.errors) or f"HTTP {e.status}"
        await _fail(ctx, req, actor, f"Cloudflare refused the command: {detail}")
        return await ctx.requests.get(request_id)
    except DexError as e:  # refused before sending (validation): retrying cannot help
        await _fail(ctx, req, actor, f"the command could not be sent ({inert(str(e))})")
        return await ctx.requests.get(request_id)
    await _sent(ctx, req, created, actor)
    return await ctx.requests.get(request_id)


class _Unclear(Exception):
    """Reconciling found more than one candidate for a device: do not guess."""


async def _reconcile(ctx: Context, req: CaptureRequest, since: datetime) -> list[CreatedCommand]:
    """Commands on the request's devices created since the intent that no request tracks."""
    found: list[CreatedCommand] = []
    for d in req.devices:
        candidates = [
            c
            async for c in ctx.dex.iter_commands(
                device_id=d.device_id, command_type=req.command_type, from_=since
            )
            if not (d.registration_id and c.registration_id not in (None, d.registration_id))
        ]
        tracked = await ctx.requests.tracked_command_ids([c.id for c in candidates])
        fresh = [c for c in candidates if c.id not in tracked]
        if len(fresh) > 1:
            raise _Unclear(f"{len(fresh)} untracked commands on {d.name}")
        found += [
            CreatedCommand(id=c.id, device_id=c.device_id, status=c.status, type=c.type)
            for c in fresh
        ]
    return found


async def recover(ctx: Context, *, actor: str) -> int:
    """Finish interrupted dispatches: reconcile stale DISPATCHING, send stale APPROVED."""
    now = ctx.clock()
    handled = 0
    for req in await ctx.requests.in_state([RequestState.DISPATCHING], before=now - DISPATCH_GRACE):
        try:  # one request's trouble must not hold up the others
            handled += await _recover_one(ctx, req, actor)
        except Exception:
            log.warning("request %s: recovery failed; will try again", req.short_id, exc_info=True)
    for req in await ctx.requests.in_state(
        [RequestState.APPROVED], before=now - DISPATCH_GRACE / 10
    ):
        try:
            if await dispatch(ctx, req.id, actor=actor) is not None:
                handled += 1
        except Exception:
            log.warning("request %s: dispatch failed; will try again", req.short_id, exc_info=True)
    return handled


async def _recover_one(ctx: Context, req: CaptureRequest, actor: str) -> int:
    started = await ctx.requests.dispatch_started_at(req.id) or req.created_at
    try:
        found = await _reconcile(ctx, req, started - RECONCILE_SKEW)
    except _Unclear as e:
        await _fail(ctx, req, actor, f"I can't tell which command is ours ({e}); check history")
        return 1
    if len(found) == len(req.devices):
        await _sent(ctx, req, found, actor)
    elif not found:
        await _back_to_approved(ctx, req, actor, "no answer from Cloudflare")
    else:
        await _fail(ctx, req, actor, "only some devices received the command; check history")
    return 1
