"""Artifacts are streamed to disk, hashed, size-capped, and named safely."""

from __future__ import annotations

import hashlib
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bot.dex import (
    ArtifactTooLarge,
    Command,
    CommandSpec,
    CommandType,
    DexClient,
    DexNotFoundError,
    DexTransportError,
)
from tests.dex.clock import FakeClock
from tests.dex.conftest import make_client


async def finished_capture(client: DexClient, dex_sim: Any) -> Command:
    [ann] = [d async for d in client.iter_devices("ann-macbook")]
    assert ann.person_email
    spec = CommandSpec(device_id=ann.device_id, user_email=ann.person_email, type=CommandType.PCAP)
    [created] = await client.create_commands([spec])
    await dex_sim.advance(120)
    [row] = (await client.list_commands(device_id=ann.device_id)).items
    assert row.id == created.id and row.status == "SUCCESS" and row.filename
    return row


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def names(directory: Path) -> list[str]:
    """What is in ``directory`` (nothing if it does not exist)."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


async def test_downloads_a_capture(client: DexClient, dex_sim: Any, tmp_path: Path) -> None:
    row = await finished_capture(client, dex_sim)
    got = await client.download_artifact(row.id, row.filename, tmp_path)
    assert got.path.parent.samefile(tmp_path) and got.filename == row.filename
    assert got.path.name == row.filename
    assert got.size == got.path.stat().st_size > 0
    assert got.sha256 == sha256(got.path)
    with zipfile.ZipFile(got.path) as zf:
        assert "results.json" in zf.namelist()
    assert names(tmp_path) == [row.filename]  # no temporary file left behind


async def test_filename_given_as_a_url(client: DexClient, dex_sim: Any, tmp_path: Path) -> None:
    await dex_sim.configure(filename_as_url=True)
    row = await finished_capture(client, dex_sim)
    assert row.filename and row.filename.startswith("http")
    got = await client.download_artifact(row.id, row.filename, tmp_path)
    assert got.filename == row.filename.rsplit("/", 1)[-1]
    [download] = await dex_sim.requests(path_contains="/downloads/")
    assert download["path"].endswith(f"/{row.id}/downloads/{got.filename}")


async def test_over_max_bytes_keeps_nothing(
    client: DexClient, dex_sim: Any, tmp_path: Path
) -> None:
    row = await finished_capture(client, dex_sim)
    with pytest.raises(ArtifactTooLarge, match="1,000-byte limit"):
        await client.download_artifact(row.id, row.filename, tmp_path, max_bytes=1000)
    assert names(tmp_path) == []


async def test_a_broken_download_restarts_from_scratch(
    client: DexClient, dex_sim: Any, tmp_path: Path
) -> None:
    row = await finished_capture(client, dex_sim)
    await dex_sim.fault("drop", path="/downloads/")
    await dex_sim.fault("500", path="/downloads/")
    got = await client.download_artifact(row.id, row.filename, tmp_path)
    assert got.sha256 == sha256(got.path)
    assert len(await dex_sim.requests(path_contains="/downloads/")) == 3
    assert names(tmp_path) == [got.filename]


async def test_a_slow_download_times_out_and_is_retried(
    dex_sim: Any, clock: FakeClock, tmp_path: Path
) -> None:
    # The download has its own HTTP session (aiohttp): the client's timeout holds there too.
    async with make_client(dex_sim, clock, timeout=0.2) as client:
        row = await finished_capture(client, dex_sim)
        await dex_sim.fault("slow", delay=1.0, path="/downloads/")
        got = await client.download_artifact(row.id, row.filename, tmp_path)
    assert got.sha256 == sha256(got.path)
    assert len(await dex_sim.requests(path_contains="/downloads/")) == 2


async def test_a_429_on_a_download_waits_retry_after_for_every_caller(
    client: DexClient, dex_sim: Any, clock: FakeClock, tmp_path: Path
) -> None:
    row = await finished_capture(client, dex_sim)
    await dex_sim.fault("429", retry_after=7, path="/downloads/")
    before = clock.now
    got = await client.download_artifact(row.id, row.filename, tmp_path)
    assert got.sha256 == sha256(got.path)
    assert clock.now - before >= 7
    assert len(await dex_sim.requests(path_contains="/downloads/")) == 2


async def test_a_download_that_keeps_failing_gives_up_without_the_token(
    dex_sim: Any, clock: FakeClock, tmp_path: Path
) -> None:
    async with make_client(dex_sim, clock, max_attempts=2) as client:
        row = await finished_capture(client, dex_sim)
        await dex_sim.fault("drop", count=10, path="/downloads/")
        with pytest.raises(DexTransportError) as info:
            await client.download_artifact(row.id, row.filename, tmp_path)
    for text in (str(info.value), repr(info.value.__cause__), str(info.value.__cause__)):
        assert dex_sim.token not in text
    assert names(tmp_path) == []
    # Two attempts of ours; aiohttp itself sends a GET again, once, on a connection closed
    # before any answer (see bot.dex.bulk).
    assert len(await dex_sim.requests(path_contains="/downloads/")) == 4


async def test_hostile_names_stay_inside_the_directory(
    client: DexClient, dex_sim: Any, tmp_path: Path
) -> None:
    row = await finished_capture(client, dex_sim)
    dest = tmp_path / "inbox"
    with pytest.raises(DexNotFoundError):
        await client.download_artifact(row.id, "../../etc/passwd", dest)
    [sent] = await dex_sim.requests(path_contains="/downloads/")
    assert sent["path"].endswith("/downloads/passwd")
    assert names(tmp_path) in ([], ["inbox"])
    assert names(dest) == []


async def test_ids_and_names_are_escaped_in_the_url(
    client: DexClient, dex_sim: Any, tmp_path: Path
) -> None:
    with pytest.raises(DexNotFoundError):
        await client.download_artifact("a b?c", "x y#.zip", tmp_path)
    [sent] = await dex_sim.requests(path_contains="/downloads/")
    assert sent["path"].endswith("/commands/a b?c/downloads/x y#.zip")  # decoded by the server


@pytest.mark.slow
async def test_a_200_mb_artifact_streams_with_bounded_memory(
    client: DexClient, dex_sim: Any, tmp_path: Path
) -> None:
    size = 200 * 1024 * 1024
    await dex_sim.configure(artifact_bytes=size)
    row = await finished_capture(client, dex_sim)
    tracemalloc.start()
    try:
        got = await client.download_artifact(row.id, row.filename, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.size >= size
    assert peak < 64 * 1024 * 1024, f"peak Python allocation {peak / 2**20:.1f} MiB"
    assert got.sha256 == sha256(got.path)
