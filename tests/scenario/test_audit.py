"""``/dex audit REQUEST`` for approvers (every step with actor, rule and time) and
``dexbot audit --since 7d --format jsonl|csv`` with the matched rule and the forecast at each
decision."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

from bot.sim.people import MAX, SAM
from tests.plugins.bot import BotHarness, blocks_text
from tests.scenario.test_capture import buttons, click_approve, request_capture, wait_thread
from tests.scenario.test_policy import team


@team
async def test_an_approver_reads_a_requests_audit(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    request_id = buttons(card)[0]["value"]
    await click_approve(bot, card, MAX)
    await wait_thread(bot, parent, "Sent to")

    refused = await bot.slash(f"audit {request_id[:8]}", user=SAM)
    assert refused is not None and "not an approver" in refused.text
    reply = await bot.slash(f"audit {request_id[:8]}", user=MAX)
    assert reply is not None
    shown = blocks_text(reply.blocks)
    for words in (
        f"*requested* by <@{SAM.user_id}>",
        f"*approved* by <@{MAX.user_id}>",
        "*dispatched* by",
        "(rule `default`)",
        "commands left after it",
    ):
        assert words in shown, words
    unknown = await bot.slash("audit ffffffff", user=MAX)
    assert unknown is not None and "don't know that request" in unknown.text


@team
async def test_the_export_as_jsonl_and_csv(bot: BotHarness) -> None:
    parent, card = await request_capture(bot)
    request_id = buttons(card)[0]["value"]
    await click_approve(bot, card, MAX)
    await wait_thread(bot, parent, "Sent to")
    await bot.local.idle(10)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEX_", "DATABASE_"))}
    env["DATABASE_URL"] = bot.settings.database_url

    def run(fmt: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "audit", "--since", "7d", "--format", fmt],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    lines = [json.loads(line) for line in run("jsonl").splitlines()]
    mine = [x for x in lines if x["request_id"] == request_id]
    assert [x["action"] for x in mine][:2] == ["requested", "approved"]
    approved = mine[1]
    assert approved["actor"] == MAX.user_id and approved["rule"] == "default"
    assert approved["forecast_after"] == 24  # the simulator's 25, less this one
    rows = list(csv.DictReader(io.StringIO(run("csv"))))
    assert [r["action"] for r in rows if r["request_id"] == request_id][:2] == [
        "requested",
        "approved",
    ]
    assert rows[1]["rule"] == "default" and rows[1]["forecast_after"] == "24"
