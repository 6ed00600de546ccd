"""Benchmark: does a large upload hold up another request's thread? (issue 14, item 2)

One process runs the DEX simulator (clock frozen, moved by hand), the fake Slack and the bot
on a SQLite file, all on loopback. Sam asks for two captures and Max approves them through
signed Slack requests: A (ann-macbook pcap, a ``--mb`` artifact) and, a little later, B
(bob-thinkpad warp-diag). The worker ticks by hand:

1. A reaches SUCCESS: the tick records it and opens A's delivery lane (the upload of the
   artifact streams from the simulator into the fake Slack);
2. right away, B reaches PENDING_UPLOAD: a second tick records it and posts B's thread reply.

It prints how long the second tick took to put B's reply in Slack, how long A's upload took,
and whether B's reply landed while A's upload was still running.

    python bench/bench_lanes.py
    python bench/bench_lanes.py --mb 200
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot.sim.dex import DexSimulator
from bot.sim.people import ANN, APPROVALS_CHANNEL, BOB, MAX, SAM, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_SIGNING_SECRET, FakeSlack
from bot.sim.slack.payloads import block_actions_body, signed_headers, slash_command_body
from bot.sim.world import Cloudflare, LocalBot
from handlers.ids import ActionId

ASK_A = f'capture <@{ANN.user_id}> pcap 5m --device ann-macbook --reason "bench"'
ASK_B = f'capture <@{BOB.user_id}> warp-diag --device bob-thinkpad --reason "bench"'


async def ask_and_approve(
    http: httpx.AsyncClient, bot: LocalBot, slack: FakeSlack, text: str
) -> str:
    """Sam asks, Max approves; returns the parent message's ts once the command was sent."""
    url = slack.new_response_url(channel=SUPPORT_CHANNEL, user=SAM.user_id)
    body = slash_command_body(
        text, SAM.user_id, SUPPORT_CHANNEL, url, slack.new_trigger_id(SAM.user_id)
    )
    await http.post(bot.events_url, content=body, headers=signed_headers(FAKE_SIGNING_SECRET, body))
    await bot.idle()
    parent = slack.messages(SUPPORT_CHANNEL)[-1]
    card = slack.messages(APPROVALS_CHANNEL)[-1]
    [rid] = [
        el["value"]
        for b in card.blocks or []
        if b.get("type") == "actions"
        for el in b["elements"]
        if el["action_id"] == ActionId.APPROVE
    ]
    click_url = slack.new_response_url(
        channel=APPROVALS_CHANNEL, user=MAX.user_id, message_ts=card.ts
    )
    body = block_actions_body(
        ActionId.APPROVE, rid, MAX.user_id, APPROVALS_CHANNEL, card.ts, click_url,
        slack.new_trigger_id(MAX.user_id),
    )  # fmt: skip
    await http.post(bot.events_url, content=body, headers=signed_headers(FAKE_SIGNING_SECRET, body))
    await bot.idle()
    return parent.ts


async def main(mb: int) -> None:
    """Run the two-request scene once and print the figures."""
    work = Path(tempfile.mkdtemp(prefix="dexbench-lanes-"))
    sim = DexSimulator(seed=1, speed=0)
    base_url = await sim.start()
    slack = await FakeSlack(files_dir=work / "slack-files").start()
    bot = await LocalBot.start(
        slack=slack,
        cloudflare=Cloudflare(base_url, sim.token, sim.account_id),
        database_url=f"sqlite+aiosqlite:///{work}/bot.db",
        clock=sim.clock.now,
    )
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            worker = bot.worker()
            a_ts = await ask_and_approve(http, bot, slack, ASK_A)
            sim.clock.advance(20)
            await worker.tick()  # A: PENDING_UPLOAD
            await worker.deliverer.settle()
            sim.clock.advance(5)
            b_ts = await ask_and_approve(http, bot, slack, ASK_B)
            sim.configure({"artifact_bytes": mb * 1024 * 1024})
            ann_ids = {d.device_id for d in sim.state.devices if d.name == "ann-macbook"}
            [a_cmd] = [c for c in sim.state.commands if c.device_id in ann_ids and c.type == "pcap"]
            await sim.artifacts.path_for(a_cmd, sim.config.artifact_bytes, "SJC")  # built first

            sim.clock.advance(15)  # A: SUCCESS (its file is ready); B still PENDING_EXEC
            t0 = time.perf_counter()
            await worker.tick()  # opens A's lane
            sim.clock.advance(6)  # B: PENDING_UPLOAD
            t1 = time.perf_counter()
            await worker.tick()
            b_replies = slack.messages(SUPPORT_CHANNEL, thread_ts=b_ts)
            t2 = time.perf_counter()
            uploading = bool(worker.deliverer.lanes)
            await worker.deliverer.settle()
            t3 = time.perf_counter()
            shared = [f for f in slack.files() if any(s.thread_ts == a_ts for s in f.shares)]
            b_status = [m for m in b_replies if "PENDING_UPLOAD" in str(m.metadata)]
    finally:
        await bot.stop()
        await slack.stop()
        await sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"artifact: {mb} MiB; lanes: {bot.settings.dex_upload_concurrency}")
    print(
        f"A's lane (upload, then its summary) opened -> done: {t3 - t0:.2f} s; "
        f"files shared: {len(shared)}"
    )
    print(f"B's status change -> its thread reply posted: {(t2 - t1) * 1000:.0f} ms")
    print(f"B's reply posted while A's upload was still running: {uploading and bool(b_status)}")
    print(f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=500)
    asyncio.run(main(parser.parse_args().mb))
