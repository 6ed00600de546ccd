"""Regenerate docs/cards.md: every message and card dexbot posts, as `dexbot shell` draws it,
each with a Block Kit Builder link holding its JSON.

    python docs/cards.py            # writes docs/cards.md

It runs a real shell session (the DEX simulator, the emulated Slack, SQLite in a temporary
directory): a packet capture approved and finished, a speed test denied, a WARP diagnostic
left to expire, and the request form. Each message is taken as the bot sent it to Slack
(``chat.postMessage`` / ``chat.update`` / ``views.open``), so the page cannot drift from the code.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.shell.feed import Transcript  # noqa: E402
from bot.shell.render import Names, render_message  # noqa: E402
from bot.shell.runtime import Runtime, ShellOptions  # noqa: E402
from bot.shell.script import ScriptLines, run_lines  # noqa: E402
from bot.shell.session import Session  # noqa: E402
from bot.sim.people import APPROVALS_CHANNEL  # noqa: E402
from bot.sim.slack.recorder import Call  # noqa: E402

OUT = ROOT / "docs" / "cards.md"
BUILDER = "https://app.slack.com/block-kit-builder/#"

APPROVED = """/dex capture @ann pcap 2m --device ann-macbook --reason "VPN drops"
wait "waiting for approval"
/as @max
click Approve
y
wait "saved to"
""".splitlines()
DENIED = """/as @sam
/dex speedtest @bob --reason "slow uploads"
wait "waiting for approval"
/as @max
click Deny
Not during the board meeting
wait "Denied by"
""".splitlines()
EXPIRING = """/as @sam
/dex diag @bob --reason "DNS fails"
wait "waiting for approval"
""".splitlines()
EXPIRED = ['wait "expired"']
FORM = ["/dex", "/cancel"]


def builder_link(blocks: list[Any], *, modal: dict[str, Any] | None = None) -> str:
    """A Block Kit Builder URL showing ``blocks`` (or the whole ``modal`` view)."""
    doc = modal if modal is not None else {"blocks": blocks}
    return BUILDER + quote(json.dumps(doc, separators=(",", ":"), ensure_ascii=False), safe="")


async def record() -> tuple[list[Call], Names]:
    """Run the session; the Slack calls the bot made, and how the shell names ids."""
    tmp = Path(tempfile.mkdtemp(prefix="dexbot-cards-"))
    runtime = Runtime(ShellOptions(db=tmp / "shell.db", artifacts=tmp / "artifacts", speed=20))
    await runtime.start()
    transcript = Transcript(io.StringIO())
    session = Session(runtime, transcript, wait_timeout=60)
    try:
        for lines in (APPROVED, DENIED, EXPIRING):
            assert await run_lines(session, ScriptLines(lines, transcript)) == 0, lines
        assert runtime.sim is not None
        runtime.sim.clock.advance(runtime.settings.dex_approval_ttl_seconds + 60)
        for lines in (EXPIRED, FORM):
            assert await run_lines(session, ScriptLines(lines, transcript)) == 0, lines
        calls = runtime.slack.calls()
    finally:
        await session.aclose()
        await runtime.stop()
    return calls, session.names


def section(title: str, drawn: list[str], link: str, note: str = "") -> list[str]:
    """One message: a heading, how the shell draws it, and its Builder link."""
    out = [f"### {title}", ""]
    if note:
        out += [note, ""]
    out += ["```text", *drawn, "```", "", f"[Open in Block Kit Builder]({link})", ""]
    return out


def _headline(kind: str, lines: list[str]) -> str:
    """What tells this message apart: a card's header, a request message's status line."""
    if kind == "Request message":
        after = [i for i, line in enumerate(lines) if line.startswith("Reason:")]
        if after and after[0] + 1 < len(lines):
            return f"{lines[0]} · {lines[after[0] + 1]}"
    head = lines[0].strip().removeprefix("== ").removesuffix(" ==")
    return head if len(head) <= 80 else head[:79] + "…"


def build(calls: list[Call], names: Names) -> str:
    """The page's markdown from the recorded Slack calls."""
    parts = [
        "# What dexbot's messages look like",
        "",
        "Each message and card as `dexbot shell` draws it, from one real session (regenerate",
        "with `python docs/cards.py`), and a link that opens its Block Kit JSON in Slack's",
        "Block Kit Builder (sign in to Slack to see it rendered).",
        "",
    ]
    card_ts: set[str] = set()
    seen: set[str] = set()
    counts: dict[str, int] = {}
    for call in calls:
        method, args = call.method, call.args
        if method == "views.open" and args.get("view", {}).get("callback_id") == "dex.request":
            view = args["view"]
            lines = render_message(None, view["blocks"], names).lines
            title = "The request form (`/dex` alone)"
            if title not in seen:
                seen.add(title)
                parts += section(title, lines, builder_link([], modal=view))
            continue
        if method == "files.completeUploadExternal" and args.get("initial_comment"):
            comment = str(args["initial_comment"])
            lines = render_message(comment, None, names).lines
            parts += section(
                "Artifact upload: the file's comment",
                lines,
                builder_link([{"type": "section", "text": {"type": "mrkdwn", "text": comment}}]),
                "Posted with the file (plain text, not blocks; the link shows it as a section).",
            )
            continue
        if method not in ("chat.postMessage", "chat.update") or not args.get("blocks"):
            continue
        blocks, text = list(args["blocks"]), str(args.get("text") or "")
        channel, thread = args.get("channel"), args.get("thread_ts")
        resp_ts = (call.response or {}).get("ts")
        if channel == APPROVALS_CHANNEL and method == "chat.postMessage":
            card_ts.add(str(resp_ts))
        if thread:
            kind = "Thread note"
        elif channel == APPROVALS_CHANNEL or args.get("ts") in card_ts:
            kind = "Approval card"
        else:
            kind = "Request message"
        lines = render_message(text, blocks, names).lines
        title = f"{kind}: {_headline(kind, lines)}"
        if title in seen or counts.get(kind, 0) >= 8:
            continue
        seen.add(title)
        counts[kind] = counts.get(kind, 0) + 1
        parts += section(title, lines, builder_link(blocks))
    return "\n".join(parts).rstrip() + "\n"


def main() -> None:
    """Run the session and write docs/cards.md."""
    OUT.write_text(build(*asyncio.run(record())))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
