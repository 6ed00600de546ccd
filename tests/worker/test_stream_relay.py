"""The stream-through relay (``bot.worker.relay``) between a real origin on loopback, standing
in for Cloudflare's artifact download, and the fake Slack's upload URL.

The origin is a small aiohttp server because the behaviours under test are about HTTP
framing the simulator does not produce: a body shorter than its ``Content-Length``, a body
with no length at all, a compressed body, and a body that pauses half-way until the upload
has visibly begun.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.dex import DexClient, RateLimiter, RetryPolicy
from bot.dex.download import ChunkSink, DownloadedArtifact
from bot.sim.slack import FakeSlack
from bot.worker.relay import stream_through
from tests.dex.clock import FakeClock

ACCOUNT = "acc0"
NAME = "capture.zip"
BODY = os.urandom(3 * 1024 * 1024 + 17)
Handler = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


@pytest.fixture
async def origin() -> AsyncIterator[tuple[str, list[Handler]]]:
    """An origin whose n-th download request is answered by ``handlers[n]``."""
    handlers: list[Handler] = []
    seen = [0]

    async def download(request: web.Request) -> web.StreamResponse:
        n = seen[0]
        seen[0] += 1
        return await handlers[min(n, len(handlers) - 1)](request, n)

    app = web.Application()
    app.router.add_get(f"/accounts/{ACCOUNT}/dex/commands/{{cid}}/downloads/{{name}}", download)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", handlers
    finally:
        await runner.cleanup()


async def whole(request: web.Request, _: int) -> web.StreamResponse:
    return web.Response(body=BODY, content_type="application/zip")


async def short(request: web.Request, _: int) -> web.StreamResponse:
    """Announce the full length, send half, then drop the connection."""
    resp = web.StreamResponse(headers={"Content-Length": str(len(BODY))})
    await resp.prepare(request)
    await resp.write(BODY[: len(BODY) // 2])
    assert request.transport is not None
    request.transport.close()
    return resp


async def unsized(request: web.Request, _: int) -> web.StreamResponse:
    resp = web.StreamResponse()
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await resp.write(BODY)
    await resp.write_eof()
    return resp


async def gzipped(request: web.Request, _: int) -> web.StreamResponse:
    packed = gzip.compress(BODY)
    return web.Response(
        body=packed, headers={"Content-Encoding": "gzip", "Content-Type": "application/zip"}
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Relay:
    """Download from the origin, upload to the fake Slack: what ``ArtifactRelay`` does."""

    def __init__(self, base_url: str, slack: AsyncWebClient, dest: Path) -> None:
        clock = FakeClock()
        self.dex = DexClient(
            base_url,
            "token",
            ACCOUNT,
            limiter=RateLimiter(1200, 300, clock=clock, sleep=clock.sleep),
            retry=RetryPolicy(base_delay=0.1, deadline=60, sleep=clock.sleep, clock=clock),
        )
        self.slack = slack
        self.dest = dest
        self.reserved: list[str] = []

    async def download(self, sink: ChunkSink) -> DownloadedArtifact:
        return await self.dex.download_artifact("cmd1", NAME, self.dest, sink=sink)

    async def upload(self, length: int, body: AsyncIterator[bytes]) -> str:
        got = await self.slack.files_getUploadURLExternal(filename=NAME, length=length)
        self.reserved.append(str(got["file_id"]))
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                str(got["upload_url"]), content=body, headers={"Content-Length": str(length)}
            )
        resp.raise_for_status()
        return str(got["file_id"])


@pytest.fixture
async def relay(
    origin: tuple[str, list[Handler]], slack_client: AsyncWebClient, tmp_path: Path
) -> AsyncIterator[Relay]:
    r = Relay(origin[0], slack_client, tmp_path / "dl")
    try:
        yield r
    finally:
        await r.dex.aclose()


async def test_the_upload_receives_bytes_before_the_download_has_finished(
    origin: tuple[str, list[Handler]], relay: Relay, fake_slack: FakeSlack
) -> None:
    seen_upload_start: list[bool] = []

    async def paused(request: web.Request, _: int) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": str(len(BODY))})
        await resp.prepare(request)
        await resp.write(BODY[: len(BODY) // 2])
        # Hold the rest back until Slack's side has the first bytes (or give up at 10 s).
        deadline = asyncio.get_running_loop().time() + 10
        while asyncio.get_running_loop().time() < deadline:
            files = list(fake_slack.files_dir.glob("*"))
            if files and files[0].stat().st_size > 0:
                seen_upload_start.append(True)
                break
            await asyncio.sleep(0.01)
        await resp.write(BODY[len(BODY) // 2 :])
        await resp.write_eof()
        return resp

    origin[1].append(paused)
    streamed = await stream_through(relay.download, relay.upload)
    assert seen_upload_start == [True], "the upload waited for the whole download"
    assert streamed.error is None and streamed.result == relay.reserved[0]
    assert streamed.art.sha256 == sha(BODY) and streamed.art.size == len(BODY)
    [f] = fake_slack.files()
    assert f.id == streamed.result and f.sha256 == sha(BODY) and f.size == len(BODY)


async def test_a_download_shorter_than_announced_leaves_slack_nothing_to_complete(
    origin: tuple[str, list[Handler]], relay: Relay, fake_slack: FakeSlack
) -> None:
    origin[1].extend([short, whole])
    streamed = await stream_through(relay.download, relay.upload)
    # The stream is abandoned; the retried download is complete on disk for a second upload.
    assert streamed.result is None and streamed.error is not None
    assert streamed.art.sha256 == sha(BODY)
    assert streamed.art.path.read_bytes() == BODY
    # Slack holds the reserved id only, with no bytes: nothing there could be completed.
    [reserved] = relay.reserved
    [f] = fake_slack.files()
    assert f.id == reserved and not f.uploaded and not f.shares


@pytest.mark.parametrize("handler", [unsized, gzipped], ids=["no length", "compressed"])
async def test_without_an_exact_length_the_file_is_downloaded_first(
    origin: tuple[str, list[Handler]], relay: Relay, fake_slack: FakeSlack, handler: Handler
) -> None:
    origin[1].append(handler)
    streamed = await stream_through(relay.download, relay.upload)
    assert streamed.result is None and streamed.error is None
    assert streamed.art.sha256 == sha(BODY) and streamed.art.path.read_bytes() == BODY
    assert relay.reserved == [] and fake_slack.files() == []


async def test_a_failed_upload_lets_the_download_finish_to_disk(
    origin: tuple[str, list[Handler]], relay: Relay, fake_slack: FakeSlack
) -> None:
    origin[1].append(whole)
    fake_slack.fail_upload(1, mode="drop")
    streamed = await stream_through(relay.download, relay.upload)
    assert streamed.result is None and streamed.error is not None
    assert streamed.art.path.read_bytes() == BODY
    [f] = fake_slack.files()
    assert not f.uploaded and not f.shares
