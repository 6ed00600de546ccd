"""Capture use cases: pre-flight a request, record it, approve or deny it, expire or cancel it.

Every change goes through ``RequestStore.apply`` with a lifecycle event; the Slack effects it
causes (parent, card, thread replies) are outbox rows written in the same transaction.
Problems are raised as typed errors (``bot.domain.errors``); the words are the handlers'.
Dispatching to Cloudflare lives in ``bot.services.dispatch``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.dex.models import EligibleDevice
from bot.domain import grammar as g
from bot.domain.errors import (
    AlreadyDecided,
    AmbiguousDevice,
    AutoCapReached,
    Choice,
    DeviceIneligible,
    DeviceNotSeen,
    DeviceOffline,
    NeedsDeviceChoice,
    NoEmail,
    NoneEligible,
    NoOwnerToAsk,
    NoRule,
    NoSuchDevice,
    NotGranted,
    NotTheOwner,
    QuotaShort,
    RequestExpired,
    TooManyDevices,
    UnknownRequest,
    UnsupportedPlatform,
    already_requested,
)
from bot.domain.lifecycle import Event, IllegalTransition
from bot.domain.model import (
    CaptureRequest,
    CommandType,
    LiveSnapshot,
    RequestState,
    TargetDevice,
)
from bot.domain.quota import Forecast, forecast
from bot.domain.rules import Facts, Rule, auto_verdict
from bot.services.context import Context
from bot.services.live import parse_seen, snapshot
from bot.services.lookup import find_device, user_devices
from bot.store.requests import NewRequest

log = logging.getLogger("dexbot.capture")
SUPPORTED_PLATFORMS = ("windows", "mac", "macos", "darwin", "linux")
#: A request still without its card this long after it was made cannot be approved by anyone:
#: an identical new request replaces it instead of being refused.
SUPERSEDE_CARDLESS_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class Prepared:
    """A request that passed pre-flight, ready to store and post."""

    command_type: CommandType
    args: dict[str, Any]
    target_user_id: str | None
    target_email: str
    devices: tuple[TargetDevice, ...]
    reason: str | None
    notes: tuple[str, ...]
    forecast: Forecast
    rule: Rule
    clamped: tuple[dict[str, Any], ...] = ()
    preset: str | None = None


def cloudflare_args(ask: g.CaptureAsk) -> dict[str, Any]:
    """The ``args`` object Cloudflare takes for this command type (hyphenated keys)."""
    if ask.command_type is CommandType.PCAP:
        args: dict[str, Any] = {"time-limit-min": ask.time_limit_min}
        if ask.max_file_size_mb is not None:
            args["max-file-size-mb"] = ask.max_file_size_mb
        if ask.packet_size_bytes is not None:
            args["packet-size-bytes"] = ask.packet_size_bytes
        return {k: v for k, v in args.items() if v is not None}
    if ask.command_type is CommandType.WARP_DIAG:
        return {} if ask.test_all_routes is None else {"test-all-routes": ask.test_all_routes}
    return {} if not ask.interfaces else {"interfaces": list(ask.interfaces)}


def _target_device(d: EligibleDevice, live: LiveSnapshot) -> TargetDevice:
    return TargetDevice(
        device_id=d.device_id,
        name=d.device_name or d.device_id,
        platform=d.platform,
        registration_id=d.registration_id,
        version=d.version,
        live=live.to_json(),
    )


def _name(d: EligibleDevice) -> str:
    return d.device_name or d.device_id


def _check_device(d: EligibleDevice, ctx: Context, now: datetime) -> None:
    if not d.eligible:
        raise DeviceIneligible(device=_name(d), reason=d.ineligible_reason)
    if (d.platform or "").lower() not in SUPPORTED_PLATFORMS:
        raise UnsupportedPlatform(device=_name(d), platform=d.platform)
    seen = parse_seen(d.timestamp)
    recent = timedelta(minutes=ctx.settings.dex_device_recent_minutes)
    if seen is not None and now - seen > recent:
        raise DeviceNotSeen(device=_name(d), minutes=int((now - seen).total_seconds() // 60))


def _choices(devices: list[EligibleDevice]) -> list[Choice]:
    return [Choice(d.device_id, _name(d), d.eligible) for d in devices]


async def _pick_devices(
    ctx: Context, ask: g.CaptureAsk
) -> tuple[str | None, str, list[EligibleDevice]]:
    if isinstance(ask.target, g.DeviceTarget):
        device = await find_device(ctx.dex, ask.target.ref)
        return None, device.person_email or "", [device]
    found = await user_devices(ctx.dex, ctx.directory, ask.target.user_id)
    user_id = found.user.user_id
    if ask.device:
        wanted = ask.device.casefold()
        chosen = [
            d for d in found.devices if wanted in (d.device_id.casefold(), _name(d).casefold())
        ]
        if len({d.device_id for d in chosen}) > 1:
            raise AmbiguousDevice(ref=ask.device, names=[], user_id=user_id)
        if not chosen:
            raise NoSuchDevice(
                ref=ask.device, user_id=user_id, names=[_name(d) for d in found.devices]
            )
        return user_id, found.email, chosen
    eligible = found.eligible
    if not eligible:
        raise NoneEligible(
            user_id=user_id, reasons=[(_name(d), d.ineligible_reason) for d in found.ineligible]
        )
    if ask.all_devices or len(eligible) == 1:
        return user_id, found.email, eligible
    draft = g.CaptureDraft(**{**ask.__dict__})
    raise NeedsDeviceChoice(draft, _choices(found.devices), found.devices)


class CaptureService:
    """Request, approve, deny, expire and cancel captures."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def forecast(self, units: int) -> Forecast:
        """Cloudflare's quota now, minus reservations, for a request of ``units`` devices."""
        quota = await self.ctx.dex.get_quota()
        return forecast(
            quota=quota.quota,
            used=quota.quota_usage,
            held=await self.ctx.requests.held_units(),
            awaiting=await self.ctx.requests.count_awaiting_approval(),
            units=units,
            reset_time=quota.reset_time,
        )

    async def check_grant(
        self, requester_id: str, command_type: CommandType, preset: str | None
    ) -> None:
        """``NotGranted`` unless a grant of the policy covering this type and preset lists
        ``requester_id`` (directly or through a group)."""
        for grant in self.ctx.policy.grants_for(command_type, preset):
            if await self.ctx.directory.is_listed(requester_id, grant.who):
                return
        what = f"the {preset} preset" if preset else f"{command_type.value} requests"
        raise NotGranted(command_type=command_type.value, preset=preset, what=what)

    async def prepare(self, ask: g.CaptureAsk, *, preset: str | None = None) -> Prepared:
        """Resolve the target and run the pre-flight checks; nothing is stored or sent."""
        now = self.ctx.clock()
        target_user, email, devices = await _pick_devices(self.ctx, ask)
        limit = self.ctx.limits.max_devices
        if len(devices) > limit:
            raise TooManyDevices(count=len(devices), limit=limit)
        facts = Facts(
            command_type=ask.command_type,
            preset=preset,
            devices=len(devices),
            minutes=ask.time_limit_min if ask.command_type is CommandType.PCAP else None,
            size_mb=ask.max_file_size_mb,
        )
        rule = self.ctx.policy.rule_for(facts)
        if rule is None:
            raise NoRule()
        for d in devices:
            _check_device(d, self.ctx, now)
        after = self.ctx.settings.dex_offline_after_minutes
        seen = await asyncio.gather(
            *(
                snapshot(self.ctx.dex, d.device_id, now, after, raise_rate_limits=True)
                for d in devices
            )
        )
        offline = [(_name(d), s) for d, s in zip(devices, seen, strict=True) if s.offline]
        if offline and not ask.anyway:
            raise DeviceOffline(devices=offline)
        if not email:
            raise NoEmail(user_id=None)
        existing = await self.ctx.requests.find_active_for_device(
            [d.device_id for d in devices], ask.command_type.value
        )
        if existing is not None and existing.card_ts is not None:
            # Told early, before the quota call; the database decides for good at create().
            raise already_requested(existing)
        fc = await self.forecast(len(devices))
        if not fc.fits:
            raise QuotaShort(forecast=fc, at="request")
        return Prepared(
            command_type=ask.command_type,
            args=cloudflare_args(ask),
            target_user_id=target_user,
            target_email=email,
            devices=tuple(_target_device(d, s) for d, s in zip(devices, seen, strict=True)),
            reason=ask.reason,
            notes=ask.notes,
            forecast=fc,
            clamped=tuple(
                {"field": c.field, "asked": c.asked, "maximum": c.maximum} for c in ask.clamped
            ),
            rule=rule,
            preset=preset,
        )

    async def create(
        self, prepared: Prepared, *, team_id: str, channel_id: str, requester_id: str
    ) -> CaptureRequest:
        """Store the request (awaiting approval) with its parent and card to post.

        Raises ``NotGranted`` when the policy does not let ``requester_id`` ask for it, and
        ``AlreadyRequested`` when an identical request is active."""
        await self.check_grant(requester_id, prepared.command_type, prepared.preset)
        now = self.ctx.clock()
        rule = prepared.rule
        ttl = timedelta(seconds=rule.ttl_seconds)
        facts: dict[str, Any] = {"rule": rule.name, "quorum": rule.quorum}
        if prepared.preset:
            facts["preset"] = prepared.preset
        if rule.device_owner != "off":
            if prepared.target_user_id is None and rule.device_owner == "acknowledge":
                raise NoOwnerToAsk()
            facts["owner"] = rule.device_owner
            facts["owner_ttl"] = rule.ttl_seconds
        if rule.auto is not None:
            since = now - timedelta(minutes=rule.auto.per_minutes)
            used = await self.ctx.requests.count_approvals_by(rule.actor, since)
            verdict = auto_verdict(rule.auto, used=used, after=prepared.forecast.after)
            facts["auto"] = "yes" if verdict.ok else verdict.why
            facts["auto_cap"], facts["auto_per"] = rule.auto.cap, rule.auto.per_minutes
            facts["auto_reserve"] = rule.auto.reserve
        return await self.ctx.requests.create(
            NewRequest(
                team_id=team_id,
                channel_id=channel_id,
                requester_id=requester_id,
                target_user_id=prepared.target_user_id,
                target_email=prepared.target_email,
                command_type=prepared.command_type.value,
                args=prepared.args,
                devices=prepared.devices,
                reason=prepared.reason,
                expires_at=now + ttl,
                clamped=prepared.clamped,
                policy=facts,
            ),
            now=now,
            supersede_after=SUPERSEDE_CARDLESS_AFTER,
        )

    def rule_of(self, req: CaptureRequest) -> Rule | None:
        """The rule a request was made under, if the policy still has it."""
        return self.ctx.policy.rule(req.policy.get("rule"))

    async def approve(self, request_id: str, approver: str) -> CaptureRequest:
        """Count an approval, with a fresh quota read; the one that completes the rule's
        quorum approves and reserves the quota in the same transaction."""
        req = await self._pending(request_id)
        rule = self.rule_of(req)
        break_glass = await self.ctx.access.check_approve(
            self.ctx.directory,
            approver,
            req.requester_id,
            approvers=rule.approvers if rule else None,
            allow_self=rule.self_approval if rule else None,
        )
        if break_glass:
            log.warning("break-glass: %s approves their own request %s", approver, req.short_id)
        facts: dict[str, Any] = {"approver": approver, "break_glass": break_glass}
        return await self._approve(req, approver, facts)

    async def auto_approve(self, req: CaptureRequest) -> bool:
        """Let the request's rule approve it by itself, when the rule said it may (its cap
        and the quota reserve allowed it when the request was made). False when it did not."""
        rule = self.rule_of(req)
        if rule is None or req.policy.get("auto") != "yes":
            return False
        assert rule.auto is not None
        facts: dict[str, Any] = {"approver": rule.actor, "rule": rule.name, "auto": True}
        since = self.ctx.clock() - timedelta(minutes=rule.auto.per_minutes)
        try:
            await self._approve(req, rule.actor, facts, quorum=1, cap=(rule.auto.cap, since))
        except (AutoCapReached, QuotaShort) as exc:
            why = "cap" if isinstance(exc, AutoCapReached) else "reserve"
            await self.ctx.requests.refuse_auto(req.id, why, actor=rule.actor, now=self.ctx.clock())
            return False
        except (AlreadyDecided, UnknownRequest, RequestExpired):
            return False
        return True

    async def _approve(
        self,
        req: CaptureRequest,
        approver: str,
        facts: dict[str, Any],
        *,
        quorum: int | None = None,
        cap: tuple[int, datetime] | None = None,
    ) -> CaptureRequest:
        read_at = self.ctx.clock()  # what Cloudflare's figure can not yet include starts here
        fc = await self.forecast(req.units)
        owner = req.policy.get("owner")
        facts = {
            **facts,
            "rule": req.policy.get("rule"),
            "forecast_after": fc.after,
            "tell_owner": owner == "notify" and req.target_user_id is not None,
            "owner": req.target_user_id,
        }
        now = self.ctx.clock()
        ask_owner = owner == "acknowledge" and req.target_user_id is not None
        window = timedelta(seconds=int(req.policy.get("owner_ttl") or 1800))
        try:
            out = await self.ctx.requests.approve(
                req.id,
                approver,
                quorum=quorum or req.quorum,
                now=now,
                facts=facts,
                quota_remaining=fc.quota - fc.used,
                quota_read_at=read_at,
                owner_until=now + window if ask_owner else None,
                cap=cap,
            )
        except QuotaShort:
            raise QuotaShort(forecast=fc, at="approval") from None
        except IllegalTransition:
            raise await self._already(req.id) from None
        return out.request

    async def check_can_deny(self, request_id: str, decider: str) -> CaptureRequest:
        """The pending request, if ``decider`` may deny it (an approver, or its requester)."""
        req = await self._pending(request_id)
        if decider != req.requester_id:
            rule = self.rule_of(req)
            approvers = rule.approvers if rule else None
            await self.ctx.access.check_approve(
                self.ctx.directory, decider, "", approvers=approvers
            )
        return req

    async def deny(self, request_id: str, decider: str, note: str | None) -> CaptureRequest:
        """Deny (an approver) or withdraw (the requester)."""
        req = await self.check_can_deny(request_id, decider)
        facts: dict[str, Any] = {"decider": decider, "note": note, "rule": req.policy.get("rule")}
        try:  # the audit records the forecast at each decision; a deny waits little for it
            async with asyncio.timeout(2):
                facts["forecast_after"] = (await self.forecast(req.units)).after
        except Exception:
            log.info("no quota forecast for the denial of %s", req.short_id)
        try:
            out = await self.ctx.requests.apply(
                request_id,
                Event.DENIED,
                actor=decider,
                now=self.ctx.clock(),
                facts=facts,
            )
        except IllegalTransition:
            raise await self._already(request_id) from None
        return out.request

    async def cancel(self, request_id: str, *, why: str, error: str | None = None) -> bool:
        """Cancel a request nobody can approve (its parent or card could not be posted);
        the requester is told. False when it was no longer waiting."""
        try:
            await self.ctx.requests.apply(
                request_id,
                Event.CANCELLED,
                actor="dexbot",
                now=self.ctx.clock(),
                facts={"why": why, "error": error},
                values={"error": why},
            )
        except IllegalTransition:
            return False
        return True

    async def expire_due(self) -> list[CaptureRequest]:
        """Expire every pending request past its deadline; tell each thread."""
        now = self.ctx.clock()
        expired: list[CaptureRequest] = []
        waiting = [RequestState.PENDING_APPROVAL, RequestState.AWAITING_OWNER]
        for req in await self.ctx.requests.in_state(waiting):
            if req.expires_at <= now and await self._expire(req, now):
                expired.append(req)
        return expired

    async def owner_answer(self, request_id: str, user_id: str, *, ok: bool) -> CaptureRequest:
        """The device owner's OK (the request moves on to be sent) or decline (cancelled, its
        quota released). Raises ``NotTheOwner``, ``RequestExpired`` or ``AlreadyDecided``."""
        req = await self.ctx.requests.get(request_id) if _plausible_id(request_id) else None
        if req is None:
            raise UnknownRequest()
        if user_id != req.target_user_id:
            raise NotTheOwner()
        now = self.ctx.clock()
        if req.state is RequestState.AWAITING_OWNER and req.expires_at <= now:
            await self._expire(req, now)
            raise RequestExpired(expires_at=req.expires_at)
        event = Event.OWNER_OK if ok else Event.OWNER_DECLINED
        try:
            out = await self.ctx.requests.apply(
                request_id,
                event,
                actor=user_id,
                now=now,
                facts={"owner": user_id},
                values={} if ok else {"error": "owner_declined"},
            )
        except IllegalTransition:
            raise await self._already(request_id) from None
        return out.request

    async def escalate_due(self) -> list[CaptureRequest]:
        """Remind the approvals channel (mentioning the rule's fallback) about each pending
        request its rule says has waited too long; once per request."""
        now = self.ctx.clock()
        reminded: list[CaptureRequest] = []
        for req in await self.ctx.requests.in_state([RequestState.PENDING_APPROVAL]):
            rule = self.rule_of(req)
            esc = rule.escalation if rule else None
            if esc is None or req.policy.get("escalated") or req.expires_at <= now:
                continue
            if now - req.created_at < timedelta(minutes=esc.after_minutes):
                continue
            left = max(1, int((req.expires_at - now).total_seconds() // 60))
            try:
                await self.ctx.requests.apply(
                    req.id,
                    Event.ESCALATED,
                    actor="dexbot",
                    now=now,
                    facts={
                        "after_minutes": esc.after_minutes,
                        "left_minutes": left,
                        "mention": list(esc.mention),
                    },
                    values={"policy": {**req.policy, "escalated": now.isoformat()}},
                )
            except (IllegalTransition, IntegrityError):  # decided, or reminded by another
                continue
            reminded.append(req)
        return reminded

    async def _expire(self, req: CaptureRequest, now: datetime) -> bool:
        ttl = int((req.expires_at - req.created_at).total_seconds()) // 60
        facts: dict[str, Any] = {"requester": req.requester_id, "ttl_minutes": ttl}
        if req.state is RequestState.AWAITING_OWNER:  # the owner's window, from the approval
            facts["ttl_minutes"] = int(req.policy.get("owner_ttl") or 1800) // 60
            facts["owner"] = req.target_user_id
        try:
            await self.ctx.requests.apply(
                req.id,
                Event.EXPIRED,
                actor="dexbot",
                now=now,
                facts=facts,
            )
        except IllegalTransition:
            return False
        return True

    async def _pending(self, request_id: str) -> CaptureRequest:
        req = await self.ctx.requests.get(request_id) if _plausible_id(request_id) else None
        if req is None:
            raise UnknownRequest()
        now = self.ctx.clock()
        if req.state is RequestState.PENDING_APPROVAL and req.expires_at <= now:
            await self._expire(req, now)
            raise RequestExpired(expires_at=req.expires_at)
        if req.state is not RequestState.PENDING_APPROVAL:
            raise AlreadyDecided(state=req.state, by=req.decided_by)
        return req

    async def _already(self, request_id: str) -> AlreadyDecided | UnknownRequest:
        current = await self.ctx.requests.get(request_id)
        if current is None:
            return UnknownRequest()
        return AlreadyDecided(state=current.state, by=current.decided_by)


def _plausible_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)
