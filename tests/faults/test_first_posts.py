"""A request's first two messages, the parent in the requester's channel and the approval card,
against a real ``python -m bot serve``: killed (SIGKILL) around each post, or answered with each
failure Slack has. Every request ends one of two ways:

- its parent and card are each posted exactly once and it waits for approval, or
- it is cancelled, holds no quota, and the requester was told (in the answer, or by DM).

The processes share a SQLite file with the test (which reads the request rows back) and talk
to the in-process simulator and fake Slack over loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.sim.people import (
    APPROVALS_CHANNEL,
    PRIVATE_CHANNEL_WITHOUT_BOT,
    PUBLIC_CHANNEL_WITHOUT_BOT,
    SAM,
    SUE,
    SUPPORT_CHANNEL,
)
from bot.sim.slack import FakeSlack
from tests.faults.world import World, card_key, parent_key
from tests.plugins.dexsim import SimHandle

MISSING_CHANNEL = "C0NOSUCH9"


def world(dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path, approvals: str) -> World:
    """Processes on a SQLite file in ``tmp_path``, cards going to ``approvals``."""
    url = f"sqlite+aiosqlite:///{tmp_path}/dexbot.db"
    return World(dex_sim, fake_slack, tmp_path, url, approvals)


def into(channel: str) -> Callable[[dict[str, Any]], bool]:
    """Matches a call addressed to ``channel``."""
    return lambda args: args.get("channel") == channel


async def settled(w: World, *, timeout: float = 40, newest: bool = False) -> str:  # noqa: ASYNC109
    """Wait until the one request (or, with ``newest``, the newest) is posted (parent and
    card) or cancelled and told; check that it is one or the other, exactly once, and return
    which ("posted"/"cancelled")."""
    rows = await w.requests()
    if newest:
        rows = rows[-1:]
    [req] = rows
    pk, ck = parent_key(req.id), card_key(req.id)

    def done(_: object) -> bool:
        return bool(w.posts(pk) and w.posts(ck)) or bool(w.slack.calls(told(req.requester_id)))

    await w.slack.wait_for(done, 1, timeout)
    [req] = [r for r in await w.requests() if r.id == req.id]
    log = w.log_text()
    if req.state == "cancelled":
        assert len(w.slack.calls(told(req.requester_id))) == 1, log  # told once, one way
        assert await w.held_units(req.id) == 0, log
        # What did get posted stays, once, and stops asking for anything.
        assert len(w.posts(pk)) <= 1, log
        assert len(w.posts(ck)) <= 1, log
        for post in w.posts(ck):
            ts = post.response["ts"]  # type: ignore[index]
            await w.slack.wait_for(lambda c, ts=ts: closed_edit(c, ts), 1, timeout)
        return "cancelled"
    # Posted: each once, where people look, and the request waits for its approver.
    assert req.state == "pending_approval", log
    assert len(w.posts(pk)) == 1, log
    assert len(w.posts(ck)) == 1, log
    assert w.shown(w.posts(pk)[0].args["channel"], pk) == 1, log
    assert w.shown(w.approval_channel, ck) == 1, log
    [card] = [
        m for m in w.slack.messages(w.approval_channel) if m.ts == w.posts(ck)[0].response["ts"]
    ]  # type: ignore[index]
    assert "approve" in str(card.blocks).lower(), log
    return "posted"


def closed_edit(c: Any, ts: str) -> bool:
    """An edit of the card at ``ts`` that leaves no buttons on it."""
    return (
        c.method == "chat.update"
        and c.args.get("ts") == ts
        and "button" not in str(c.args.get("blocks"))
    )


def told(user: str) -> Callable[[Any], bool]:
    """Matches the requester being told: an answer to their command, or a direct message."""

    def match(c: Any) -> bool:
        if c.method == "response_url":
            return "cancelled" in str(c.args.get("text", "")).lower()
        return c.method == "chat.postMessage" and c.args.get("channel") == user

    return match


def edits_carry_blocks(w: World) -> None:
    """Real Slack keeps a message's old blocks when an edit sends only text."""
    bare = [str(c) for c in w.slack.calls("chat.update") if not c.args.get("blocks")]
    assert bare == [], w.log_text()


@dataclass(frozen=True)
class Fault:
    """One way a post goes wrong, and how the request must end."""

    name: str
    post: str  # "parent" or "card"
    expect: str  # "posted" or "cancelled"
    inject: Callable[[FakeSlack, str], None] | None = None  # (fake, channel of the post)
    approvals: str = APPROVALS_CHANNEL
    asked_in: str = SUPPORT_CHANNEL


def _error(*codes: str) -> Callable[[FakeSlack, str], None]:
    def inject(fake: FakeSlack, channel: str) -> None:
        for code in codes:
            fake.fail("chat.postMessage", code, where=into(channel))

    return inject


TRANSIENT: dict[str, Callable[[FakeSlack, str], None]] = {
    "internal_error": _error("internal_error"),
    "http_503": lambda fake, ch: fake.fail_http("chat.postMessage", 503, where=into(ch)),
    "dropped": lambda fake, ch: fake.drop("chat.postMessage", where=into(ch)),
    "ratelimited": lambda fake, ch: fake.rate_limit("chat.postMessage", where=into(ch)),
}
LATER = _error("internal_error", "is_archived")
FAULTS = [
    *(Fault(n, post, "posted", f) for post in ("parent", "card") for n, f in TRANSIENT.items()),
    # The parent: a public channel the bot is not in is joined; a private one cannot be.
    Fault("not_in_channel_public", "parent", "posted", asked_in=PUBLIC_CHANNEL_WITHOUT_BOT),
    Fault("not_in_channel_private", "parent", "cancelled", asked_in=PRIVATE_CHANNEL_WITHOUT_BOT),
    Fault("channel_not_found", "parent", "cancelled", _error("channel_not_found")),
    Fault("is_archived", "parent", "cancelled", _error("is_archived")),
    # The card: an approvals channel that is private without the bot, gone, or archived.
    Fault("not_in_channel", "card", "cancelled", approvals=PRIVATE_CHANNEL_WITHOUT_BOT),
    Fault("channel_not_found", "card", "cancelled", approvals=MISSING_CHANNEL),
    Fault("is_archived", "card", "cancelled", _error("is_archived")),
    # Gives up only on a later attempt, in the worker: the requester is told by DM.
    *(
        Fault("internal_error_then_is_archived", post, "cancelled", LATER)
        for post in ("parent", "card")
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f"{f.post}-{f.name}")
async def test_a_failing_first_post_ends_posted_once_or_cancelled_and_told(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path, fault: Fault
) -> None:
    w = world(dex_sim, fake_slack, tmp_path, fault.approvals)
    if fault.inject is not None:
        fault.inject(fake_slack, fault.asked_in if fault.post == "parent" else fault.approvals)
    async with w.process("serve") as bot:
        url = await w.slash(bot, SAM.user_id, channel=fault.asked_in)
        answer = await w.answer(url)
        outcome = await settled(w)
    assert outcome == fault.expect, f"{answer}\n{w.log_text()}"
    if outcome == "cancelled":
        # Told in plain words: in the answer when it failed at once, else by DM.
        [how] = fake_slack.calls(told(SAM.user_id))
        words = how.args.get("text", "")
        assert "couldn't post" in words and "cancelled" in words, words
        if "_then_" in fault.name:
            assert how.method == "chat.postMessage", how  # a DM: the answer had gone out
    else:
        assert "cancelled" not in answer.lower(), answer
    edits_carry_blocks(w)


@pytest.mark.parametrize("acted", [False, True], ids=["before-slack-acted", "after-slack-acted"])
@pytest.mark.parametrize("post", ["parent", "card"])
async def test_killed_around_a_first_post_a_new_worker_posts_each_once(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path, post: str, acted: bool
) -> None:
    w = world(dex_sim, fake_slack, tmp_path, APPROVALS_CHANNEL)
    channel = SUPPORT_CHANNEL if post == "parent" else APPROVALS_CHANNEL
    # Before: the request row is stored, the post not yet made. After: Slack posted it, the
    # bot died before it heard back (so before writing down where it landed).
    hold = fake_slack.hold("chat.postMessage", before=not acted, where=into(channel))
    async with w.process("serve") as bot:
        await w.slash(bot, SAM.user_id)
        await asyncio.wait_for(hold.reached.wait(), timeout=30)
        await bot.kill()
    [req] = await w.requests()
    assert len(w.posts(card_key(req.id) if post == "card" else parent_key(req.id))) == int(acted)
    async with w.process("worker"):
        assert await settled(w) == "posted"
    edits_carry_blocks(w)


async def test_a_retry_is_not_refused_for_a_request_without_its_card(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """The bot died before the card; the requester asks again as soon as it is back."""
    w = world(dex_sim, fake_slack, tmp_path, APPROVALS_CHANNEL)
    w.poll_seconds = 15.0  # the default: the card row's lease is a minute, as in production
    hold = fake_slack.hold("chat.postMessage", before=True, where=into(APPROVALS_CHANNEL))
    async with w.process("serve") as bot:
        await w.slash(bot, SAM.user_id)
        await asyncio.wait_for(hold.reached.wait(), timeout=30)
        await bot.kill()
    w.poll_seconds = 0.2
    async with w.process("serve") as bot:
        url = await w.slash(bot, SAM.user_id)
        answer = await w.answer(url)
        active = [r for r in await w.requests() if r.state == "pending_approval"]
        assert len(active) == 1, w.log_text()
        [req] = active
        if "already" in answer:
            # A refusal may only point at a request whose card people can already see.
            assert f"request {req.id[:8]}" in answer, answer
            assert w.posts(card_key(req.id)), f"refused for a request with no card:\n{answer}"
        else:
            assert await settled(w, newest=True) == "posted"
            old = [r for r in await w.requests() if r.id != req.id]
            assert [r.state for r in old] == ["cancelled"]  # replaced, not left blocking
    edits_carry_blocks(w)


async def test_two_identical_requests_at_once_give_one_request(
    dex_sim: SimHandle, fake_slack: FakeSlack, tmp_path: Path, db_url: str
) -> None:
    """Sam and Sue ask for the same capture in the same instant, over signed HTTP."""
    w = World(dex_sim, fake_slack, tmp_path, db_url, APPROVALS_CHANNEL)
    async with w.process("serve") as bot:
        urls = await asyncio.gather(w.slash(bot, SAM.user_id), w.slash(bot, SUE.user_id))
        answers = [await w.answer(url) for url in urls]
        [req] = await w.requests()
        assert await settled(w) == "posted"
    refused = [a for a in answers if "already" in a]
    assert len(refused) == 1, answers
    assert f"request {req.id[:8]}" in refused[0], refused  # names the one that stands
    edits_carry_blocks(w)
