"""Artifact relay: a finished command's ZIP from Cloudflare into the request's thread with
Slack's external upload flow: ``files.getUploadURLExternal`` -> POST the bytes to
``upload_url`` with ``Content-Length`` -> ``files.completeUploadExternal`` into the thread.

When Cloudflare gives the exact length, the upload runs beside the download, fed from the
same chunks while they are also written to a temporary file with their SHA-256
(``bot.worker.relay``). If that stream fails, or the length is not known up front, the
temporary copy is uploaded with a fresh URL, without downloading again.

``files_upload_v2`` is not used: it reads the whole file into memory and shares the Web API
client's 30 s timeout. Exactly once: the file id is saved in the outbox row before completing;
after an interruption ``files.info`` tells whether the upload was already shared there.
A stream that did not carry exactly the downloaded bytes is never completed. Temporary files
are always removed.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.dex.download import (
    ArtifactTooLarge,
    ChunkSink,
    DownloadedArtifact,
)
from bot.domain.errors import inert
from bot.domain.model import CaptureRequest
from bot.services.context import Context
from bot.store.outbox import OutboxItem
from bot.worker.relay import StreamVoid, stream_through

log = logging.getLogger("dexbot.artifacts")
METADATA_EVENT = "dexbot_post"
_SAFE = re.compile(r"[^a-z0-9]+", re.IGNORECASE)
FindPosted = Callable[[str, str, str], Awaitable[str | None]]
CHUNK = 1 << 20
T = TypeVar("T")


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


def _restricted(exc: BaseException | None) -> bool:
    """Slack refused the file for the workspace's size limit."""
    return isinstance(exc, SlackApiError) and exc.response.get("error") == (
        "file_upload_size_restricted"
    )


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


def shown_name(item: OutboxItem) -> str:
    """The file's name in Slack: what it is, whose device, which command
    (``pcap-ann-macbook-5758fefe.zip``), so two devices' files can be told apart."""
    facts = item.effect.facts
    command_id = str(facts["command_id"])
    kind = _SAFE.sub("-", str(facts.get("command_type") or "artifact")).strip("-") or "artifact"
    device = _SAFE.sub("-", str(facts.get("device") or "").lower()).strip("-")[:60]
    short = _SAFE.sub("", command_id)[:8] or "command"
    return "-".join(p for p in (kind, device, short) if p) + ".zip"


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
        self._http = http
        self._hooks: dict[str, list[Callable[..., Any]]] = {"request": [], "response": []}

    @property
    def http(self) -> httpx.AsyncClient:
        """The upload client, made on first use: its TLS set-up costs ~25 ms at start-up."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(60.0, connect=10.0),
                event_hooks={kind: list(hooks) for kind, hooks in self._hooks.items()},
            )
        return self._http

    def add_event_hook(self, kind: str, hook: Callable[..., Any]) -> None:
        """Call ``hook`` on every upload ``request`` or ``response`` (httpx's event hooks),
        without making the client before the first upload."""
        self._hooks[kind].append(hook)
        if self._http is not None:
            self._http.event_hooks[kind].append(hook)

    async def aclose(self) -> None:
        """Close the upload HTTP client."""
        if self._http is not None:
            await self._http.aclose()

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
        filename = shown_name(item)

        async def download(sink: ChunkSink) -> DownloadedArtifact:
            return await self.ctx.dex.download_artifact(
                command_id,
                item.effect.facts.get("filename"),
                tmp,
                max_bytes=limit,
                sink=sink,
                durable=False,  # the copy is deleted when this relay ends
            )

        async def upload(length: int, body: AsyncIterator[bytes]) -> str:
            return await self._send(item, filename, length, body)

        try:
            try:
                streamed = await stream_through(download, upload)
            except ArtifactTooLarge:
                await self._note(
                    item,
                    req,
                    f"The result of command {inert(command_id)} is larger than the "
                    f"{human_size(limit)} I may upload to Slack; download it from the "
                    "Cloudflare dashboard instead.",
                )
                return {"skipped": "too large"}
            art = streamed.art
            if streamed.result is not None:
                return await self._complete(item, req, art, streamed.result)
            if _restricted(streamed.error):
                return await self._restricted_note(item, req, art)
            if streamed.error is not None:
                log.info(
                    "streamed upload of %s abandoned (%s); uploading the saved copy",
                    item.key,
                    type(streamed.error).__name__,
                )
            # No length up front, or the stream failed: the whole file is on disk now.
            file_id = await self._guarded(item, req, art, self._send_file(item, art))
            if not isinstance(file_id, str):
                return file_id
            return await self._complete(item, req, art, file_id)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    async def _send_file(self, item: OutboxItem, art: DownloadedArtifact) -> str:
        return await self._send(item, shown_name(item), art.size, _chunks(art.path))

    async def _send(
        self, item: OutboxItem, filename: str, length: int, body: AsyncIterator[bytes]
    ) -> str:
        """Reserve a file id for ``length`` bytes, save it on the row, POST ``body``."""
        got = await self.slack.files_getUploadURLExternal(filename=filename, length=length)
        file_id = str(got["file_id"])
        # Saved before completing: after an interruption, files.info tells if it was shared.
        await self.ctx.outbox.note(item.key, {"file_id": file_id})
        await self._post_bytes(str(got["upload_url"]), body, length)
        return file_id

    async def _complete(
        self, item: OutboxItem, req: CaptureRequest, art: DownloadedArtifact, file_id: str
    ) -> dict[str, Any]:
        """Share the uploaded ``file_id`` into the thread with its size and SHA-256."""
        assert req.parent_channel and req.parent_ts
        await self.ctx.outbox.note(item.key, {"file_id": file_id, "sha256": art.sha256})
        done = await self._guarded(
            item,
            req,
            art,
            self.slack.files_completeUploadExternal(
                files=[{"id": file_id, "title": shown_name(item)}],
                channel_id=req.parent_channel,
                thread_ts=req.parent_ts,
                initial_comment=self._comment(item, art),
            ),
        )
        if isinstance(done, dict):
            return done
        return {"file_id": file_id, "sha256": art.sha256, "size": art.size}

    async def _guarded(
        self, item: OutboxItem, req: CaptureRequest, art: DownloadedArtifact, call: Awaitable[T]
    ) -> T | dict[str, Any]:
        # Slack may refuse the size when the URL is asked for or when the upload completes.
        try:
            return await call
        except SlackApiError as exc:
            if not _restricted(exc):
                raise
            return await self._restricted_note(item, req, art)

    async def _restricted_note(
        self, item: OutboxItem, req: CaptureRequest, art: DownloadedArtifact
    ) -> dict[str, Any]:
        await self._note(
            item,
            req,
            f"This workspace doesn't allow uploads of {human_size(art.size)}, so the "
            "result is not attached; download it from the Cloudflare dashboard.\n"
            + self._comment(item, art),
        )
        return {"skipped": "size restricted"}

    def _comment(self, item: OutboxItem, art: DownloadedArtifact) -> str:
        comment = f"{inert(shown_name(item))}: {art.size:,} bytes, sha256 {art.sha256}"
        if item.effect.facts.get("command_type") == "pcap":
            summary = pcap_summary(art.path)
            if summary:
                comment += f"\n{summary}"
        return comment

    async def _post_bytes(self, url: str, body: AsyncIterator[bytes], length: int) -> None:
        try:
            resp = await self.http.post(
                url,
                content=body,
                headers={
                    "Content-Length": str(length),
                    "Content-Type": "application/octet-stream",
                },
            )
        except (httpx.HTTPError, StreamVoid) as exc:
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
