"""Send an approved request to Cloudflare exactly once.

The intent (APPROVED -> DISPATCHING) is committed before the POST, so only one caller sends.
The client reconciles a POST that got no answer. If the process dies between the POST and the
commit, ``recover`` finds the request still DISPATCHING after a grace period and reconciles
against Cloudflare's list before anything is sent again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
from bot.domain.lifecycle import Event, IllegalTransition
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


def _records(req: CaptureRequest, created: list[CreatedCommand]) -> list[CommandRecord]:
    # Stored as PENDING_EXEC whatever status a recovered command already has: the poller then
    # sees it move on and posts its status, its artifact and the completion like any other.
    return [
        CommandRecord(
            command_id=c.id,
            request_id=req.id,
            device_id=c.device_id or req.devices[i].device_id,
            status="PENDING_EXEC",
            created_date=c.created_date,
        )
        for i, c in enumerate(created)
    ]


@dataclass(frozen=True)
class Claim:
    """The dispatch attempt this caller owns: its number fences every later step."""

    request: CaptureRequest
    attempt: int
    actor: str


async def _step(ctx: Context, claim: Claim, event: Event, **kw: Any) -> bool:
    """Apply a fenced step of this attempt; False when another attempt owns the request."""
    try:
        await ctx.requests.apply(
            claim.request.id, event, actor=claim.actor, now=ctx.clock(), fence=claim.attempt, **kw
        )
    except IllegalTransition:
        log.warning(
            "request %s: attempt %d lost its claim before %s",
            claim.request.short_id,
            claim.attempt,
            event.value,
        )
        return False
    return True


async def _sent(ctx: Context, claim: Claim, created: list[CreatedCommand]) -> None:
    req = claim.request
    names = {d.device_id: d.name for d in req.devices}
    sent = [
        {"device": names.get(c.device_id or "", c.device_id or ""), "command_id": c.id}
        for c in created
    ]
    got = {c.device_id for c in created}
    missing = [d.name for d in req.devices if d.device_id not in got]
    await _step(
        ctx,
        claim,
        Event.DISPATCHED,
        commands=_records(req, created),
        facts={"sent": sent, "missing": missing},
    )


async def _fail(ctx: Context, claim: Claim, reason: str, **detail: Any) -> None:
    facts = {"reason": reason, **detail}
    await _step(ctx, claim, Event.DISPATCH_FAILED, facts=facts, values={"error": reason})


async def _back_to_approved(ctx: Context, claim: Claim, why: str, *, counts: bool = True) -> None:
    """Nothing was sent: try again later. Rate limits do not use up the attempts (a
    5-minute block must not fail an approved request); errors do."""
    if counts and claim.attempt >= MAX_ATTEMPTS:
        await _fail(ctx, claim, "cloudflare_kept_failing", why=why)
        return
    # A rate limit hands the attempt back: the next claim gets the same number again.
    values = {} if counts else {"dispatch_attempts": max(0, claim.attempt - 1)}
    await _step(ctx, claim, Event.DISPATCH_RETRY, values=values, facts={"why": why})


RATE_LIMITS = (DexRateLimitedError, DexRateBudgetExceeded)
NOTHING_SENT = (DexTransportError, DexServerError, *RATE_LIMITS)


async def claim(ctx: Context, request_id: str, *, actor: str) -> Claim | None:
    """APPROVED -> DISPATCHING, committed before any POST; None if another caller has it."""
    try:
        out = await ctx.requests.apply(
            request_id, Event.DISPATCH_STARTED, actor=actor, now=ctx.clock()
        )
    except IllegalTransition:
        return None
    attempt = await ctx.requests.dispatch_attempts(request_id)
    return Claim(out.request, attempt, actor)


async def dispatch(ctx: Context, request_id: str, *, actor: str) -> CaptureRequest | None:
    """Send an APPROVED request; returns it afterwards, or None if another caller has it."""
    owned = await claim(ctx, request_id, actor=actor)
    if owned is None:
        return None
    await _send(ctx, owned)
    return await ctx.requests.get(request_id)


async def _still_owned(ctx: Context, owned: Claim) -> bool:
    """Whether this attempt still owns the request. A process frozen (SIGSTOP, a long GC
    pause) past the grace may have been taken over: it must not POST after waking."""
    now = await ctx.requests.get(owned.request.id)
    attempts = await ctx.requests.dispatch_attempts(owned.request.id)
    if now is not None and now.state is RequestState.DISPATCHING and attempts == owned.attempt:
        return True
    log.warning(
        "request %s: attempt %d was taken over; not sending",
        owned.request.short_id,
        owned.attempt,
    )
    return False


async def _send(ctx: Context, owned: Claim) -> None:
    req = owned.request
    try:
        async with asyncio.timeout(DISPATCH_BUDGET_SECONDS / 3):
            quota = await ctx.dex.get_quota()
    except (*NOTHING_SENT, TimeoutError) as e:
        await _back_to_approved(ctx, owned, type(e).__name__, counts=not isinstance(e, RATE_LIMITS))
        return
    if not await _still_owned(ctx, owned):  # the last look before quota is spent
        return
    if quota.remaining < req.units:
        await _fail(ctx, owned, "quota_used_up", reset_time=quota.reset_time.isoformat())
        return
    try:
        specs = specs_for(req)
    except ValueError as e:  # stored args no longer valid (e.g. limits changed): never send
        await _fail(ctx, owned, "no_longer_valid", detail=inert(str(e)))
        return
    try:
        async with asyncio.timeout(DISPATCH_BUDGET_SECONDS):
            created = await ctx.dex.create_commands(specs)
    except (DexAmbiguousWriteError, TimeoutError):
        # Leave it DISPATCHING: recover() reconciles after the grace period, never re-POSTs blind.
        log.warning("request %s: create outcome unknown; will reconcile", req.short_id)
        return
    except DexQuotaExceededError:
        await _fail(ctx, owned, "quota_used_up")
        return
    except NOTHING_SENT as e:
        await _back_to_approved(ctx, owned, type(e).__name__, counts=not isinstance(e, RATE_LIMITS))
        return
    except DexApiError as e:
        detail = "; ".join(inert(m.message, 200) for m in e.errors) or f"HTTP {e.status}"
        await _fail(ctx, owned, "cloudflare_refused", detail=detail)
        return
    except DexError as e:  # refused before sending (validation): retrying cannot help
        await _fail(ctx, owned, "not_sendable", detail=inert(str(e)))
        return
    await _sent(ctx, owned, created)


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
            CreatedCommand(
                id=c.id,
                device_id=c.device_id,
                status=c.status,
                type=c.type,
                created_date=c.created_date,
            )
            for c in fresh
        ]
    return found


async def recover(ctx: Context, *, actor: str) -> int:
    """Finish interrupted dispatches: reconcile stale DISPATCHING, send stale APPROVED."""
    now = ctx.clock()
    handled = 0
    grace = timedelta(seconds=ctx.settings.dex_dispatch_grace_seconds)
    for req in await ctx.requests.in_state([RequestState.DISPATCHING], before=now - grace):
        try:  # one request's trouble must not hold up the others
            handled += await _recover_one(ctx, req, actor)
        except Exception:
            log.warning("request %s: recovery failed; will try again", req.short_id, exc_info=True)
    for req in await ctx.requests.in_state([RequestState.APPROVED], before=now - grace / 10):
        try:
            if await dispatch(ctx, req.id, actor=actor) is not None:
                handled += 1
        except Exception:
            log.warning("request %s: dispatch failed; will try again", req.short_id, exc_info=True)
    return handled


async def _recover_one(ctx: Context, req: CaptureRequest, actor: str) -> int:
    started = await ctx.requests.dispatch_started_at(req.id) or req.created_at
    # The stalled attempt's number: taking over under it fences that attempt out for good.
    owned = Claim(req, await ctx.requests.dispatch_attempts(req.id), actor)
    try:
        found = await _reconcile(ctx, req, started - RECONCILE_SKEW)
    except _Unclear as e:
        await _fail(ctx, owned, "unclear", detail=str(e))
        return 1
    if len(found) == len(req.devices):
        await _sent(ctx, owned, found)
    elif not found:
        await _back_to_approved(ctx, owned, "no answer from Cloudflare")
    else:
        # Some devices got it: record what started (quota was spent on those) and say so.
        await _sent(ctx, owned, found)
    return 1
