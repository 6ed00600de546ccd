"""Shared steps of the worker tests: ask for a capture, approve it, drive the worker, and
read back what people see in Slack (thread replies, edited messages, shared files)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.app import create_worker
from bot.sim.people import ANN, APPROVALS_CHANNEL, MAX, SAM, SUPPORT_CHANNEL
from bot.sim.slack import FakeSlack
from bot.sim.slack.model import Message, SlackFile
from bot.worker.runner import TickReport, Worker
from handlers.ids import ActionId
from tests.plugins.bot import BotHarness

PCAP_ANN = f'capture <@{ANN.user_id}> pcap 5m --device ann-macbook --reason "VPN drops"'


@dataclass
class Approved:
    """A request that was approved and sent to Cloudflare."""

    request_id: str
    parent: Message
    card: Message


async def approved_capture(bot: BotHarness, text: str = PCAP_ANN) -> Approved:
    """Sam asks, Max approves; returns once the thread says the command was sent."""
    reply = await bot.slash(text, user=SAM)
    assert reply is not None and "waiting for approval" in reply.text.lower(), reply.text
    parent = bot.slack.messages(SUPPORT_CHANNEL)[-1]
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    approve = [
        el
        for b in card.blocks or []
        if b.get("type") == "actions"
        for el in b["elements"]
        if el["action_id"] == ActionId.APPROVE
    ]
    request_id = approve[0]["value"]
    resp = await bot.click(
        ActionId.APPROVE, request_id, user=MAX, channel=APPROVALS_CHANNEL, message_ts=card.ts
    )
    assert resp.status_code == 200
    await bot.slack.wait_for(
        lambda c: (
            c.method == "chat.postMessage"
            and c.args.get("thread_ts") == parent.ts
            and "Sent to" in str(c.args.get("text"))
        ),
        timeout=10,
    )
    await bot.local.idle()  # the approval's listener has finished (it dispatches, then posts)
    return Approved(request_id, parent, card)


def worker_for(bot: BotHarness) -> Worker:
    """A worker on the bot's own services, ticked by hand."""
    return create_worker(bot.dexbot.services)


async def advance_and_tick(bot: BotHarness, worker: Worker, seconds: float) -> TickReport:
    """Move Cloudflare's (and the bot's) clock, then run one worker tick, and wait for the
    delivery lanes it opened (uploads, summaries) to finish."""
    await bot.sim.advance(seconds)
    report = await worker.tick()
    await worker.deliverer.settle()
    return report


def thread(slack: FakeSlack, parent: Message) -> list[Message]:
    """The replies under ``parent`` (the parent itself left out)."""
    return slack.messages(parent.channel, thread_ts=parent.ts)[1:]


def keyed(messages: list[Message]) -> list[str]:
    """The dexbot dedupe keys carried in the messages' metadata."""
    return [
        str((m.metadata or {}).get("event_payload", {}).get("key"))
        for m in messages
        if m.metadata and m.metadata.get("event_type") == "dexbot_post"
    ]


def duplicates(slack: FakeSlack) -> dict[str, int]:
    """Dedupe keys posted more than once anywhere, and files shared more than once."""
    counts = Counter(keyed(all_messages(slack)))
    counts.update(f"file:{f.id}" for f in slack.files() for _ in f.shares)
    return {k: n for k, n in counts.items() if n > 1}


def all_messages(slack: FakeSlack) -> list[Message]:
    """Every live message in every channel, replies included."""
    return [m for m in slack.workspace.messages.values() if not m.deleted]


def current(slack: FakeSlack, msg: Message) -> Message:
    """The message as it reads now (after edits)."""
    found = slack.workspace.message(msg.channel, msg.ts)
    assert found is not None
    return found


def shared_files(slack: FakeSlack) -> list[SlackFile]:
    """Files that were shared somewhere (not just announced)."""
    return [f for f in slack.files() if f.shares]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def sim_artifact(bot: BotHarness, command_id: str) -> Path:
    """The simulator's file for a command (built on its first download)."""
    directory = bot.sim.sim.artifacts.directory
    command = bot.sim.sim.state.command(command_id)
    assert directory is not None and command is not None
    return directory / command.filename


def texts(messages: list[Message]) -> list[str]:
    return [m.text for m in messages]
