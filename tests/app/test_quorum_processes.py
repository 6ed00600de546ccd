"""A 2-of-N quorum across two real ``dexbot serve`` processes on one PostgreSQL database: both
approvers click on both replicas at the same instant, and Cloudflare receives one command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.sim.people import ANN, APPROVALS_CHANNEL, MAX, MIA, SAM, SUPPORT_CHANNEL, Person
from bot.sim.slack import FAKE_SIGNING_SECRET, FakeSlack
from bot.sim.slack.payloads import block_actions_body, signed_headers, slash_command_body
from bot.sim.world import free_port, process_env
from handlers.ids import ActionId
from tests.app.test_serve_process import wait_for_line
from tests.plugins.bot import click_answers
from tests.plugins.db import _create_pg_database, _drop_pg_database
from tests.plugins.dexsim import SimHandle

pytestmark = pytest.mark.postgres
POLICY = Path(__file__).parents[1] / "scenario" / "policies" / "team.yaml"


@pytest.fixture
async def replicas(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> AsyncIterator[list[str]]:
    """Two ``dexbot serve`` processes (no worker) on one new PostgreSQL database."""
    db_url = await _create_pg_database()
    env = process_env(
        dex_sim,
        fake_slack,
        db_url,
        DEX_POLICY_FILE=str(POLICY),
        DEX_APPROVAL_CHANNEL=APPROVALS_CHANNEL,
    )
    procs: list[asyncio.subprocess.Process] = []
    urls: list[str] = []
    try:
        for _ in range(2):  # one after the other: the first migrates the database
            port = free_port()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "serve",
                "--port",
                str(port),
                "--no-worker",
                env=env,
                cwd=str(tmp_path),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            procs.append(proc)
            assert proc.stderr is not None
            await wait_for_line(proc.stderr, "dexbot listening", deadline=30)
            urls.append(f"http://127.0.0.1:{port}/slack/events")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await asyncio.wait_for(proc.wait(), timeout=15)
        await _drop_pg_database(db_url)


async def _post(http: httpx.AsyncClient, url: str, body: bytes) -> None:
    resp = await http.post(url, content=body, headers=signed_headers(FAKE_SIGNING_SECRET, body))
    assert resp.status_code == 200, resp.text


def _click(slack: FakeSlack, who: Person, request_id: str, card_ts: str) -> bytes:
    url = slack.new_response_url(channel=APPROVALS_CHANNEL, user=who.user_id, message_ts=card_ts)
    return block_actions_body(
        ActionId.APPROVE, request_id, who.user_id, APPROVALS_CHANNEL, card_ts, url, "trigger"
    )


async def test_racing_quorum_clicks_on_two_processes_give_one_dispatch(
    replicas: list[str], dex_sim: SimHandle, fake_slack: FakeSlack
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for round_, device in enumerate(("ann-macbook", "ann-desktop")):
            text = f'pcap <@{ANN.user_id}> 8m --device {device} --reason "drops all day"'
            url = fake_slack.new_response_url(channel=SUPPORT_CHANNEL, user=SAM.user_id)
            await _post(
                http, replicas[0], slash_command_body(text, SAM.user_id, SUPPORT_CHANNEL, url, "t")
            )
            await fake_slack.wait_for(
                lambda c: c.method == "response_url" and not click_answers(fake_slack)(c),
                count=round_ + 1,
                timeout=20,
            )
            card = fake_slack.messages(APPROVALS_CHANNEL)[-1]
            assert "needs 2 distinct approvals" in str(card.blocks)
            request_id = next(
                el["value"]
                for b in card.blocks or []
                if b.get("type") == "actions"
                for el in b["elements"]
            )

            bodies = [(0, MAX), (1, MIA), (1, MAX), (0, MIA)]
            await asyncio.gather(
                *(
                    _post(http, replicas[i], _click(fake_slack, who, request_id, card.ts))
                    for i, who in bodies
                )
            )
            # The two clicks that did not decide are each answered: already counted / approved.
            await fake_slack.wait_for(click_answers(fake_slack), count=2 * (round_ + 1), timeout=20)
            await fake_slack.wait_for(
                lambda c: c.method == "chat.postMessage" and "Sent to" in str(c.args.get("text")),
                count=round_ + 1,
                timeout=20,
            )
            posts = [
                r
                for r in await dex_sim.requests("POST")
                if r["method"] == "POST" and r["path"].endswith("/commands")
            ]
            assert len(posts) == round_ + 1
        thread = fake_slack.messages(SUPPORT_CHANNEL)
        assert len(thread) == 2
