"""The product's nouns: capture requests, their states and the devices they target.

Pure: no Slack, HTTP or database imports. The store maps these to rows; handlers render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CommandType(StrEnum):
    """The remote commands Cloudflare can run on a WARP device."""

    PCAP = "pcap"
    WARP_DIAG = "warp-diag"
    SPEED_TEST = "speed-test"


class CommandStatus(StrEnum):
    """A command's lifecycle: PENDING_EXEC -> PENDING_UPLOAD -> SUCCESS | FAILED."""

    PENDING_EXEC = "PENDING_EXEC"
    PENDING_UPLOAD = "PENDING_UPLOAD"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        """SUCCESS and FAILED never change again."""
        return self in (CommandStatus.SUCCESS, CommandStatus.FAILED)


class RequestState(StrEnum):
    """Where a capture request stands. Every transition is a guarded UPDATE in the store."""

    PENDING_APPROVAL = "pending_approval"
    AWAITING_OWNER = "awaiting_owner"  # approved, quota reserved; the device's owner must OK it
    APPROVED = "approved"  # quota reserved, not yet sent
    DISPATCHING = "dispatching"  # intent recorded; the POST may be in flight
    DISPATCHED = "dispatched"  # Cloudflare accepted; command ids stored
    COMPLETED = "completed"  # every command reached SUCCESS or FAILED
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    DISPATCH_FAILED = "dispatch_failed"

    @property
    def is_open(self) -> bool:
        """Still waiting for a person: approval can change it."""
        return self is RequestState.PENDING_APPROVAL

    @property
    def holds_quota(self) -> bool:
        """Approved and not yet sent: counted against the forecast."""
        return self in (
            RequestState.AWAITING_OWNER,
            RequestState.APPROVED,
            RequestState.DISPATCHING,
        )


#: States from which nothing more happens.
FINAL_STATES = frozenset(
    {
        RequestState.COMPLETED,
        RequestState.DENIED,
        RequestState.EXPIRED,
        RequestState.CANCELLED,
        RequestState.DISPATCH_FAILED,
    }
)


@dataclass(frozen=True)
class TargetDevice:
    """A device (and, on a multi-user device, the registration) a request will run on."""

    device_id: str
    name: str
    platform: str | None = None
    registration_id: str | None = None
    version: str | None = None
    #: The device's live fleet status when the request was made (``LiveSnapshot.to_json``).
    live: dict[str, Any] | None = None

    @property
    def snapshot(self) -> LiveSnapshot | None:
        """The live status seen at request time, if it was read."""
        return LiveSnapshot.from_json(self.live) if self.live else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict for the store."""
        return {
            "device_id": self.device_id,
            "name": self.name,
            "platform": self.platform,
            "registration_id": self.registration_id,
            "version": self.version,
            "live": self.live,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TargetDevice:
        """The inverse of ``to_json``."""
        return cls(
            device_id=str(data["device_id"]),
            name=str(data.get("name") or data["device_id"]),
            platform=data.get("platform"),
            registration_id=data.get("registration_id"),
            version=data.get("version"),
            live=data.get("live"),
        )


@dataclass(frozen=True)
class LiveSnapshot:
    """A device's live fleet status at one moment (what the card shows and compares)."""

    status: str | None  # connected, disconnected, paused… (None: Cloudflare had no data)
    mode: str | None = None
    colo: str | None = None
    version: str | None = None
    rtt_ms: float | None = None
    seen_minutes_ago: int | None = None
    offline: bool = False  # disconnected, paused, or not seen recently enough

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict for the store."""
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveSnapshot:
        """The inverse of ``to_json`` (unknown keys ignored)."""
        return cls(
            status=data.get("status"),
            mode=data.get("mode"),
            colo=data.get("colo"),
            version=data.get("version"),
            rtt_ms=data.get("rtt_ms"),
            seen_minutes_ago=data.get("seen_minutes_ago"),
            offline=bool(data.get("offline")),
        )


@dataclass(frozen=True)
class CommandRecord:
    """A command Cloudflare accepted for a request, as last seen."""

    command_id: str
    request_id: str
    device_id: str
    status: str
    filename: str | None = None
    created_date: datetime | None = None
    completed_date: datetime | None = None


@dataclass(frozen=True)
class CaptureRequest:
    """A person's request for a remote command on someone's device(s)."""

    id: str
    team_id: str
    channel_id: str
    requester_id: str
    target_user_id: str | None
    target_email: str
    command_type: str
    args: dict[str, Any]
    devices: tuple[TargetDevice, ...]
    reason: str | None
    state: RequestState
    created_at: datetime
    expires_at: datetime
    parent_channel: str | None = None
    parent_ts: str | None = None
    card_channel: str | None = None
    card_ts: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    error: str | None = None
    commands: tuple[CommandRecord, ...] = field(default_factory=tuple)
    #: Values held to their limit: ({"field", "asked", "maximum"}, …), shown where it is read.
    clamped: tuple[dict[str, Any], ...] = ()
    #: Distinct approvers so far, in order (a quorum needs ``quorum`` of them).
    approvals: tuple[str, ...] = ()
    #: The policy facts it was made under: ``rule``, ``quorum``, ``preset``, ``auto_refused``.
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def quorum(self) -> int:
        """How many distinct approvals it needs."""
        return int(self.policy.get("quorum") or 1)

    @property
    def units(self) -> int:
        """Quota units this request spends: one per device."""
        return len(self.devices)

    @property
    def short_id(self) -> str:
        """A short reference people can say out loud."""
        return self.id[:8]


@dataclass(frozen=True)
class SlackUser:
    """The parts of a Slack user dexbot cares about."""

    user_id: str
    name: str
    email: str | None
    is_bot: bool = False
    deleted: bool = False


class UnknownUser(LookupError):
    """Slack does not know this user ID."""
