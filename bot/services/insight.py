"""What a finished command says, for the thread: the artifact's summary, the devices' status
afterwards and what changed, and why a command failed. The analysis is pure (``bot.insight``);
this gathers its inputs (the artifact, live status, platform facts) and never spends quota.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from bot.dex.download import ArtifactTooLarge
from bot.dex.errors import DexError
from bot.domain.model import CaptureRequest, LiveSnapshot, TargetDevice
from bot.insight import (
    FailureExplanation,
    FailureFacts,
    RuleSet,
    StatusChange,
    StatusSnapshot,
    Summary,
    SummaryBudget,
    Unreadable,
    compare_status,
    explain_failure,
    summarize,
)
from bot.services.context import Context
from bot.services.live import snapshot

log = logging.getLogger("dexbot.insight")
#: Windows runs one capture at a time: another pcap on the device this close to ours is why.
SECOND_CAPTURE_WINDOW = timedelta(minutes=15)


def as_status(live: LiveSnapshot | None) -> StatusSnapshot | None:
    """The fields the before/after comparison looks at."""
    if live is None:
        return None
    return StatusSnapshot(live.status, live.mode, live.colo, live.version, live.rtt_ms)


class Insight:
    """Summaries and explanations for a request's thread."""

    def __init__(
        self, ctx: Context, rules: RuleSet, limits: SummaryBudget, *, work_dir: Path | None = None
    ) -> None:
        self.ctx = ctx
        self.rules = rules
        self.limits = limits
        self.work_dir = work_dir

    async def summary(self, command_type: str, command_id: str, filename: str | None) -> Summary:
        """Download the artifact to a temporary file and summarise it (never raises for the
        artifact's content; a download that fails raises, so the outbox retries it)."""
        tmp = Path(tempfile.mkdtemp(prefix="dexbot-insight-", dir=self.work_dir))
        try:
            try:
                # Its own cap, not Slack's upload limit: a file too big to attach can still
                # be read, and the summary is then all the thread gets.
                art = await self.ctx.dex.download_artifact(
                    command_id, filename, tmp, max_bytes=self.limits.max_uncompressed_bytes
                )
            except ArtifactTooLarge:
                return Unreadable(command_type, "the file is over the size I read")
            return await asyncio.to_thread(
                summarize, command_type, art.path, limits=self.limits, rules=self.rules
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    async def status_change(self, device: TargetDevice) -> StatusChange:
        """The device's live status now against what it was when the request was made."""
        now = await snapshot(
            self.ctx.dex,
            device.device_id,
            self.ctx.clock(),
            self.ctx.settings.dex_offline_after_minutes,
        )
        return compare_status(as_status(device.snapshot), as_status(now))

    async def why_failed(self, req: CaptureRequest, command_id: str) -> FailureExplanation:
        """The likely cause of a FAILED command, from what the bot can see for free."""
        device_id = next((c.device_id for c in req.commands if c.command_id == command_id), None)
        device = next((d for d in req.devices if d.device_id == device_id), None)
        if device is None:
            return explain_failure(FailureFacts(req.command_type))
        now = await snapshot(
            self.ctx.dex,
            device.device_id,
            self.ctx.clock(),
            self.ctx.settings.dex_offline_after_minutes,
        )
        offline = [s for s in (device.snapshot, now) if s is not None and s.offline]
        # Cloudflare fails a command after 10 min without the device: at least that long.
        away = max([600, *(60 * (s.seen_minutes_ago or 0) for s in offline)]) if offline else None
        return explain_failure(
            FailureFacts(
                req.command_type,
                platform=device.platform,
                client_version=device.version,
                last_status=now.status,
                disconnected_s=away,
                other_capture_running=await self._another_capture(req, device, command_id),
                minimum_version=self.ctx.settings.dex_min_client_version,
            )
        )

    async def _another_capture(
        self, req: CaptureRequest, device: TargetDevice, command_id: str
    ) -> bool:
        if req.command_type != "pcap" or "win" not in (device.platform or "").lower():
            return False
        ours = next((c for c in req.commands if c.command_id == command_id), None)
        created = ours.created_date if ours else None
        if created is None:
            return False
        try:
            page = await self.ctx.dex.list_commands(
                page=1,
                per_page=50,
                device_id=device.device_id,
                command_type="pcap",
                from_=created - SECOND_CAPTURE_WINDOW,
                to=created + SECOND_CAPTURE_WINDOW,
            )
            return any(c.id != command_id for c in page.items)
        except DexError:
            log.info("could not list commands on %s to explain a failure", device.name)
        return False
