"""Why a command FAILED, from what the bot saw: a typed cause, ``UNKNOWN`` when unknown.

Pure: the caller passes the facts (the device's last live status, its platform and client
version, whether another capture was running on the same Windows device, whether the upload
was refused as too large). Cloudflare's rules (docs/PLATFORM.md): a command times out after
10 minutes with the client disconnected; Windows cannot run two captures at once; remote
captures need WARP >= 2024.12.492.0 on Windows, macOS or Linux.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.insight.rules import version_tuple

DISCONNECT_TIMEOUT_S = 600
MINIMUM_VERSION = "2024.12.492.0"
SUPPORTED_PLATFORMS = frozenset({"windows", "mac", "macos", "linux"})


class FailureCause(StrEnum):
    """The likely cause of a failed command."""

    DISCONNECTED = "disconnected"
    SECOND_CAPTURE_WINDOWS = "second_capture_windows"
    UNSUPPORTED_PLATFORM = "unsupported_platform"
    CLIENT_TOO_OLD = "client_too_old"
    UPLOAD_TOO_LARGE = "upload_too_large"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FailureFacts:
    """What the bot knew when the command failed; leave unknown things as None/False.

    ``last_status`` is the last live status seen (``connected``, ``disconnected``…) and
    ``disconnected_s`` how long the device had been seen disconnected by then.
    """

    command_type: str
    platform: str | None = None
    client_version: str | None = None
    last_status: str | None = None
    disconnected_s: float | None = None
    other_capture_running: bool = False
    upload_too_large: bool = False
    minimum_version: str = MINIMUM_VERSION


@dataclass(frozen=True)
class FailureExplanation:
    """The cause and the facts behind it (for the renderer to word)."""

    cause: FailureCause
    platform: str | None = None
    client_version: str | None = None
    minimum_version: str | None = None
    disconnected_min: int | None = None


def explain_failure(facts: FailureFacts) -> FailureExplanation:
    """The likeliest cause, checked from the most certain fact to the least."""
    if facts.upload_too_large:
        return FailureExplanation(FailureCause.UPLOAD_TOO_LARGE)
    platform = (facts.platform or "").strip().lower()
    if platform and platform not in SUPPORTED_PLATFORMS:
        return FailureExplanation(FailureCause.UNSUPPORTED_PLATFORM, platform=facts.platform)
    have = version_tuple(facts.client_version) if facts.client_version else None
    need = version_tuple(facts.minimum_version)
    if have is not None and need is not None and have < need:
        return FailureExplanation(
            FailureCause.CLIENT_TOO_OLD,
            client_version=facts.client_version,
            minimum_version=facts.minimum_version,
        )
    if facts.other_capture_running and platform == "windows" and facts.command_type == "pcap":
        return FailureExplanation(FailureCause.SECOND_CAPTURE_WINDOWS, platform=facts.platform)
    status = (facts.last_status or "").strip().lower()
    away = facts.disconnected_s
    if status and status != "connected" and away is not None and away >= DISCONNECT_TIMEOUT_S:
        return FailureExplanation(FailureCause.DISCONNECTED, disconnected_min=int(away // 60))
    return FailureExplanation(FailureCause.UNKNOWN)
