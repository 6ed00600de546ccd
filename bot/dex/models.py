"""pydantic v2 models for the DEX remote-commands API.

Response models tolerate unknown fields (Cloudflare adds fields without notice); request
models forbid them, so a typo or an argument of the wrong command type fails before
anything is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The command vocabulary is the product's own (bot.domain); the wire models reuse it.
from bot.domain.model import CommandStatus, CommandType

MAX_DEVICES_PER_CREATE = 10
MAX_PER_PAGE = 50


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# -- requests ------------------------------------------------------------------


class PcapArgs(_Request):
    """Arguments of a packet capture (Cloudflare's defaults: 5 MB, 160 bytes, 5 min)."""

    max_file_size_mb: int | None = Field(None, alias="max-file-size-mb", ge=1)
    packet_size_bytes: int | None = Field(None, alias="packet-size-bytes", ge=1)
    time_limit_min: int | None = Field(None, alias="time-limit-min", ge=1)


class WarpDiagArgs(_Request):
    """Arguments of a WARP diagnostic bundle."""

    test_all_routes: bool | None = Field(None, alias="test-all-routes")


class SpeedTestArgs(_Request):
    """Arguments of a speed test: which interfaces to test."""

    interfaces: list[str] | None = None

    @model_validator(mode="after")
    def _known_interfaces(self) -> SpeedTestArgs:
        for name in self.interfaces or []:
            if name not in ("default", "tunnel"):
                raise ValueError(f"speed-test interface must be default or tunnel, not {name!r}")
        return self


CommandArgs = PcapArgs | WarpDiagArgs | SpeedTestArgs

ARGS_FOR_TYPE: dict[CommandType, type[BaseModel]] = {
    CommandType.PCAP: PcapArgs,
    CommandType.WARP_DIAG: WarpDiagArgs,
    CommandType.SPEED_TEST: SpeedTestArgs,
}


class CommandSpec(_Request):
    """One device-level command for ``POST /dex/commands``."""

    device_id: str = Field(min_length=1)
    user_email: str = Field(min_length=3)
    type: CommandType
    args: CommandArgs | None = None
    registration_id: str | None = None

    @model_validator(mode="after")
    def _args_match_type(self) -> CommandSpec:
        expected = ARGS_FOR_TYPE[self.type]
        if self.args is not None and not isinstance(self.args, expected):
            raise ValueError(
                f"{type(self.args).__name__} given for a {self.type.value} command; "
                f"a {self.type.value} takes {expected.__name__}"
            )
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON object Cloudflare expects (``type``/``args``, never ``command_type``)."""
        body: dict[str, Any] = {
            "device_id": self.device_id,
            "user_email": self.user_email,
            "type": self.type.value,
        }
        args = self.args.model_dump(by_alias=True, exclude_none=True) if self.args else {}
        if args:  # an empty object matches every args schema, which the contract's oneOf forbids
            body["args"] = args
        if self.registration_id:
            body["registration_id"] = self.registration_id
        return body


# -- responses -----------------------------------------------------------------


class ResultInfo(_Response):
    """Pagination block of the v4 envelope."""

    count: int | None = None
    page: int | None = None
    per_page: int | None = None
    total_count: int | None = None
    total_pages: int | None = None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list endpoint."""

    items: list[T]
    info: ResultInfo

    @property
    def has_more(self) -> bool:
        """Whether another page follows this one."""
        info = self.info
        if info.total_pages is not None and info.page is not None:
            return info.page < info.total_pages
        # Without total_pages, a full page may be followed by more.
        return info.per_page is not None and len(self.items) >= info.per_page


class CreatedCommand(_Response):
    """A command as returned by the create call."""

    id: str
    device_id: str | None = None
    registration_id: str | None = None
    status: str | None = None
    type: str | None = None
    args: dict[str, Any] | None = None
    created_date: datetime | None = None  # known when adopted from the list after a crash


class Command(_Response):
    """A row of ``GET /dex/commands``."""

    id: str
    type: str | None = None
    status: str | None = None
    device_id: str | None = None
    user_email: str | None = None
    registration_id: str | None = None
    created_date: datetime | None = None
    completed_date: datetime | None = None
    filename: str | None = None

    @property
    def status_enum(self) -> CommandStatus | None:
        """The status as a ``CommandStatus``, or None when Cloudflare sent something new."""
        try:
            return CommandStatus(self.status) if self.status else None
        except ValueError:
            return None


class EligibleDevice(_Response):
    """A row of ``GET /dex/commands/devices`` (camelCase on the wire)."""

    device_id: str = Field(alias="deviceId")
    device_name: str | None = Field(None, alias="deviceName")
    eligible: bool = False
    ineligible_reason: str | None = Field(None, alias="ineligibleReason")
    person_email: str | None = Field(None, alias="personEmail")
    platform: str | None = None
    registration_id: str | None = Field(None, alias="registrationId")
    status: str | None = None
    timestamp: str | None = None
    version: str | None = None


class Quota(_Response):
    """The account-wide command quota."""

    quota: int
    quota_usage: int
    reset_time: datetime

    @property
    def remaining(self) -> int:
        """Commands left before the reset (never negative)."""
        return max(0, self.quota - self.quota_usage)


class DirectionalStat(_Response):
    """A value split by direction."""

    downstream: float | None = None
    upstream: float | None = None


class IpInfo(_Response):
    """Address, ASN and owner of an IP seen by the device."""

    address: str | None = None
    asn: int | None = None
    aso: str | None = None
    name: str | None = None


class Rtt(_Response):
    """Round-trip times in microseconds."""

    rtt_us: DirectionalStat | None = Field(None, alias="rttUs")
    min_rtt_us: DirectionalStat | None = Field(None, alias="minRttUs")


class DeviceLiveStatus(_Response):
    """``GET /dex/devices/{id}/fleet-status/live``: the device's latest state."""

    device_id: str = Field(alias="deviceId")
    device_name: str | None = Field(None, alias="deviceName")
    person_email: str | None = Field(None, alias="personEmail")
    colo: str | None = None
    mode: str | None = None
    platform: str | None = None
    status: str | None = None
    timestamp: str | None = None
    version: str | None = None
    cpu_pct: float | None = Field(None, alias="cpuPct")
    ram_used_pct: float | None = Field(None, alias="ramUsedPct")
    disk_usage_pct: float | None = Field(None, alias="diskUsagePct")
    battery_pct: float | None = Field(None, alias="batteryPct")
    battery_charging: bool | None = Field(None, alias="batteryCharging")
    wifi_strength_dbm: float | None = Field(None, alias="wifiStrengthDbm")
    network_ssid: str | None = Field(None, alias="networkSsid")
    connection_type: str | None = Field(None, alias="connectionType")
    estimated_loss_pct: float | None = Field(None, alias="estimatedLossPct")
    rtt: Rtt | None = None
    isp_ipv4: IpInfo | None = Field(None, alias="ispIpv4")
    device_ipv4: IpInfo | None = Field(None, alias="deviceIpv4")
