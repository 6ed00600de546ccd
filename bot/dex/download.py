"""Streaming an artifact to disk, and turning Cloudflare's ``filename`` into safe names.

A command's ``filename`` has been seen both as a bare name and as a URL, and it comes from
the network: it is never used as a local path unchecked. ``remote_artifact_name`` gives the
name to request (the last path segment, URL-decoded, or ``<command_id>.zip``);
``local_artifact_name`` turns that into a single harmless path component.

``stream_to_file`` writes the body to a temporary file in the destination directory in
fixed-size chunks, hashing as it goes, so memory does not grow with the artifact; the file
is renamed into place only when complete. Over ``max_bytes`` it raises ``ArtifactTooLarge``
(a ``DexError``, not a ``DexValidationError``: the request was sent, the answer was refused)
and, like on any other error, deletes the partial file.

An optional ``ChunkSink`` sees the bytes as they pass (each chunk before it is written, so
the sink's consumer and the disk work overlap): ``begin`` once per attempt with the body's
length when the headers make it certain, then every chunk in order. A retried download calls
``begin`` again, which tells the sink that what it saw before is void.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import unquote, urlsplit

from bot.dex.errors import DexError, DexValidationError

#: Longest local file name we create, in UTF-8 bytes (most file systems allow 255).
MAX_NAME_BYTES = 200
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


class ArtifactTooLarge(DexError):
    """The artifact is bigger than the caller's ``max_bytes``; nothing was kept on disk."""

    def __init__(self, limit: int, seen: int) -> None:
        super().__init__(f"artifact exceeds the {limit:,}-byte limit (at least {seen:,} bytes)")
        self.limit = limit
        self.seen = seen


@dataclass(frozen=True)
class DownloadedArtifact:
    """An artifact saved to disk: where, how big, its SHA-256, and its (local) file name."""

    path: Path
    size: int
    sha256: str
    filename: str


class ChunkSink(Protocol):
    """Sees a download's bytes as they pass (see the module docstring)."""

    async def begin(self, length: int | None) -> None:
        """An attempt starts; ``length`` is the exact body size, or None when unknown."""

    async def chunk(self, data: bytes) -> None:
        """The next bytes of this attempt; may wait (back-pressure)."""


def exact_length(headers: Mapping[str, str]) -> int | None:
    """The body's size in bytes when the headers make it certain, else None.

    ``headers`` is case-insensitive (httpx's or aiohttp's). ``Content-Length`` counts the
    bytes on the wire: with a ``Content-Encoding`` (the HTTP client decodes it) or chunked
    framing it is not the size of what we read.
    """
    declared = headers.get("content-length", "")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if not declared.isdigit() or encoding not in ("", "identity"):
        return None
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return None
    return int(declared)


def fallback_name(command_id: str) -> str:
    """``<command_id>.zip``, the name used when Cloudflare gives none."""
    return f"{command_id}.zip"


def remote_artifact_name(filename: str | None, command_id: str) -> str:
    """The name to request: the last path segment of ``filename`` (a bare name or a URL),
    URL-decoded; ``<command_id>.zip`` when that is empty, ``.`` or ``..``."""
    raw = (filename or "").strip()
    if "://" in raw or raw.startswith("/"):  # a URL (or its path): drop query and fragment
        raw = urlsplit(raw).path
    segment = unquote(raw.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1])
    if "/" in segment or "\\" in segment:  # an encoded separator: keep only the tail
        segment = segment.replace("\\", "/").rsplit("/", 1)[-1]
    if segment.strip() in ("", ".", ".."):
        return fallback_name(command_id)
    return segment


def local_artifact_name(name: str, command_id: str) -> str:
    """A single, harmless file-name component for ``name``.

    Path separators, NUL, control and reserved characters become ``_``; leading dots and
    spaces are dropped (no hidden files, no ``..``); the length is capped keeping the
    extension. Falls back to a sanitised ``<command_id>.zip`` when nothing is left.
    """

    def clean(text: str) -> str:
        text = unicodedata.normalize("NFC", text)
        text = "".join("_" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)
        text = _UNSAFE.sub("_", text).strip().lstrip(". ").rstrip(". ")
        return _truncate(text)

    cleaned = clean(name)
    if not cleaned or set(cleaned) <= {"_"}:
        cleaned = clean(fallback_name(command_id))
    return cleaned or "artifact.zip"


def _truncate(name: str) -> str:
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = MAX_NAME_BYTES - len(suffix.encode())
    encoded = stem.encode()[:budget].decode(errors="ignore")
    return encoded + suffix


def _write(fh: IO[bytes], hasher: hashlib._Hash, pieces: list[bytes]) -> None:
    for piece in pieces:
        hasher.update(piece)
        fh.write(piece)


def _finish(fh: IO[bytes], tmp: str, final: Path, durable: bool) -> None:
    fh.flush()
    if durable:
        os.fsync(fh.fileno())
    fh.close()
    os.replace(tmp, final)


def _discard(fh: IO[bytes], tmp: str) -> None:
    with contextlib.suppress(OSError):
        fh.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


class _Writer:
    """Hashes and writes chunks in a thread, one at a time and in order, while the next
    chunk is read: at most one chunk is in the thread's hands."""

    def __init__(self, fh: IO[bytes], hasher: hashlib._Hash, sink: ChunkSink | None) -> None:
        self.fh, self.hasher, self.sink = fh, hasher, sink
        self.busy: asyncio.Future[None] | None = None

    async def put(self, pieces: list[bytes]) -> None:
        # The sink first, so its consumer runs while the thread hashes and writes.
        if self.sink is not None:
            await self.sink.chunk(pieces[0] if len(pieces) == 1 else b"".join(pieces))
        await self.drain()
        self.busy = asyncio.ensure_future(asyncio.to_thread(_write, self.fh, self.hasher, pieces))

    async def drain(self) -> None:
        if self.busy is not None:
            busy, self.busy = self.busy, None
            await busy

    def abandon(self) -> None:
        # On error or cancellation: the thread may still hold the file; never await here.
        if self.busy is not None:
            self.busy.cancel()


async def stream_to_file(
    body: AsyncIterator[bytes],
    headers: Mapping[str, str],
    dest_dir: Path,
    filename: str,
    *,
    chunk_size: int = 1 << 20,
    max_bytes: int | None = None,
    sink: ChunkSink | None = None,
    durable: bool = True,
) -> DownloadedArtifact:
    """Write a response ``body`` (its pieces as the HTTP client gives them; ``headers`` the
    response's, case-insensitive) to ``dest_dir/filename`` with bounded memory.

    ``filename`` must already be a safe single component (see ``local_artifact_name``);
    this checks it again and refuses anything that would land outside ``dest_dir``.
    ``sink``, when given, sees every chunk too (see ``ChunkSink``). Chunks are
    ``chunk_size`` bytes or more (the last may be shorter). ``durable=False`` skips the
    ``fsync``, for a copy that does not outlive the process's use of it.
    """
    if chunk_size < 1:
        raise DexValidationError(f"chunk_size must be >= 1; got {chunk_size}")
    if max_bytes is not None and max_bytes < 1:
        raise DexValidationError(f"max_bytes must be >= 1; got {max_bytes}")
    dest = await asyncio.to_thread(dest_dir.resolve)
    final = dest / filename
    if filename in ("", ".", "..") or final.parent != dest or final.name != filename:
        raise DexValidationError(f"refusing artifact file name {filename!r}")
    declared = headers.get("content-length", "")
    if max_bytes is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ArtifactTooLarge(max_bytes, int(declared))

    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
    fd, tmp = await asyncio.to_thread(tempfile.mkstemp, prefix=".dexdl-", suffix=".part", dir=dest)
    fh = os.fdopen(fd, "wb")
    hasher = hashlib.sha256()
    size = 0
    writer = _Writer(fh, hasher, sink)
    try:
        if sink is not None:
            await sink.begin(exact_length(headers))
        # The client's own pieces (what each socket read gave), gathered into chunks without
        # re-copying them: re-buffering every byte cost a third of the CPU of a relay.
        pieces: list[bytes] = []
        pending = 0
        async for piece in body:
            size += len(piece)
            if max_bytes is not None and size > max_bytes:
                raise ArtifactTooLarge(max_bytes, size)
            pieces.append(piece)
            pending += len(piece)
            if pending >= chunk_size:
                await writer.put(pieces)
                pieces, pending = [], 0
        if pieces:
            await writer.put(pieces)
        await writer.drain()
        await asyncio.to_thread(_finish, fh, tmp, final, durable)
    except BaseException:
        # Synchronous on purpose: this also runs on cancellation, where awaiting is unsafe.
        writer.abandon()
        _discard(fh, tmp)
        raise
    return DownloadedArtifact(path=final, size=size, sha256=hasher.hexdigest(), filename=filename)
