"""Artifact relay: download a finished command's ZIP from Cloudflare to a temporary file (with
its SHA-256), then upload it into the request's thread with Slack's external upload flow,
streamed from disk: ``files.getUploadURLExternal`` -> POST the bytes to ``upload_url`` with
``Content-Length`` -> ``files.completeUploadExternal`` into the thread.

``files_upload_v2`` is not used: it reads the whole file into memory and shares the Web API
client's 30 s timeout. Exactly once: the file id is saved in the outbox row before completing;
after an interruption ``files.info`` tells whether the upload was already shared there.
Temporary files are always removed.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.dex.download import ArtifactTooLarge, DownloadedArtifact
from bot.domain.errors import inert
from bot.domain.model import CaptureRequest
from bot.services.context import Context
from bot.store.outbox import OutboxItem

log = logging.getLogger("dexbot.artifacts")
METADATA_EVENT = "dexbot_post"
FindPosted = Callable[[str, str, str], Awaitable[str | None]]
CHUNK = 1 << 20


class UploadFailed(Exception):
    """The bytes did not reach Slack's upload URL; a fresh URL is needed."""


def pcap_summary(path: Path) -> str | None:
    """Which interfaces a pcap zip captured, from its ``results.json`` (None if absent).

    Cloudflare does not document the file's layout: a ``captures`` list of
    ``{interface, success, error?}`` (what the simulator writes) is read, and so is an object
    keyed by interface whose values carry ``success`` or ``status``.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            if "results.json" not in zf.namelist():
                return None
            data = json.loads(zf.read("results.json"))
    except (zipfile.BadZipFile, ValueError, KeyError):
        return "results.json could not be read"
    entries: list[tuple[str, bool, str | None]] = []
    if isinstance(data, dict) and isinstance(data.get("captures"), list):
        for c in data["captures"]:
            if isinstance(c, dict):
                name = inert(str(c.get("interface") or c.get("file") or "?"), 40)
                entries.append((name, _succeeded(c), inert(c.get("error"), 120) or None))
    elif isinstance(data, dict):
        for name, value in data.items():
            if isinstance(value, dict) and ("success" in value or "status" in value):
                entries.append(
                    (
                        inert(str(name), 40),
                        _succeeded(value),
                        inert(value.get("error"), 120) or None,
                    )
                )
    if not entries:
        return None
    ok = sorted(n for n, good, _ in entries if good)
    bad = [(n, err) for n, good, err in sorted(entries) if not good]
    if not bad:
        return "Captured: " + ", ".join(ok)
    failed = "; ".join(f"{n} failed" + (f" ({err})" if err else "") for n, err in bad)
    if not ok:
        return f"Nothing was captured: {failed}"
    return f"Partial success: captured {', '.join(ok)}; {failed}"


def _succeeded(entry: dict[str, Any]) -> bool:
    if "success" in entry:
        return entry["success"] is True
    return str(entry.get("status")).lower() == "success"


def human_size(n: int) -> str:
    """Bytes in the unit people use: "512 KB", "1.5 MB", "1 GB" (decimal, as Slack shows)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


class ArtifactRelay:
    """Performs ``upload`` outbox rows."""

    def __init__(
        self,
        ctx: Context,
        slack: AsyncWebClient,
        find_posted: FindPosted,
        *,
        work_dir: Path | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.ctx = ctx
        self.slack = slack
        self.find_posted = find_posted
        self.work_dir = work_dir
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))

    async def aclose(self) -> None:
        """Close the upload HTTP client."""
        await self.http.aclose()

    async def __call__(self, item: OutboxItem, req: CaptureRequest) -> dict[str, Any]:
        """Relay one artifact; returns what to store on the outbox row."""
        if not (req.parent_channel and req.parent_ts):
            return {"skipped": "no thread"}
        prior = item.result or {}
        if item.interrupted:
            # An earlier attempt may have finished: shared the file, or posted the note instead.
            if prior.get("file_id") and await self._already_shared(
                prior["file_id"], req.parent_channel
            ):
                return {**prior, "recovered": True}
            if await self.find_posted(req.parent_channel, req.parent_ts, item.key):
                return {"recovered": True}
        command_id = item.effect.facts["command_id"]
        limit = self.ctx.settings.dex_artifact_max_bytes
        tmp = Path(tempfile.mkdtemp(prefix="dexbot-", dir=self.work_dir))
        try:
            try:
                art = await self.ctx.dex.download_artifact(
                    command_id, item.effect.facts.get("filename"), tmp, max_bytes=limit
                )
            except ArtifactTooLarge:
                await self._note(
                    item,
                    req,
                    f"The result of command {inert(command_id)} is larger than the "
                    f"{human_size(limit)} I may upload to Slack; download it from the "
                    "Cloudflare dashboard instead.",
                )
                return {"skipped": "too large"}
            return await self._upload(item, req, art)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    async def _upload(
        self, item: OutboxItem, req: CaptureRequest, art: DownloadedArtifact
    ) -> dict[str, Any]:
        assert req.parent_channel and req.parent_ts
        comment = f"{inert(art.filename)}: {art.size:,} bytes, sha256 {art.sha256}"
        if item.effect.facts.get("command_type") == "pcap":
            summary = pcap_summary(art.path)
            if summary:
                comment += f"\n{summary}"
        try:
            got = await self.slack.files_getUploadURLExternal(
                filename=art.filename, length=art.size
            )
            file_id = str(got["file_id"])
            await self.ctx.outbox.note(item.key, {"file_id": file_id, "sha256": art.sha256})
            await self._post_bytes(str(got["upload_url"]), art)
            await self.slack.files_completeUploadExternal(
                files=[{"id": file_id, "title": art.filename}],
                channel_id=req.parent_channel,
                thread_ts=req.parent_ts,
                initial_comment=comment,
            )
        except SlackApiError as exc:
            # Slack may refuse the size when the URL is asked for or when the upload completes.
            if exc.response.get("error") != "file_upload_size_restricted":
                raise
            await self._note(
                item,
                req,
                f"This workspace doesn't allow uploads of {human_size(art.size)}, so the "
                f"result is not attached; download it from the Cloudflare dashboard.\n{comment}",
            )
            return {"skipped": "size restricted"}
        return {"file_id": file_id, "sha256": art.sha256, "size": art.size}

    async def _post_bytes(self, url: str, art: DownloadedArtifact) -> None:
        try:
            resp = await self.http.post(
                url,
                content=_chunks(art.path),
                headers={
                    "Content-Length": str(art.size),
                    "Content-Type": "application/octet-stream",
                },
            )
        except httpx.HTTPError as exc:
            raise UploadFailed(type(exc).__name__) from exc
        if resp.status_code >= 300:
            raise UploadFailed(f"HTTP {resp.status_code}")

    async def _already_shared(self, file_id: str, channel: str) -> bool:
        try:
            info = await self.slack.files_info(file=file_id)
        except SlackApiError:
            return False
        shares = (info.get("file") or {}).get("shares") or {}
        return any(channel in group for group in shares.values() if isinstance(group, dict))

    async def _note(self, item: OutboxItem, req: CaptureRequest, text: str) -> None:
        # Tagged with the row's key, so an interrupted attempt is found and not repeated.
        assert req.parent_channel and req.parent_ts
        await self.slack.chat_postMessage(
            channel=req.parent_channel,
            thread_ts=req.parent_ts,
            text=text,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": item.key}},
        )
