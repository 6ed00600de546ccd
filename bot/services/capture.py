"""Capture use cases: pre-flight a request, record it, approve or deny it, expire it.

Dispatching to Cloudflare lives in ``bot.services.dispatch``. Slack effects that must happen
exactly once (thread replies, card edits) are written to the outbox in the same transaction
as the state change; the deliverer performs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.dex.models import CommandType, EligibleDevice
from bot.domain import grammar as g
from bot.domain.errors import UserFacingError, inert
from bot.domain.lookup import find_device, user_devices
from bot.domain.model import CaptureRequest, RequestState, TargetDevice
from bot.domain.quota import Forecast, forecast
from bot.services.context import Context

log = logging.getLogger("dexbot.capture")
SUPPORTED_PLATFORMS = ("windows", "mac", "macos", "darwin", "linux")


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


class NeedsDeviceChoice(UserFacingError):
    """Several eligible devices and none named: the handler opens the modal to choose."""

    def __init__(self, draft: g.CaptureDraft, devices: list[EligibleDevice]) -> None:
        names = ", ".join(inert(d.device_name or d.device_id, 40) for d in devices if d.eligible)
        super().__init__(
            f"That person has several eligible devices ({names}). Add `--device NAME` to pick "
            "one, or `--all` for all of them."
        )
        self.draft = draft
        self.devices = devices


def cloudflare_args(cmd: g.CaptureAsk) -> dict[str, Any]:
    """The ``args`` object Cloudflare takes for this command type (hyphenated keys)."""
    if cmd.command_type is CommandType.PCAP:
        args: dict[str, Any] = {"time-limit-min": cmd.time_limit_min}
        if cmd.max_file_size_mb is not None:
            args["max-file-size-mb"] = cmd.max_file_size_mb
        if cmd.packet_size_bytes is not None:
            args["packet-size-bytes"] = cmd.packet_size_bytes
        return {k: v for k, v in args.items() if v is not None}
    if cmd.command_type is CommandType.WARP_DIAG:
        return {} if cmd.test_all_routes is None else {"test-all-routes": cmd.test_all_routes}
    return {} if not cmd.interfaces else {"interfaces": list(cmd.interfaces)}


def _target_device(d: EligibleDevice) -> TargetDevice:
    return TargetDevice(
        device_id=d.device_id,
        name=d.device_name or d.device_id,
        platform=d.platform,
        registration_id=d.registration_id,
        version=d.version,
    )


def _check_device(d: EligibleDevice, ctx: Context, now: datetime) -> None:
    name = inert(d.device_name or d.device_id, 60)
    if not d.eligible:
        reason = inert(d.ineligible_reason, 200) or "Cloudflare says it is not eligible"
        raise UserFacingError(f"{name} can't run remote commands: {reason}.")
    if (d.platform or "").lower() not in SUPPORTED_PLATFORMS:
        raise UserFacingError(
            f"{name} runs {inert(d.platform, 20) or 'an unknown platform'}; remote captures "
            "work on Windows, macOS and Linux only."
        )
    seen = _parse_seen(d.timestamp)
    recent = timedelta(minutes=ctx.settings.dex_device_recent_minutes)
    if seen is not None and now - seen > recent:
        raise UserFacingError(
            f"{name} was last seen {int((now - seen).total_seconds() // 60)} min ago; it must "
            "be connected to run a command. Ask its owner to open WARP and connect."
        )


def _parse_seen(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("+00"):
        text += ":00"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


async def _pick_devices(
    ctx: Context, cmd: g.CaptureAsk
) -> tuple[str | None, str, list[EligibleDevice]]:
    if isinstance(cmd.target, g.DeviceTarget):
        device = await find_device(ctx.dex, cmd.target.ref)
        return None, device.person_email or "", [device]
    found = await user_devices(ctx.dex, ctx.directory, cmd.target.user_id)
    if cmd.device:
        wanted = cmd.device.casefold()
        chosen = [
            d
            for d in found.devices
            if wanted in (d.device_id.casefold(), (d.device_name or "").casefold())
        ]
        if len({d.device_id for d in chosen}) > 1:
            raise UserFacingError(
                f"“{inert(cmd.device, 60)}” matches several of <@{found.user.user_id}>'s "
                "devices; use the device id (see `/dex devices`)."
            )
        if not chosen:
            names = ", ".join(inert(d.device_name or d.device_id, 40) for d in found.devices)
            raise UserFacingError(
                f"<@{found.user.user_id}> has no device called “{inert(cmd.device, 60)}”. "
                f"Their devices: {names}."
            )
        return found.user.user_id, found.email, chosen
    eligible = found.eligible
    if cmd.all_devices:
        if not eligible:
            raise UserFacingError(_none_eligible(found.user.user_id, found.ineligible))
        return found.user.user_id, found.email, eligible
    if len(eligible) == 1:
        return found.user.user_id, found.email, eligible
    if not eligible:
        raise UserFacingError(_none_eligible(found.user.user_id, found.ineligible))
    draft = g.CaptureDraft(**{**cmd.__dict__})
    raise NeedsDeviceChoice(draft, found.devices)


def _none_eligible(user_id: str, ineligible: list[EligibleDevice]) -> str:
    reasons = "; ".join(
        f"{inert(d.device_name or d.device_id, 40)}: {inert(d.ineligible_reason, 120) or 'no'}"
        for d in ineligible
    )
    return f"None of <@{user_id}>'s devices can run remote commands ({reasons})."


class CaptureService:
    """Request, approve, deny and expire captures."""

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

    async def prepare(self, cmd: g.CaptureAsk) -> Prepared:
        """Resolve the target and run the pre-flight checks; nothing is stored or sent."""
        now = self.ctx.clock()
        target_user, email, devices = await _pick_devices(self.ctx, cmd)
        limit = self.ctx.limits.max_devices
        if len(devices) > limit:
            raise UserFacingError(
                f"That's {len(devices)} devices; Cloudflare takes at most {limit} per request."
            )
        for d in devices:
            _check_device(d, self.ctx, now)
        if not email:
            raise UserFacingError("Cloudflare has no email for that device's user.")
        existing = await self.ctx.requests.find_active_for_device(
            [d.device_id for d in devices], cmd.command_type.value
        )
        if existing is not None:
            raise UserFacingError(
                f"There is already a {cmd.command_type.value} request for that device "
                f"(request {existing.short_id}, {existing.state.value.replace('_', ' ')}). "
                + (
                    f"Follow its thread in <#{existing.parent_channel}>."
                    if existing.parent_channel
                    else "Follow its thread instead."
                )
            )
        fc = await self.forecast(len(devices))
        if not fc.fits:
            raise UserFacingError(
                f"Not enough Cloudflare command quota: {fc.remaining} left until "
                f"{fc.reset_time:%H:%M} UTC and this needs {fc.units}."
            )
        return Prepared(
            command_type=cmd.command_type,
            args=cloudflare_args(cmd),
            target_user_id=target_user,
            target_email=email,
            devices=tuple(_target_device(d) for d in devices),
            reason=cmd.reason,
            notes=cmd.notes,
            forecast=fc,
        )

    async def create(
        self, prepared: Prepared, *, team_id: str, channel_id: str, requester_id: str
    ) -> CaptureRequest:
        """Store the request (awaiting approval) with its expiry."""
        from bot.store.requests import NewRequest

        now = self.ctx.clock()
        ttl = timedelta(seconds=self.ctx.settings.dex_approval_ttl_seconds)
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
            ),
            now=now,
        )

    async def approve(self, request_id: str, approver: str) -> CaptureRequest:
        """Approve with a fresh quota read; raises ``UserFacingError`` explaining a refusal."""
        req = await self._pending(request_id)
        break_glass = await self.ctx.access.check_approve(
            self.ctx.directory, approver, req.requester_id
        )
        if break_glass:
            log.warning("break-glass: %s approves their own request %s", approver, req.short_id)
        fc = await self.forecast(req.units)
        used_plus = fc.quota - fc.used
        now = self.ctx.clock()
        out = await self.ctx.requests.decide(
            request_id,
            approve=True,
            decider=approver,
            now=now,
            break_glass=break_glass,
            quota_remaining=used_plus,
            outbox=[
                (f"{request_id}:card:decided", "card", {}),
                (f"{request_id}:parent:decided", "parent", {}),
                (
                    f"{request_id}:thread:approved",
                    "note",
                    {"text": f"Approved by <@{approver}>. Sending to Cloudflare…"},
                ),
            ],
        )
        if out.detail == "quota":
            raise UserFacingError(
                f"Can't approve: Cloudflare's command quota would go below zero "
                f"({fc.remaining} left until {fc.reset_time:%H:%M} UTC, {fc.held} already "
                f"reserved, this needs {req.units})."
            )
        if not out.won:
            raise UserFacingError(_lost(out.current, now))
        assert out.request is not None
        return out.request

    async def check_can_deny(self, request_id: str, decider: str) -> CaptureRequest:
        """The pending request, if ``decider`` may deny it (an approver, or its requester)."""
        req = await self._pending(request_id)
        if decider != req.requester_id:
            await self.ctx.access.check_approve(self.ctx.directory, decider, "")
        if not req.state.is_open:
            raise UserFacingError(_lost(req, self.ctx.clock()))
        return req

    async def deny(self, request_id: str, decider: str, note: str | None) -> CaptureRequest:
        """Deny (an approver) or withdraw (the requester)."""
        await self.check_can_deny(request_id, decider)
        now = self.ctx.clock()
        text = f"Denied by <@{decider}>" + (f": {inert(note, 300)}" if note else ".")
        out = await self.ctx.requests.decide(
            request_id,
            approve=False,
            decider=decider,
            now=now,
            note=note,
            outbox=[
                (f"{request_id}:card:decided", "card", {}),
                (f"{request_id}:parent:decided", "parent", {}),
                (f"{request_id}:thread:denied", "note", {"text": text}),
            ],
        )
        if not out.won:
            raise UserFacingError(_lost(out.current, now))
        assert out.request is not None
        return out.request

    async def expire_due(self) -> list[CaptureRequest]:
        """Expire every pending request past its deadline; tell each thread."""
        now = self.ctx.clock()
        expired: list[CaptureRequest] = []
        for req in await self.ctx.requests.in_state([RequestState.PENDING_APPROVAL]):
            if req.expires_at > now:
                continue
            expired.extend(await self._expire(req, now))
        return expired

    async def _expire(self, req: CaptureRequest, now: datetime) -> list[CaptureRequest]:
        out = await self.ctx.requests.transition(
            req.id,
            [RequestState.PENDING_APPROVAL],
            RequestState.EXPIRED,
            actor="dexbot",
            action="expired",
            now=now,
            release_quota=True,
            outbox=[
                (f"{req.id}:card:expired", "card", {}),
                (f"{req.id}:parent:expired", "parent", {}),
                (
                    f"{req.id}:thread:expired",
                    "note",
                    {
                        "text": f"<@{req.requester_id}> nobody approved this within "
                        f"{self.ctx.settings.dex_approval_ttl_seconds // 60} min, so it expired. "
                        "Ask again with /dex if it is still needed."
                    },
                ),
            ],
        )
        return [out.request] if out.request else []

    async def _pending(self, request_id: str) -> CaptureRequest:
        req = await self.ctx.requests.get(request_id) if _plausible_id(request_id) else None
        if req is None:
            raise UserFacingError("I don't know that request; it may have been deleted.")
        now = self.ctx.clock()
        if req.state is RequestState.PENDING_APPROVAL and req.expires_at <= now:
            await self._expire(req, now)
            raise UserFacingError(
                f"This request expired at {req.expires_at:%H:%M} UTC; ask again with /dex."
            )
        return req


def _plausible_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def _lost(current: CaptureRequest | None, now: datetime) -> str:
    if current is None:
        return "I don't know that request."
    who = f" by <@{current.decided_by}>" if current.decided_by else ""
    words = {
        RequestState.EXPIRED: "This request has expired; ask again with /dex.",
        RequestState.DENIED: f"This request was already denied{who}.",
        RequestState.CANCELLED: "This request was cancelled.",
    }
    return words.get(current.state, f"This request was already approved{who}.")
