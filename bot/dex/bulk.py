"""The HTTP of artifact downloads: aiohttp for the bytes, while httpx keeps the JSON API.

An artifact relay is CPU-bound in the bot (``docs/benchmarks.md``, "Artifact relay"), and
most of that CPU was httpx reading the body: 64 KiB at a time through httpcore, anyio and
h11, about 0.22 s of CPU per 200 MiB on the bench machine. aiohttp (already a dependency)
parses with its C parser and hands over what each socket read gave, up to 256 KiB: about
0.06 s for the same bytes. Raising httpcore's read size would mean patching the library for
every client in the process, so the download alone takes this other path.

It behaves like the httpx client it stands beside: the same timeout for connecting and for
each read, no redirects followed, the proxy settings from the environment, certifi's CA
roots, a ``Content-Encoding`` decoded (``exact_length`` then declines to stream). The answer's
status and headers are also shown as an ``httpx.Response`` (``as_httpx``), so the envelope
parser and the metrics hooks read it like any other answer.

One difference: aiohttp sends an idempotent request again, once, when its connection closes
before any answer (meant for a stale keep-alive connection; there is no public switch). A
download is a GET that restarts from scratch anyway, so this is only one more request than
the rate limiter counted, and only after a dropped connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
import certifi
import httpx
from yarl import URL

#: What aiohttp raises when a connection, a read or a body fails (timeouts included).
BULK_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError)


class BulkHttp:
    """A lazily made ``aiohttp.ClientSession`` for large GETs, with httpx-like settings."""

    def __init__(self, timeout: float) -> None:
        self.timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop aiohttp wants; a bot that never
        # downloads never pays for it.
        if self._session is None or self._session.closed:
            tls = ssl.create_default_context(cafile=certifi.where())
            self._session = aiohttp.ClientSession(
                timeout=self.timeout,
                connector=aiohttp.TCPConnector(ssl=tls),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=True,
            )
        return self._session

    @asynccontextmanager
    async def get(
        self, url: str, headers: Mapping[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET ``url`` (already percent-encoded) and yield the answer, its body unread."""
        # encoded=True: the path was quoted segment by segment; yarl must not re-quote it.
        async with self._open().get(
            URL(url, encoded=True), headers=dict(headers), allow_redirects=False
        ) as response:
            yield response

    async def aclose(self) -> None:
        """Close the session, if one was made."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def as_httpx(response: aiohttp.ClientResponse, url: str) -> httpx.Response:
    """``response``'s status and headers as an ``httpx.Response`` with an empty body (the
    real one is read from ``response``)."""
    return httpx.Response(
        response.status,
        headers=list(response.headers.items()),
        request=httpx.Request(response.method, url),
    )


async def read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """At most ``cap`` bytes of the body: error answers are small, or not worth keeping."""
    chunks: list[bytes] = []
    size = 0
    while size < cap and (chunk := await response.content.read(cap - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
