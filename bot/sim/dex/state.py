"""The simulated account: fleet, commands, quota. Pure state; HTTP lives in ``app.py``.

A command's future is decided when it is created, as a timeline of (time, status) steps;
its status at any moment is read off that timeline against the simulator's clock, so moving
the clock is all it takes to move every command along.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.sim.dex.clock import SimClock, isoformat, next_midnight
from bot.sim.dex.config import (
    BAD_REQUEST,
    QUOTA_EXCEEDED,
    QUOTA_MESSAGE,
    SimApiError,
    SimConfig,
)
from bot.sim.dex.fleet import Device, Registration

TYPES = ("pcap", "speed-test", "warp-diag")
STATUSES = ("PENDING_EXEC", "PENDING_UPLOAD", "SUCCESS", "FAILED")
FINAL = ("SUCCESS", "FAILED")
ITEM_KEYS = {"device_id", "user_email", "type", "args", "registration_id"}
LEGACY_KEYS = {"command_type", "command_args"}
PCAP_DEFAULTS = {"max-file-size-mb": 5, "packet-size-bytes": 160, "time-limit-min": 5}


@dataclass
class Command:
    """A remote command and its pre-decided timeline."""

    id: str
    type: str
    device_id: str
    user_email: str
    registration_id: str
    args: dict[str, Any]
    created: datetime
    timeline: list[tuple[datetime, str]]
    partial: bool = False
    seq: int = 0

    def status_at(self, now: datetime) -> str:
        """The status at ``now``."""
        status = self.timeline[0][1]
        for moment, step in self.timeline:
            if moment <= now:
                status = step
        return status

    def completed_at(self, now: datetime) -> datetime | None:
        """When the command finished, if it has by ``now``."""
        moment, status = self.timeline[-1]
        return moment if status in FINAL and moment <= now else None

    @property
    def filename(self) -> str:
        """The artifact's file name, ``pcap-<id>.zip``."""
        return f"{self.type}-{self.id}.zip"

    def has_artifact(self, now: datetime) -> bool:
        """Whether a download exists: finished with SUCCESS."""
        return self.status_at(now) == "SUCCESS"


def bad(message: str) -> SimApiError:
    """A 400 answer with the simulator's validation code."""
    return SimApiError(400, BAD_REQUEST, message)


@dataclass
class DexState:
    """Everything the simulated account holds."""

    clock: SimClock
    config: SimConfig
    devices: list[Device]
    commands: list[Command] = field(default_factory=list)
    quota: int = 25
    quota_usage: int = 0
    reset_time: datetime | None = None

    def __post_init__(self) -> None:
        if self.reset_time is None:
            self.reset_time = next_midnight(self.clock.now())

    # -- lookups ---------------------------------------------------------------

    def device(self, ref: str) -> Device | None:
        """The device with this ID or name."""
        return next((d for d in self.devices if ref in (d.device_id, d.name)), None)

    def command(self, command_id: str) -> Command | None:
        """The command with this ID."""
        return next((c for c in self.commands if c.id == command_id), None)

    def device_status(self, device: Device) -> str:
        """connected / disconnected, after the ``device_status`` knob."""
        knob = self.config.device_status
        return knob.get(device.device_id) or knob.get(device.name) or device.status

    # -- quota -----------------------------------------------------------------

    def current_quota(self) -> tuple[int, int, datetime]:
        """(quota, usage, reset time), rolling the daily reset forward when it has passed."""
        assert self.reset_time is not None
        now = self.clock.now()
        if now >= self.reset_time:
            self.quota_usage = 0
            while self.reset_time <= now:
                self.reset_time += timedelta(days=1)
        return self.quota, self.quota_usage, self.reset_time

    # -- create ----------------------------------------------------------------

    def create(self, body: Any) -> list[Command]:
        """Validate a ``POST /dex/commands`` body and create its commands, all or nothing."""
        if not isinstance(body, dict):
            raise bad("Request body must be a JSON object with a 'commands' list")
        extra = sorted(set(body) - {"commands"})
        if extra:
            raise bad(f"Unknown field(s) in request body: {', '.join(extra)}")
        items = body.get("commands")
        if not isinstance(items, list) or not items:
            raise bad("'commands' must be a non-empty list")
        limit = self.config.max_commands_per_request
        if len(items) > limit:
            raise bad(f"Too many commands: {len(items)} given, at most {limit} per request")
        checked = [self._check_item(i, item) for i, item in enumerate(items)]
        quota, usage, _ = self.current_quota()
        if usage + len(checked) > quota:
            raise SimApiError(400, QUOTA_EXCEEDED, QUOTA_MESSAGE)
        now = self.clock.now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as precise as shown
        created = []
        for kind, device, registration, args in checked:
            command = Command(
                id=str(uuid.uuid4()),
                type=kind,
                device_id=device.device_id,
                user_email=registration.email,
                registration_id=registration.registration_id,
                args=args,
                created=now,
                timeline=self._timeline(kind, device, now),
                partial=self.config.partial_success,
                seq=len(self.commands),
            )
            self.commands.append(command)
            created.append(command)
        self.quota_usage += len(created)
        return created

    def _check_item(self, i: int, item: Any) -> tuple[str, Device, Registration, dict[str, Any]]:
        where = f"commands[{i}]"
        if not isinstance(item, dict):
            raise bad(f"{where} must be an object")
        legacy = sorted(LEGACY_KEYS & set(item))
        if legacy:
            raise bad(
                f"{where}: {', '.join(legacy)} is no longer accepted; use 'type' and 'args' instead"
            )
        extra = sorted(set(item) - ITEM_KEYS)
        if extra:
            raise bad(f"{where}: unknown field(s) {', '.join(extra)}")
        for key in ("device_id", "user_email", "type"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise bad(f"{where}.{key} is required and must be a string")
        kind = item["type"]
        if kind not in TYPES:
            raise bad(f"{where}.type {kind!r} is not one of {', '.join(TYPES)}")
        args = check_args(kind, item.get("args"), where)
        device = next((d for d in self.devices if d.device_id == item["device_id"]), None)
        if device is None:
            raise bad(f"{where}: device {item['device_id']} not found in this account")
        if not device.eligible:
            raise bad(
                f"{where}: device {device.device_id} is not eligible: {device.ineligible_reason}"
            )
        return kind, device, _registration(device, item, where), args

    def _timeline(self, kind: str, device: Device, now: datetime) -> list[tuple[datetime, str]]:
        cfg = self.config
        executed = now + timedelta(seconds=cfg.exec_seconds)
        if self.device_status(device) != "connected":
            # The client never picks the command up: Cloudflare times it out.
            return [(now, "PENDING_EXEC"), (now + timedelta(seconds=cfg.timeout_seconds), "FAILED")]
        if kind == "pcap" and device.platform == "windows" and self._pcap_running(device, now):
            # Windows cannot run two captures at once: the second fails straight away.
            return [(now, "FAILED")]
        outcome = (
            cfg.device_outcomes.get(device.device_id)
            or cfg.device_outcomes.get(device.name)
            or device.outcome
        )
        if outcome == "FAILED":
            return [(now, "PENDING_EXEC"), (executed, "FAILED")]
        uploaded = executed + timedelta(seconds=cfg.upload_seconds)
        return [(now, "PENDING_EXEC"), (executed, "PENDING_UPLOAD"), (uploaded, "SUCCESS")]

    def _pcap_running(self, device: Device, now: datetime) -> bool:
        return any(
            c.device_id == device.device_id and c.type == "pcap" and c.status_at(now) not in FINAL
            for c in self.commands
        )

    # -- read ------------------------------------------------------------------

    def command_row(self, command: Command, download_base: str | None) -> dict[str, Any]:
        """A command as ``GET /dex/commands`` shows it."""
        now = self.clock.now()
        completed = command.completed_at(now)
        filename: str | None = None
        if command.has_artifact(now):
            filename = command.filename
            if self.config.filename_as_url and download_base:
                filename = f"{download_base}/{command.id}/downloads/{command.filename}"
        return {
            "id": command.id,
            "type": command.type,
            "status": command.status_at(now),
            "device_id": command.device_id,
            "user_email": command.user_email,
            "registration_id": command.registration_id,
            "created_date": isoformat(command.created),
            "completed_date": isoformat(completed) if completed else None,
            "filename": filename,
        }

    def device_rows(self, search: str | None) -> list[dict[str, Any]]:
        """``GET /dex/commands/devices`` rows: one per registration, filtered by name or email."""
        needle = (search or "").strip().lower()
        rows = []
        seen = isoformat(self.clock.now() - timedelta(minutes=2))
        for device in self.devices:
            for reg in device.registrations:
                if needle and needle not in device.name.lower() and needle not in reg.email.lower():
                    continue
                row: dict[str, Any] = {
                    "deviceId": device.device_id,
                    "deviceName": device.name,
                    "eligible": device.eligible,
                    "personEmail": reg.email,
                    "platform": device.platform,
                    "registrationId": reg.registration_id,
                    "status": self.device_status(device),
                    "timestamp": seen,
                    "version": device.version,
                }
                if not device.eligible:
                    row["ineligibleReason"] = device.ineligible_reason
                rows.append(row)
        return rows


def _registration(device: Device, item: dict[str, Any], where: str) -> Registration:
    email = item["user_email"]
    reg_id = item.get("registration_id")
    if reg_id is not None and not isinstance(reg_id, str):
        raise bad(f"{where}.registration_id must be a string")
    if device.multi_user and not reg_id:
        raise bad(
            f"{where}: device {device.device_id} is a multi-user device; "
            "registration_id is required to target one user's registration"
        )
    if reg_id:
        reg = next((r for r in device.registrations if r.registration_id == reg_id), None)
        if reg is None:
            raise bad(
                f"{where}: registration {reg_id} does not belong to device {device.device_id}"
            )
        if reg.email.lower() != email.strip().lower():
            raise bad(f"{where}: user_email {email} does not match registration {reg_id}")
        return reg
    found = device.registration_for(email)
    if found is None:
        raise bad(f"{where}: user_email {email} is not registered on device {device.device_id}")
    return found


def check_args(kind: str, args: Any, where: str) -> dict[str, Any]:
    """Validate ``args`` for a command type; return them with defaults filled in."""
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise bad(f"{where}.args must be an object")
    if kind == "pcap":
        allowed: set[str] = set(PCAP_DEFAULTS)
    elif kind == "warp-diag":
        allowed = {"test-all-routes"}
    else:
        allowed = {"interfaces"}
    extra = sorted(set(args) - allowed)
    if extra:
        raise bad(
            f"{where}.args: {', '.join(extra)} not valid for a {kind} command "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
    out: dict[str, Any] = {}
    if kind == "pcap":
        for key, default in PCAP_DEFAULTS.items():
            value = args.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
                raise bad(f"{where}.args.{key} must be a number >= 1")
            out[key] = value
    elif kind == "warp-diag":
        value = args.get("test-all-routes", True)
        if not isinstance(value, bool):
            raise bad(f"{where}.args.test-all-routes must be true or false")
        out["test-all-routes"] = value
    else:
        value = args.get("interfaces", ["default", "tunnel"])
        if (
            not isinstance(value, list)
            or not value
            or any(v not in ("default", "tunnel") for v in value)
        ):
            raise bad(f"{where}.args.interfaces must be a non-empty list of 'default'/'tunnel'")
        out["interfaces"] = value
    return out


def args_as_strings(args: dict[str, Any]) -> dict[str, str]:
    """Arguments as the create call echoes them: every value a string."""
    out = {}
    for key, value in args.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            out[key] = str(int(value))
        elif isinstance(value, list):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out
