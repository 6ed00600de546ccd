"""One shell session: who is typing, where, and what each typed line does.

Every ``/dex`` line and every button press goes to the bot as a signed HTTP request, exactly as
Slack sends it, and is acting as the current person. Bolt acknowledges at once and runs the
listener after, so each step waits (with a deadline) for the listeners it started to finish;
the transcript is then in order. Modals opened for this person are asked as prompts
(``bot.shell.form``); confirm dialogs as y/n.

A step *fails* when the bot answers the acting person with an error (``⚠️ …``) and the line
was not prefixed with ``!``, when a ``!`` line got no error (or, written
``! /dex … => some text``, an error without that text), when a ``wait`` times out or an
``expect-file`` finds nothing, or when the shell cannot do what was typed.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from bot.shell.feed import Feed, Pressable, Transcript
from bot.shell.form import Ask
from bot.shell.render import Names
from bot.shell.runtime import Runtime
from bot.sim import people
from bot.sim.slack import FAKE_SIGNING_SECRET
from bot.sim.slack.apphome import app_home_opened_body, home_click_body, post_event
from bot.sim.slack.model import View
from bot.sim.slack.payloads import block_actions_payload, signed_headers, slash_command_body
from bot.sim.slack.render import Context, message_json

HELP = """\
Type what you would type in Slack:
  /dex capture @ann pcap 5m --reason "VPN drops"   ask for a capture (try /dex help)
  1   or   click 1   or   click Approve              press a button
  /as @max           act as someone else (/who lists people and who may approve)
  /in #dex-approvals  type in another channel
  /home              open dexbot's Home tab (your requests, approvals waiting for you)
  /who   /help   /quit
Scripts (dexbot shell --script FILE) also take:
  wait "some text" [--timeout 60]   wait until that text is shown (in order)
  expect-file *.zip                 an artifact was saved during this session
  ! /dex capture @nobody pcap 5x    a line the bot should answer with an error
  ! /dex stauts @ann => Did you mean   ... with an error containing that text"""
GROUP_NAMES = {people.SUPPORT_GROUP_ID: "support", people.MANAGERS_GROUP_ID: "managers"}
#: In a ``!`` line, what follows this is text the error must contain.
EXPECT = " => "
_HANDLE = re.compile(r"(?<![<\w@])@([a-z][a-z0-9._-]*)")
_CHANNEL = re.compile(r"(?<![<\w#])#([a-z0-9][a-z0-9_-]*)")


@dataclass(frozen=True)
class Step:
    """What one typed line came to."""

    ok: bool = True
    problem: str | None = None
    quit: bool = False
    #: True when the shell itself could not do it (not an answer from the bot).
    local: bool = False


class Problem(Exception):
    """The step cannot go on; the message says why."""


class Session:
    """The person at the terminal, acting through the emulated Slack on the running bot."""

    def __init__(
        self,
        runtime: Runtime,
        transcript: Transcript,
        *,
        answer_timeout: float = 30.0,
        wait_timeout: float = 60.0,
    ) -> None:
        self.runtime = runtime
        self.slack = runtime.slack
        self.transcript = transcript
        self.answer_timeout = answer_timeout
        self.wait_timeout = wait_timeout
        ws = self.slack.workspace
        self.names = Names(
            users={u.id: u.name for u in ws.users.values()},
            channels={c.id: c.name for c in ws.channels.values() if not c.is_im},
            groups=GROUP_NAMES,
        )
        self.feed = Feed(self.slack, transcript, self.names)
        self.person = people.SAM
        self.channel = people.SUPPORT_CHANNEL
        self.form_errors: list[str] = []
        self._http = httpx.AsyncClient(timeout=answer_timeout)
        self._seen_views: set[str] = set()

    async def aclose(self) -> None:
        """Stop drawing events and close the HTTP client."""
        self.feed.close()
        await self._http.aclose()

    @property
    def prompt(self) -> str:
        """``sam in #dex-support> ``."""
        return f"{self.person.handle} in {self.names.channel(self.channel)}> "

    # -- one line --------------------------------------------------------------------------
    async def handle(self, line: str, ask: Ask) -> Step:
        """Do what one typed line says; ``ask`` reads answers (forms, confirms)."""
        raw = line.strip()
        if not raw or raw.startswith("#"):
            return Step()
        expect_error = raw.startswith("!")
        raw = raw.removeprefix("!").strip()
        expected = ""
        if expect_error and EXPECT in raw:
            raw, _, expected = (part.strip() for part in raw.rpartition(EXPECT))
        self.feed.viewer = self.person.user_id
        self.feed.errors.clear()
        self.form_errors.clear()
        try:
            if await self._dispatch(raw, ask):
                return Step(quit=True)
        except Problem as exc:
            return Step(ok=False, problem=str(exc), local=True)
        errors = [*self.feed.errors, *self.form_errors]
        if expect_error and not errors:
            return Step(ok=False, problem="expected an error, but the bot answered without one")
        if expected and not any(expected in " ".join(e.split()) for e in errors):
            return Step(ok=False, problem=f"expected an error with “{expected}”, got: {errors[0]}")
        if errors and not expect_error:
            return Step(ok=False, problem=f"the bot answered with an error: {errors[0]}")
        return Step()

    async def _dispatch(self, raw: str, ask: Ask) -> bool:
        """Run one command; True to end the session."""
        word, _, rest = raw.partition(" ")
        rest = rest.strip()
        if word in ("/quit", "/exit"):
            return True
        if word == "/help":
            self.transcript.say(HELP, matchable=False)
        elif word == "/who":
            self.transcript.say(self.who(), matchable=False)
        elif word == "/as":
            self.act_as(rest)
        elif word == "/in":
            self.move_to(rest)
        elif word == "/dex":
            await self.slash(rest, ask)
        elif word == "/home" and not rest:
            await self.open_home()
        elif word.startswith("/"):
            raise Problem(f"{word} is not a command here: dexbot only has /dex (see /help)")
        elif word.isdigit() and not rest:
            await self.click(word, ask)
        elif word == "click" and rest:
            await self.click(rest, ask)
        elif word == "wait":
            await self.wait(rest)
        elif word == "expect-file" and rest:
            self.expect_file(rest)
        elif word.lower() in ("y", "yes", "n", "no"):
            raise Problem("there is nothing to confirm right now")
        else:
            raise Problem("dexbot only listens to /dex; type /help to see what the shell takes")
        return False

    # -- who is typing, where --------------------------------------------------------------
    def act_as(self, handle: str) -> None:
        """``/as @max``: type as someone else from now on."""
        person = people.by_handle(handle.strip().lstrip("@")) if handle.strip() else None
        if person is None or person.is_bot:
            raise Problem(f"no one called {handle or '(nobody)'!r} here; /who lists the people")
        self.person = person
        self.transcript.say(f"(you are now @{person.handle}: {self.role(person)})", matchable=False)

    def move_to(self, channel: str) -> None:
        """``/in #dex-approvals``: type in another channel from now on."""
        name = channel.strip().lstrip("#")
        found = next((cid for cid, n in self.names.channels.items() if n == name), None)
        if found is None:
            raise Problem(f"no channel #{name}; channels: {self._channels()}")
        self.channel = found
        self.transcript.say(f"(you are now typing in #{name})", matchable=False)

    @staticmethod
    def role(person: people.Person) -> str:
        """What the person may do with /dex, in words."""
        if person.user_id in people.GROUPS[people.MANAGERS_GROUP_ID]:
            return "an approver (managers), who may also ask"
        if person.user_id in people.GROUPS[people.SUPPORT_GROUP_ID]:
            return "a requester (support)"
        return "no /dex access"

    def _channels(self) -> str:
        return " ".join("#" + n for n in self.names.channels.values())

    def who(self) -> str:
        """``/who``: the acting person and the workspace's people, roles and channels."""
        group = people.GROUPS
        req = " ".join("@" + self.names.users[u] for u in group[people.SUPPORT_GROUP_ID])
        appr = " ".join("@" + self.names.users[u] for u in group[people.MANAGERS_GROUP_ID])
        others = [
            f"@{p.handle}"
            for p in people.PEOPLE
            if not p.is_bot and p.user_id not in group[people.SUPPORT_GROUP_ID]
        ]
        return (
            f"You are @{self.person.handle} ({self.person.real_name}), {self.role(self.person)}, "
            f"typing in {self.names.channel(self.channel)}.\n"
            f"May ask (support): {req}\nMay approve (managers): {appr}\n"
            f"Everyone else (their WARP devices are the targets): {' '.join(others)}\n"
            f"Channels: {self._channels()} (dexbot is in #dex-support and #dex-approvals)"
        )

    def mentions(self, text: str) -> str:
        """``@ann`` -> ``<@U0ANN0001|ann>``, ``#name`` -> ``<#C…|name>``, as Slack escapes them."""

        def user(m: re.Match[str]) -> str:
            p = people.by_handle(m.group(1))
            return f"<@{p.user_id}|{p.handle}>" if p else m.group(0)

        def channel(m: re.Match[str]) -> str:
            cid = next((c for c, n in self.names.channels.items() if n == m.group(1)), None)
            return f"<#{cid}|{m.group(1)}>" if cid else m.group(0)

        return _CHANNEL.sub(channel, _HANDLE.sub(user, text))

    # -- talking to the bot ----------------------------------------------------------------
    async def post(self, body: bytes) -> httpx.Response:
        """POST a signed body to the bot's Slack endpoint and wait for its listeners."""
        resp = await self._http.post(
            self.runtime.bot_url, content=body, headers=signed_headers(FAKE_SIGNING_SECRET, body)
        )
        if resp.status_code != 200:
            raise Problem(f"the bot answered HTTP {resp.status_code}: {resp.text[:200]}")
        await self.settle()
        return resp

    async def settle(self) -> None:
        """Wait until the bot's listeners have finished (they count themselves in flight)."""
        try:
            await self.runtime.dexbot.services.activity.idle(self.answer_timeout)
        except TimeoutError:
            raise Problem(
                f"the bot did not finish answering within {self.answer_timeout:g} s"
            ) from None

    async def slash(self, text: str, ask: Ask) -> None:
        """``/dex …`` as the current person in the current channel."""
        uid = self.person.user_id
        url = self.slack.new_response_url(channel=self.channel, user=uid)
        trigger = self.slack.new_trigger_id(user=uid)
        body = slash_command_body(self.mentions(text), uid, self.channel, url, trigger)
        resp = await self.post(body)
        if resp.content:  # an ack with a body is shown to the person, like Slack does
            self.transcript.say(f"dexbot (only you can see this): {resp.text[:500]}")
        await self.forms([trigger], ask)

    async def open_home(self) -> None:
        """``/home``: open the bot's Home tab (Slack sends ``app_home_opened``) and draw it."""
        uid = self.person.user_id
        body = app_home_opened_body(self.slack.workspace, uid)
        resp = await post_event(self._http, self.runtime.bot_url, body, FAKE_SIGNING_SECRET)
        if resp.status_code != 200:
            raise Problem(f"the bot answered HTTP {resp.status_code}: {resp.text[:200]}")
        await self.settle()
        if not self.feed.draw_home(uid):
            raise Problem("the bot published no Home for you")

    async def click(self, ref: str, ask: Ask) -> None:
        """Press a button by number or label, answering its confirm dialog first."""
        pressable = self.feed.find_button(ref)
        if pressable is None:
            raise Problem(f"there is no button {ref!r}")
        if not ref.isdigit() and len(same := self.feed.labelled(ref)) > 1:
            # Say which card before anything is sent; the confirm (if any) can still back out.
            others = ", ".join(f"[{p.button.number}]" for p in same[1:])
            self.transcript.say(
                f"  ({len(same)} cards have {pressable.button.label}: pressing"
                f" [{pressable.button.number}] on {self.feed.card_label(pressable)}, the latest;"
                f" type {others} for another)",
                matchable=False,
            )
        if not self.feed.still_there(pressable):
            raise Problem(f"button [{pressable.button.number}] is gone: its message changed")
        b = pressable.button
        if b.confirm is not None:
            c = b.confirm
            self.transcript.say([f"  {c.title}", f"  {c.text}"], matchable=False)
            reply = await ask(f"  {c.ok}? [y/n] > ")
            if (reply or "").strip().lower() not in ("y", "yes"):
                self.transcript.say("  Cancelled: nothing was pressed.", matchable=False)
                return
        uid = self.person.user_id
        trigger = self.slack.new_trigger_id(user=uid)
        await self.post(self._click_body(pressable, trigger))
        await self.forms([trigger], ask)

    def _click_body(self, p: Pressable, trigger: str) -> bytes:
        uid, b = self.person.user_id, p.button
        if p.home is not None:
            if p.home != uid:
                raise Problem(f"that button is on {self.names.user(p.home)}'s Home, not yours")
            return home_click_body(self.slack.workspace, uid, b.action_id, b.value or "", trigger)
        channel = p.channel or ""
        url = self.slack.new_response_url(channel=channel, user=uid, message_ts=p.message_ts)
        msg = self.slack.workspace.message(channel, p.message_ts)
        echoed = (
            message_json(Context(self.slack.workspace, self.slack.base_url), msg) if msg else {}
        )
        payload = block_actions_payload(
            b.action_id, b.value, uid, channel, p.message_ts, url, trigger,
            message=echoed, block_id=b.block_id or "actions", thread_ts=p.thread_ts,
            is_ephemeral=p.ephemeral is not None,
        )  # fmt: skip
        action = payload["actions"][0]
        action["text"]["text"] = b.label
        if b.style:
            action["style"] = b.style
        return urlencode({"payload": json.dumps(payload)}).encode()

    async def forms(self, triggers: list[str], ask: Ask) -> None:
        """Ask every modal the bot opened with these triggers (and any it opens from them)."""
        from bot.shell.modal import FormRun

        while view := self._new_view(triggers):
            self._seen_views.add(view.id)
            run = FormRun(self, view)
            await run.run(ask)
            triggers = [*triggers, *run.triggers]
            if run.leftover is not None:  # the person left the form for a new /dex line
                self.transcript.echo(f"(running {run.leftover})")
                await self.slash(run.leftover.removeprefix("/dex").strip(), ask)

    def _new_view(self, triggers: list[str]) -> View | None:
        views = self.slack.workspace.views.values()
        return next(
            (v for v in views if v.trigger_id in triggers and v.id not in self._seen_views), None
        )

    # -- script checks ---------------------------------------------------------------------
    async def wait(self, rest: str) -> None:
        """``wait "text" [--timeout N]``: until the text is shown (after the last match)."""
        try:
            words = shlex.split(rest)
        except ValueError as exc:
            raise Problem(f"wait: {exc}") from None
        timeout = self.wait_timeout
        if len(words) == 3 and words[1] == "--timeout":
            try:
                timeout = float(words[2])
            except ValueError:
                raise Problem(f"wait: --timeout takes seconds, not {words[2]!r}") from None
            words = words[:1]
        if len(words) != 1 or not words[0]:
            raise Problem('wait takes one quoted text: wait "some text" [--timeout 60]')
        started = time.monotonic()
        if not await self.transcript.wait_for(words[0], timeout):
            raise Problem(f"waited {timeout:g} s for “{words[0]}”; it was not shown")
        waited = time.monotonic() - started
        self.transcript.echo(f"(saw “{words[0]}” after {waited:.1f} s)")

    def expect_file(self, pattern: str) -> None:
        """``expect-file *.zip``: an artifact matching the pattern was saved this session."""
        pattern = pattern.strip().strip("\"'")
        for f in self.slack.workspace.files.values():
            if f.path is not None and f.path.exists():
                names = (f.filename, f.path.name, str(f.path))
                if any(fnmatch.fnmatch(n, pattern) for n in names):
                    self.transcript.echo(f"(found {f.path})")
                    return
        raise Problem(f"no saved file matches {pattern}")
