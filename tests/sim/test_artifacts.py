"""Downloads: real ZIPs holding real libpcap captures, served from disk."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from typing import Any

import httpx
import psutil
import pytest

from tests.plugins.dexsim import SimHandle
from tests.sim.conftest import create, error_codes, item


def ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def read_pcap(data: bytes) -> dict[str, Any]:
    """A tiny libpcap reader: global header, then every record; checks IPv4 checksums."""
    magic, major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    assert magic == 0xA1B2C3D4, hex(magic)
    assert (major, minor) == (2, 4)
    assert linktype == 1  # Ethernet
    offset, packets, protocols, last_ts = 24, 0, set(), 0.0
    while offset < len(data):
        ts_sec, ts_usec, incl, orig = struct.unpack_from("<IIII", data, offset)
        offset += 16
        frame = data[offset : offset + incl]
        assert len(frame) == incl, "truncated record"
        assert incl <= snaplen and incl <= orig
        assert ts_usec < 1_000_000 and ts_sec + ts_usec / 1e6 >= last_ts
        last_ts = ts_sec + ts_usec / 1e6
        assert frame[12:14] == b"\x08\x00"  # IPv4
        ip = frame[14:]
        assert ip[0] == 0x45
        assert ones_complement_sum(ip[:20]) == 0xFFFF, "bad IPv4 header checksum"
        total_length = struct.unpack("!H", ip[2:4])[0]
        assert total_length == orig - 14
        protocols.add(ip[9])
        if incl == orig and ip[9] in (6, 17):  # whole packet: the L4 checksum holds too
            pseudo = ip[12:20] + struct.pack("!BBH", 0, ip[9], total_length - 20)
            assert ones_complement_sum(pseudo + ip[20:total_length]) == 0xFFFF
        offset += incl
        packets += 1
    return {"packets": packets, "snaplen": snaplen, "protocols": protocols}


async def finished(dex_sim: SimHandle, cf: httpx.AsyncClient, *items: dict) -> list[dict]:
    created = (await create(cf, *items)).json()["result"]["commands"]
    await dex_sim.advance(40)
    rows = (await cf.get("/commands", params={"page": 1, "per_page": 50})).json()
    by_id = {r["id"]: r for r in rows["result"]["commands"]}
    return [by_id[c["id"]] for c in created]


async def test_pcap_zip_holds_two_valid_captures_and_results(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    args = {"packet-size-bytes": 1600}  # whole packets, so TCP/UDP checksums can be checked
    (row,) = await finished(dex_sim, cf, item(dex_sim, "bob-thinkpad", args=args))
    response = await cf.get(f"/commands/{row['id']}/downloads/{row['filename']}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert row["filename"] in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert sorted(zf.namelist()) == [
            "capture-default.pcap",
            "capture-tunnel.pcap",
            "results.json",
        ]
        results = json.loads(zf.read("results.json"))
        default = read_pcap(zf.read("capture-default.pcap"))
        tunnel = read_pcap(zf.read("capture-tunnel.pcap"))
    assert [c["success"] for c in results["captures"]] == [True, True]
    assert default["packets"] > 50 and tunnel["packets"] > 20
    assert default["protocols"] == {6, 17}


async def test_pcap_respects_the_snap_length(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    (row,) = await finished(dex_sim, cf, item(dex_sim, "ann-macbook"))
    response = await cf.get(f"/commands/{row['id']}/downloads/{row['filename']}")
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert read_pcap(zf.read("capture-default.pcap"))["snaplen"] == 160


async def test_partial_success_reports_the_failed_tunnel_capture(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    await dex_sim.configure(partial_success=True)
    (row,) = await finished(dex_sim, cf, item(dex_sim, "ann-macbook"))
    assert row["status"] == "SUCCESS"
    response = await cf.get(f"/commands/{row['id']}/downloads/{row['filename']}")
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        results = json.loads(zf.read("results.json"))
        assert "capture-tunnel.pcap" not in zf.namelist()
        read_pcap(zf.read("capture-default.pcap"))
    outcome = {c["interface"]: c["success"] for c in results["captures"]}
    assert outcome == {"default": True, "tunnel": False}


async def test_warp_diag_and_speed_test_zips(dex_sim: SimHandle, cf: httpx.AsyncClient) -> None:
    await dex_sim.configure(artifact_bytes=50_000)
    diag, speed = await finished(
        dex_sim,
        cf,
        item(dex_sim, "ann-macbook", "warp-diag"),
        item(dex_sim, "bob-thinkpad", "speed-test", args={"interfaces": ["default"]}),
    )
    body = (await cf.get(f"/commands/{diag['id']}/downloads/{diag['filename']}")).content
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert "daemon.log" in zf.namelist()
        assert b"warp" in zf.read("daemon.log")
        assert sum(i.file_size for i in zf.infolist()) >= 50_000
    body = (await cf.get(f"/commands/{speed['id']}/downloads/{speed['filename']}")).content
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        results = json.loads(zf.read("results.json"))
    assert [r["interface"] for r in results["results"]] == ["default"]


async def test_downloads_404_for_unknown_wrong_or_unfinished(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    created = (await create(cf, item(dex_sim, "bob-thinkpad"))).json()["result"]["commands"][0]
    name = f"pcap-{created['id']}.zip"
    unfinished = await cf.get(f"/commands/{created['id']}/downloads/{name}")
    assert unfinished.status_code == 404 and error_codes(unfinished)
    await dex_sim.advance(40)
    wrong = await cf.get(f"/commands/{created['id']}/downloads/other.zip")
    assert wrong.status_code == 404
    unknown = await cf.get(f"/commands/5758fefe-ae7e-4538-a39b-1fef6abcb909/downloads/{name}")
    assert unknown.status_code == 404
    assert (await cf.get(f"/commands/{created['id']}/downloads/{name}")).status_code == 200


@pytest.mark.slow
async def test_300_mb_artifact_is_served_from_disk(
    dex_sim: SimHandle, cf: httpx.AsyncClient
) -> None:
    size = 300 * 1024 * 1024
    await dex_sim.configure(artifact_bytes=size)
    (row,) = await finished(dex_sim, cf, item(dex_sim, "bob-thinkpad"))
    me = psutil.Process()
    baseline, peak = me.memory_info().rss, 0
    received = 0
    url = f"/commands/{row['id']}/downloads/{row['filename']}"
    async with cf.stream("GET", url, timeout=120) as response:
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) >= size * 0.99
        async for chunk in response.aiter_raw(1 << 20):
            received += len(chunk)
            peak = max(peak, me.memory_info().rss)
    assert received == int(response.headers["Content-Length"])
    growth = (peak - baseline) / 2**20
    assert growth < 50, f"RSS grew by {growth:.0f} MB while serving {received / 2**20:.0f} MB"
    directory = dex_sim.sim.artifacts.directory
    assert directory is not None
    on_disk = directory / row["filename"]
    with zipfile.ZipFile(on_disk) as zf:
        assert zf.testzip() is None  # every member's CRC checks out
        with zf.open("capture-default.pcap") as capture:
            assert capture.read(4) == b"\xd4\xc3\xb2\xa1"
