"""Stream-through relay: the upload to Slack starts while the download from Cloudflare is
still arriving, instead of after it.

``files.getUploadURLExternal`` wants the length up front, so streaming needs the exact size
before the first byte: Cloudflare's ``Content-Length`` on an unencoded body (see
``bot.dex.download.exact_length``). Without it, the artifact goes to the temporary file first
and is uploaded from there, as before.

The download still writes every byte to the temporary file (with its SHA-256) while a
``Tee`` hands the same chunks, in order, to the upload through a bounded queue: memory stays
at a few chunks whatever the size, and a slow upload slows the download down rather than
piling bytes up. The upload is trusted only when the very attempt it streamed from is the
one that completed, with exactly the announced length: then the SHA-256 of the file on disk
is the SHA-256 of what Slack received. In every other case (the download restarted or broke
off, it was shorter than announced, the upload failed) the stream is abandoned before
anything is completed in Slack: an aborted upload leaves Slack only an unfinished file id,
which is never shared and expires. The caller then uploads the temporary copy, so a failed
upload is retried without downloading again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.dex.download import ChunkSink, DownloadedArtifact

#: Chunks held between download and upload at most (1 MiB each from the download side).
DEPTH = 4
T = TypeVar("T")


class StreamVoid(Exception):
    """The streamed bytes can no longer be trusted: the download restarted or stopped."""


class Tee(ChunkSink):
    """A ``ChunkSink`` passing one download attempt's chunks to one upload, bounded."""

    def __init__(self, depth: int = DEPTH) -> None:
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(max(2, depth))
        self.length: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.attempts = 0
        self.detached = False
        self.sent = 0

    async def begin(self, length: int | None) -> None:
        """Record the first attempt's exact length; a later attempt voids the stream."""
        self.attempts += 1
        if not self.length.done():
            self.length.set_result(length)
        else:
            self.detach()

    async def chunk(self, data: bytes) -> None:
        """Hand ``data`` on, waiting while the queue is full; nothing once detached."""
        if not self.detached:
            await self._queue.put(data)

    def detach(self) -> None:
        """Stop passing bytes: the download goes on to disk alone, the upload is voided."""
        if not self.length.done():
            self.length.set_result(None)
        self.detached = True
        while not self._queue.empty():
            self._queue.get_nowait()
        # Wake an upload waiting for bytes; there is room, the queue was just emptied.
        self._queue.put_nowait(b"")

    async def body(self, length: int) -> AsyncIterator[bytes]:
        """Exactly ``length`` bytes of the first attempt, or ``StreamVoid``."""
        while self.sent < length:
            data = await self._queue.get()
            if self.detached or self.sent + len(data) > length:
                raise StreamVoid("the download did not deliver the announced bytes")
            self.sent += len(data)
            yield data

    def intact(self, art: DownloadedArtifact, length: int) -> bool:
        """True when the upload got exactly the bytes of ``art`` (same attempt, same size)."""
        return not self.detached and self.attempts == 1 and art.size == length == self.sent


@dataclass
class Streamed(Generic[T]):
    """How a stream-through went: the artifact on disk, and the upload's outcome.

    ``result`` is set only when the upload received exactly the artifact's bytes; otherwise
    ``error`` says why the stream was abandoned (None: the length was not known up front).
    """

    art: DownloadedArtifact
    result: T | None = None
    error: BaseException | None = None


Download = Callable[[ChunkSink], Awaitable[DownloadedArtifact]]
Upload = Callable[[int, AsyncIterator[bytes]], Awaitable[T]]


async def stream_through(download: Download, upload: Upload[T]) -> Streamed[T]:
    """Run ``download(sink)``; once its exact length is known, run ``upload(length, body)``
    beside it, fed from the same chunks. Download errors propagate (the upload is then
    abandoned); upload errors are returned in ``Streamed.error``."""
    tee = Tee()
    fetching = asyncio.ensure_future(download(tee))
    # A failed download must wake an upload still waiting for bytes (and a waiting length).
    fetching.add_done_callback(lambda task: None if _ok(task) else tee.detach())
    sending: asyncio.Future[T] | None = None
    try:
        first: set[asyncio.Future[Any]] = {fetching, tee.length}
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        length = tee.length.result() if tee.length.done() else None
        if length is None or length < 1:
            tee.detach()
            return Streamed(await fetching)
        sending = asyncio.ensure_future(upload(length, tee.body(length)))
        await asyncio.wait({sending}, return_when=asyncio.FIRST_COMPLETED)
        error = sending.exception()
        if error is not None:
            tee.detach()  # let the download finish to disk at full speed
        art = await fetching
        if error is None and tee.intact(art, length):
            return Streamed(art, result=sending.result())
        return Streamed(art, error=error or StreamVoid("the download did not match its length"))
    finally:
        for task in (sending, fetching):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


def _ok(task: asyncio.Future[DownloadedArtifact]) -> bool:
    return not task.cancelled() and task.exception() is None
