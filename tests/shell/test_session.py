"""The shell as a person (or a script) uses it: the real bot over loopback HTTP, behind the
emulated Slack, in front of the DEX simulator. Every wait has a deadline."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from pathlib import Path

import pytest

from bot.shell import Runtime, ShellOptions, run_session
from bot.shell.render import mrkdwn
from bot.sim.people import APPROVALS_CHANNEL, BOB, SAM
from tests.plugins.bot import BotHarness
from tests.shell.conftest import WAIT_S, Shell, options_in

#: The script docs/shell.md shows: request, the device picked in the form, approval, the zip.
CAPTURE_SCRIPT = Path(__file__).with_name("capture.dex")
FULL_CAPTURE = CAPTURE_SCRIPT.read_text(encoding="utf-8").splitlines()


async def test_request_approve_and_receive_the_capture(tmp_path: Path) -> None:
    out = io.StringIO()
    code = await run_session(options_in(tmp_path), FULL_CAPTURE, out, wait_timeout=WAIT_S)
    shown = out.getvalue()
    assert code == 0, shown
    assert "[1] Approve  [2] Deny" in shown
    assert "Approve this packet capture?" in shown and "Approve? [y/n] > y" in shown
    assert "dexbot (only you can see this):" in shown
    assert "✅ Approved by @max" in shown
    assert "    ↳ dexbot: ⬆️ ann-macbook: uploading the capture" in shown  # in the thread
    assert "(its buttons are gone)" in shown
    [saved] = list((tmp_path / "artifacts").glob("*pcap-*.zip"))
    assert f"saved to {saved}" in shown
    with zipfile.ZipFile(saved) as zf:
        assert zf.testzip() is None and zf.namelist()


@pytest.mark.parametrize(
    "text", ["capture @nobody pcap 5x", "status", 'capture @heidi pcap 5m --reason "no device"']
)
async def test_bad_input_gets_the_same_answer_as_in_slack(
    bot: BotHarness, shell: Shell, text: str
) -> None:
    # What Slack sends for the typed line (known @handles escaped as mentions).
    in_slack = await bot.slash(shell.session.mentions(text), user=SAM)
    assert in_slack is not None and in_slack.text.startswith(":warning:")
    step = await shell.type(f"! /dex {text}")
    assert step.ok, step.problem
    [answer] = shell.runtime.slack.ephemerals(SAM.user_id)
    assert (answer.text, answer.blocks) == (in_slack.text, in_slack.blocks)
    assert mrkdwn(in_slack.text, shell.session.names) in shell.output


async def test_an_error_fails_a_step_unless_the_line_expects_one(shell: Shell) -> None:
    step = await shell.type("/dex capture @nobody pcap 5x")
    assert not step.ok and "couldn't find a Slack user" in (step.problem or "")
    step = await shell.type("! /dex quota")
    assert not step.ok and step.problem == "expected an error, but the bot answered without one"


async def test_a_script_stops_with_non_zero_when_a_wait_never_matches(tmp_path: Path) -> None:
    out = io.StringIO()
    lines = ["/dex quota", 'wait "left until"', 'wait "this is never shown" --timeout 0.3', "/who"]
    code = await run_session(options_in(tmp_path), lines, out)
    assert code == 1
    assert "shell: line 3 failed: waited 0.3 s for “this is never shown”" in out.getvalue()
    assert "You are @sam" not in out.getvalue()  # the script stopped there


async def test_a_missing_file_fails_the_script(tmp_path: Path) -> None:
    out = io.StringIO()
    assert await run_session(options_in(tmp_path), ["expect-file *.zip"], out) == 1
    assert "no saved file matches *.zip" in out.getvalue()


async def test_form_errors_are_shown_inline_and_asked_again(shell: Shell) -> None:
    # The reason is missing, so the form opens pre-filled; the length is then typed wrong.
    answers = ["", "", "", "12x", "/submit", "to check the uploads", "5m"]
    step = await shell.type("! /dex capture @bob pcap --device bob-thinkpad", answers)
    assert step.ok, step.problem  # an error was expected, and the form showed one
    shown = shell.output
    assert "Reason (required) > to check the uploads" in shown  # required: asked before sending
    assert "the form was not accepted" in shown
    assert 'Capture length: I can\'t read "12x"' in shown
    card = shell.runtime.slack.messages(APPROVALS_CHANNEL)[-1]
    assert "to check the uploads" in str(card.blocks)


async def test_choosing_a_person_in_the_form_lists_their_devices(shell: Shell) -> None:
    step = await shell.type("/dex", ["@bob", "", "1", "/submit", "slow uploads"])
    assert step.ok, step.problem
    assert "│ (the form changed)" in shell.output
    assert "1) bob-thinkpad · linux" in shell.output
    card = shell.runtime.slack.messages(APPROVALS_CHANNEL)[-1]
    assert BOB.user_id in str(card.blocks) and "bob-thinkpad" in str(card.blocks)


async def test_deny_with_a_reason_then_the_buttons_are_gone(shell: Shell) -> None:
    step = await shell.type('/dex capture @bob pcap 5m --reason "slow uploads"')
    assert step.ok, step.problem
    assert (await shell.type("/as @mia")).ok
    assert (await shell.type("click Deny", ["Not now"])).ok  # asked once: the form
    assert "⛔ Denied by @mia: Not now" in shell.output
    step = await shell.type("1")
    assert not step.ok and step.local and "is gone" in (step.problem or "")


async def test_a_confirm_answered_no_presses_nothing(shell: Shell) -> None:
    await shell.type('/dex capture @bob pcap 5m --reason "slow uploads"')
    await shell.type("/as @max")
    assert (await shell.type("1", ["n"])).ok
    assert "  Cancelled: nothing was pressed." in shell.output
    assert [b.label for b in _buttons(shell)] == ["Approve", "Deny"]  # still there


def _buttons(shell: Shell) -> list:
    feed = shell.session.feed
    return [p.button for p in feed.buttons.values() if feed.still_there(p)]


async def test_who_and_as(shell: Shell) -> None:
    assert shell.session.prompt == "sam in #dex-support> "
    step = await shell.type("/as @nobody")
    assert not step.ok and step.local
    assert (await shell.type("/as max")).ok
    assert (await shell.type("/in #dex-approvals")).ok
    assert shell.session.prompt == "max in #dex-approvals> "
    assert (await shell.type("/who")).ok
    assert "You are @max (Max Manager), an approver" in shell.output
    assert "May approve (managers): @max @mia" in shell.output


async def test_handles_and_channels_become_mentions_as_slack_escapes_them(shell: Shell) -> None:
    text = shell.session.mentions('capture @ann pcap --reason "see #dex-support, @nobody"')
    assert text == 'capture <@U0ANN0001|ann> pcap --reason "see <#C0SUPPORT|dex-support>, @nobody"'


async def test_a_person_at_the_console(tmp_path: Path) -> None:
    out = io.StringIO()
    stdin = io.StringIO("/who\n/dex quota\n/quit\n/who\n")
    assert await run_session(options_in(tmp_path), None, out, stdin=stdin) == 0
    shown = out.getvalue()
    assert "Type /help" in shown and "left until" in shown
    assert shown.count("You are @sam (Sam Support)") == 1  # nothing after /quit


async def test_real_cloudflare_credentials_are_announced(tmp_path: Path) -> None:
    env = {"CLOUDFLARE_API_TOKEN": "cf-token-never-shown", "CLOUDFLARE_ACCOUNT_ID": "ab" * 16}
    options = ShellOptions(db=tmp_path / "db", artifacts=tmp_path / "a", environ=env)
    runtime = await Runtime(options).start()
    try:
        assert runtime.real_cloudflare
        banner = runtime.banner()
        assert "REAL Cloudflare API" in banner and "ab" * 16 in banner
        assert "cf-token-never-shown" not in banner
    finally:
        await runtime.stop()


async def test_an_approver_who_takes_their_time_still_gets_the_capture(shell: Shell) -> None:
    # The bot keeps the simulator's time: its poller looks for a command around when it sent
    # it, so a simulated clock running ahead of the bot's would hide the command.
    await shell.type('/dex capture @bob pcap 5m --reason "slow uploads"')
    assert shell.runtime.sim is not None
    shell.runtime.sim.clock.advance(10 * 60)  # ten minutes pass before anyone approves
    await shell.type("/as @max")
    assert (await shell.type("click Approve", ["y"])).ok
    step = await shell.type('wait "saved to"')
    assert step.ok, shell.output


async def test_each_session_starts_on_an_empty_database(tmp_path: Path) -> None:
    # The first session leaves a request in flight; Slack and the simulator start empty next
    # time, so the next session must not find it blocking Bob's laptop.
    first = ['/dex capture @bob pcap 5m --reason "first"', "/as @max", "1", "y"]
    assert await run_session(options_in(tmp_path), first, io.StringIO()) == 0
    out = io.StringIO()
    again = ['/dex capture @bob pcap 5m --reason "again"', 'wait "waiting for approval"']
    assert await run_session(options_in(tmp_path), again, out) == 0, out.getvalue()
    assert "new for this session" in out.getvalue()


async def test_a_database_from_a_real_workspace_is_never_touched(tmp_path: Path) -> None:
    real = tmp_path / "shell.db"  # where options_in puts the shell's database
    with sqlite3.connect(real) as db:
        db.execute("CREATE TABLE capture_requests (id TEXT, team_id TEXT)")
        db.execute("INSERT INTO capture_requests VALUES ('r1', 'T0REALTEAM')")
    before = real.read_bytes()
    out = io.StringIO()
    assert await run_session(options_in(tmp_path), ["/dex quota"], out) == 2
    assert "holds requests from a real workspace" in out.getvalue()
    assert real.read_bytes() == before


async def test_home_shows_the_tab_and_approves_from_it(shell: Shell) -> None:
    step = await shell.type('/dex capture @ann pcap 5m --device ann-macbook --reason "VPN"')
    assert step.ok, step.problem
    assert (await shell.type("/home")).ok
    assert "[Home of @sam]" in shell.output and "== Your recent requests ==" in shell.output
    assert "Waiting for approval" in shell.output
    assert (await shell.type("/as @max")).ok
    step = await shell.type("/home")
    assert step.ok, step.problem
    assert "[Home of @max]" in shell.output and "== Waiting for your approval ==" in shell.output
    # The latest button called Approve is the Home's (drawn after the card's).
    step = await shell.type("click Approve", answers=["y"])
    assert step.ok, step.problem
    assert "✅ Approved by @max" in shell.output
