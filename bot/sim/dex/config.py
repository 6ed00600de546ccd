"""Run-time knobs of the simulator, changeable through ``POST /_sim/config``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


class SimApiError(Exception):
    """An error the simulated API answers with, in the v4 envelope."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


# Cloudflare error codes. 10000 (authentication), 7003 (no route / bad identifier) and 10100
# are the platform-wide v4 codes. The DEX-specific codes below are NOT documented by
# Cloudflare: any code >= 1000 fits the schema, so these are the simulator's own choices.
AUTH_ERROR = 10000
NO_ROUTE = 7003
METHOD_NOT_ALLOWED = 7001
RATE_LIMITED = 10100
INTERNAL_ERROR = 10001
BAD_REQUEST = 1001  # undocumented: invalid parameters or body
NOT_FOUND = 1004  # undocumented: unknown device, command or file
#: Cloudflare's real code for a spent remote-command quota is undocumented; the simulator
#: answers HTTP 400 with code 1104 and the message "Remote command quota exceeded".
QUOTA_EXCEEDED = 1104
QUOTA_MESSAGE = "Remote command quota exceeded"

OUTCOMES = ("SUCCESS", "FAILED")
#: ``live_no_data``: how a device not seen within ``since_minutes`` is answered.
NO_DATA_MODES = ("off", "404", "empty")
#: ``list_order``: the order of ``GET /commands`` (the docs do not promise one).
LIST_ORDERS = ("newest", "oldest", "shuffled")
STR_CHOICES = {"live_no_data": NO_DATA_MODES, "list_order": LIST_ORDERS}


@dataclass
class SimConfig:
    """Behaviour knobs. Times are simulated seconds."""

    exec_seconds: float = 20.0  # PENDING_EXEC -> PENDING_UPLOAD
    upload_seconds: float = 20.0  # PENDING_UPLOAD -> SUCCESS
    timeout_seconds: float = 600.0  # a disconnected device's command fails after this
    artifact_bytes: int = 256 * 1024  # approximate size of pcap and warp-diag zips
    filename_as_url: bool = False  # list rows carry a full URL instead of a bare file name
    live_status_envelope: bool = False  # wrap fleet-status/live in the v4 envelope
    partial_success: bool = False  # pcap: the tunnel capture fails, the command still succeeds
    device_outcomes: dict[str, str] = field(default_factory=dict)  # device id or name -> outcome
    device_status: dict[str, str] = field(default_factory=dict)  # id or name -> connected|...
    rate_limit: int = 1200  # requests per window before the block
    rate_window_seconds: float = 300.0
    block_seconds: float = 300.0
    max_commands_per_request: int = 10
    speed: float | None = None  # clock speed; None leaves the clock alone
    live_no_data: str = "off"  # off | 404 | empty: a device not seen within since_minutes
    list_order: str = "newest"  # newest | oldest | shuffled order of GET /commands
    omit_empty_result: bool = False  # a success envelope for an empty list has no "result"

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` (a JSON object); raise ValueError naming any bad knob."""
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}; known: {sorted(known)}")
        for key, value in changes.items():
            current = getattr(self, key)
            if key in STR_CHOICES:
                if value not in STR_CHOICES[key]:
                    raise ValueError(f"{key} must be one of {', '.join(STR_CHOICES[key])}")
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
            elif isinstance(current, dict):
                if not isinstance(value, dict):
                    raise ValueError(f"{key} must be an object")
                if key == "device_outcomes" and any(v not in OUTCOMES for v in value.values()):
                    raise ValueError(f"device_outcomes values must be one of {OUTCOMES}")
                value = {str(k): str(v) for k, v in value.items()}
            elif key == "speed":
                if value is not None and (not isinstance(value, int | float) or value < 0):
                    raise ValueError("speed must be a number >= 0")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number >= 0")
            elif isinstance(current, int):
                value = int(value)
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        """The knobs as JSON."""
        return asdict(self)
