"""A device's live fleet status as a snapshot: read before a request (it costs no quota) and
again when its commands finish, so the thread can say what changed."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from bot.dex.errors import DexError, DexRateBudgetExceeded, DexRateLimitedError
from bot.dex.models import DeviceLiveStatus
from bot.domain.model import LiveSnapshot
from bot.services.ports import DexPort

log = logging.getLogger("dexbot.live")
#: How far back Cloudflare is asked for a device's status.
SINCE_MINUTES = 10
#: The most one status read may take before the device counts as "no data".
READ_TIMEOUT = 2.0
_ONLINE = ("connected",)


def parse_seen(value: str | None) -> datetime | None:
    """Cloudflare's device timestamp ("2026-11-30 10:01:02+00" and ISO forms), or None."""
    if not value:
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("+00"):
        text += ":00"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def to_snapshot(s: DeviceLiveStatus, now: datetime, offline_after_minutes: int) -> LiveSnapshot:
    """The parts of a live status the card shows, and whether the device looks offline."""
    seen = parse_seen(s.timestamp)
    minutes = int((now - seen).total_seconds() // 60) if seen else None
    rtt = s.rtt.rtt_us.downstream if s.rtt and s.rtt.rtt_us else None
    status = (s.status or "").lower() or None
    offline = status not in _ONLINE or (minutes is not None and minutes > offline_after_minutes)
    return LiveSnapshot(
        status=status,
        mode=s.mode,
        colo=s.colo,
        version=s.version,
        rtt_ms=round(rtt / 1000, 1) if rtt is not None else None,
        seen_minutes_ago=minutes,
        offline=offline,
    )


async def snapshot(
    dex: DexPort,
    device_id: str,
    now: datetime,
    offline_after_minutes: int,
    *,
    raise_rate_limits: bool = False,
) -> LiveSnapshot:
    """The device's snapshot now; a device Cloudflare has no data for counts as offline.

    ``raise_rate_limits``: Cloudflare's rate limit (or our own budget for it) is raised, not
    taken for a silent device, so a person is told the real reason rather than that the
    device is not reporting."""
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            status = await dex.live_status(device_id, since_minutes=SINCE_MINUTES)
    except (DexRateLimitedError, DexRateBudgetExceeded):
        if raise_rate_limits:
            raise
        log.info("no live status for %s: Cloudflare's rate limit", device_id)
        return LiveSnapshot(status=None, offline=True)
    except (DexError, TimeoutError) as exc:
        log.info("no live status for %s: %s", device_id, type(exc).__name__)
        return LiveSnapshot(status=None, offline=True)
    return to_snapshot(status, now, offline_after_minutes)
