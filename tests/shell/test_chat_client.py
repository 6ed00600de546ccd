"""The shell behaves like a chat client (issue 11 item 8): Ctrl-C closes a form, not the
shell; a ``/dex`` line typed in a form asks before leaving it; pressing a label several cards
share says which card; thread labels carry the request id; ``n`` at a confirm says Cancelled;
Deny asks once."""

from __future__ import annotations

import asyncio
import os
import re

from bot.shell.script import ConsoleLines
from bot.sim.people import SUPPORT_CHANNEL
from tests.shell.conftest import WAIT_S, Shell

REQUEST = re.compile(r"Request `([0-9a-f]+)` posted")


def _request_ids(shell: Shell) -> list[str]:
    return REQUEST.findall(shell.output)


async def test_ctrl_c_in_a_form_closes_the_form_and_keeps_the_shell(shell: Shell) -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "r") as stdin, os.fdopen(write_fd, "w") as typing:
        source = ConsoleLines(shell.session.transcript, stdin=stdin)
        asked = asyncio.Event()

        async def ask(prompt: str) -> str | None:
            asked.set()  # the form (or a confirm) is waiting for the person now
            return await source.ask(prompt)

        step = asyncio.create_task(shell.session.handle("/dex", ask))
        await asyncio.wait_for(asked.wait(), WAIT_S)
        assert source.interrupt()  # what SIGINT does at the terminal (bot.shell._route_ctrl_c)
        assert (await asyncio.wait_for(step, WAIT_S)).ok
        assert "└ form closed (Ctrl-C); nothing was sent" in shell.output
        # The shell is still there, and the line typed next is not lost to the old read.
        typing.write("/dex quota\n")
        typing.flush()
        line = await asyncio.wait_for(source.next_command(shell.session.prompt), WAIT_S)
    assert line == "/dex quota"
    assert not shell.runtime.slack.messages(SUPPORT_CHANNEL)  # nothing was requested


async def test_a_dex_line_in_a_form_asks_before_leaving_it(shell: Shell) -> None:
    step = await shell.type("/dex", ["/dex quota", "n", "/cancel"])
    assert step.ok, step.problem
    assert "“/dex quota” is a new command, not an answer for this form." in shell.output
    assert "│ (still in the form)" in shell.output
    assert "left until" not in shell.output  # not read as a person's name, not run
    step = await shell.type("/dex", ["/dex quota", "y"])
    assert step.ok, step.problem
    assert "(running /dex quota)" in shell.output and "left until" in shell.output


async def test_several_cards_with_the_label_name_the_one_pressed(shell: Shell) -> None:
    await shell.type('/dex capture @bob pcap 5m --reason "slow uploads"')
    await shell.type('/dex pcap @ann 5m --device ann-macbook --reason "VPN drops"')
    _, latest = _request_ids(shell)
    assert (await shell.type("/as @max")).ok
    assert (await shell.type("click Approve", ["n"])).ok
    assert (
        f"(2 cards have Approve: pressing [3] on request {latest} “== Approval needed:"
        in shell.output
    )
    assert "the latest; type [1] for another)" in shell.output
    assert "  Cancelled: nothing was pressed." in shell.output


async def test_threads_are_labelled_with_their_request_and_deny_asks_once(shell: Shell) -> None:
    await shell.type('/dex capture @bob pcap 5m --reason "slow uploads"')
    await shell.type('/dex pcap @ann 5m --device ann-macbook --reason "VPN drops"')
    first, latest = _request_ids(shell)
    assert (await shell.type("/as @max")).ok
    assert (await shell.type("2", ["first"])).ok  # Deny on the first card: only its form asks
    assert (await shell.type("4", ["second"])).ok
    out = shell.output
    assert "Deny? [y/n]" not in out
    assert f"thread of “🔍 Packet capture, 5 min” (request {first}):" in out
    assert f"thread of “🔍 Packet capture, 5 min” (request {latest}):" in out
