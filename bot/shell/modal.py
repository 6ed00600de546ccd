"""Driving one modal from the terminal: ask its fields (``bot.shell.form``), send the people
picker's ``block_actions`` so the bot can update the view, submit it as ``view_submission``,
and show ``response_action: errors`` under the fields before asking those again."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from bot.shell.form import (
    CANCEL,
    INTERRUPT,
    KEEP,
    SUBMIT,
    Ask,
    BadAnswer,
    Field,
    answer,
    fields_of,
    intro,
    is_dex_line,
    prompt,
    question,
    state_values,
)
from bot.sim import people
from bot.sim.slack.model import APP_ID, TEAM_DOMAIN, View
from bot.sim.slack.payloads import VERIFICATION_TOKEN, user_name, view_submission_body
from bot.sim.slack.render import view_json

if TYPE_CHECKING:
    from bot.shell.session import Session

REQUIRED = "Please fill out this field."


class FormRun:
    """One modal, asked field by field until it is sent or closed."""

    def __init__(self, session: Session, view: View) -> None:
        self.session = session
        self.view = view
        self.names = session.names
        #: trigger_ids handed to the bot from this modal (it may open another with them).
        self.triggers: list[str] = []
        #: A ``/dex …`` line typed in the form, which the person chose to leave it for.
        self.leftover: str | None = None

    @property
    def body(self) -> dict[str, Any]:
        """The view as it is now in the emulated Slack."""
        return self.session.slack.workspace.views[self.view.id].view

    def say(self, lines: str | list[str]) -> None:
        """Print form text (not matched by ``wait``: it is the shell talking)."""
        self.session.transcript.say(lines, matchable=False)

    async def run(self, ask: Ask) -> None:
        """Ask, submit, re-ask on errors; returns when the modal is sent or closed."""
        self.say(intro(self.body, self.names))
        fields = fields_of(self.body, self.names)
        queue = [f.block_id for f in fields]
        errors: dict[str, str] = {}
        while True:
            fields, sent = await self._ask_all(fields, queue, errors, ask)
            if sent is None:
                return
            missing = [f.block_id for f in fields if not f.optional and f.empty]
            if missing:
                errors = dict.fromkeys(missing, REQUIRED)
                queue = missing
                continue
            errors = await self._submit(fields)
            if not errors:
                return
            self.session.form_errors.extend(errors.values())
            known = [f.block_id for f in fields if f.block_id in errors]
            queue = known or [f.block_id for f in fields]
            errors = {}  # shown once, above; the fields are asked again below

    async def _ask_all(
        self, fields: list[Field], queue: list[str], errors: dict[str, str], ask: Ask
    ) -> tuple[list[Field], bool | None]:
        """Ask the queued fields; (fields, True) to submit, (fields, None) when closed."""
        queue = list(queue)
        while queue:
            f = next((x for x in fields if x.block_id == queue[0]), None)
            queue.pop(0)
            if f is None:
                continue
            error = errors.get(f.block_id)
            while True:
                self.say(question(f, self.names, error))
                reply = await ask(prompt(f, self.names))
                if reply is None:
                    self.say("└ form closed: the input ended")
                    self.session.form_errors.append("the input ended inside a form")
                    return fields, None
                text = reply.strip()
                if reply == INTERRUPT:
                    self.say("└ form closed (Ctrl-C); nothing was sent")
                    return fields, None
                if text == CANCEL:
                    self.say("└ form closed")
                    return fields, None
                if is_dex_line(text):
                    if await self._leave_for(text, ask):
                        return fields, None
                    continue
                if text == SUBMIT:
                    return fields, True
                if text == KEEP:
                    break
                try:
                    new = answer(f, text, self.names)
                except BadAnswer as exc:
                    error = str(exc)
                    continue
                changed, f.state = new != f.state, new
                if changed and f.dispatch:
                    fields, queue = await self._dispatch(f, fields, queue)
                break
        return fields, True

    async def _leave_for(self, line: str, ask: Ask) -> bool:
        """Ask whether to drop the form for ``line``; True (and ``leftover`` set) if so."""
        self.say(f"│ “{line}” is a new command, not an answer for this form.")
        reply = await ask("  Leave the form (nothing is sent) and run it? [y/n] > ")
        if (reply or "").strip().lower() in ("y", "yes"):
            self.say("└ form closed")
            self.leftover = line
            return True
        self.say("│ (still in the form)")
        return False

    async def _dispatch(
        self, f: Field, fields: list[Field], queue: list[str]
    ) -> tuple[list[Field], list[str]]:
        """Send the field's ``block_actions``; the bot may update the view (new fields)."""
        session = self.session
        before = self.body
        await session.post(self._action_body(f, fields))
        if self.body is before:
            return fields, queue
        updated = fields_of(self.body, self.names, keep={x.block_id: x for x in fields})
        order = [x.block_id for x in updated]
        after = order[order.index(f.block_id) + 1 :] if f.block_id in order else order
        # Fields the update added after this one are asked too, in the view's order.
        asked = set(queue) | {
            x.block_id for x in updated if x.block_id not in {y.block_id for y in fields}
        }
        self.say(["│ (the form changed)", *intro(self.body, self.names)[1:]])
        return updated, [b for b in after if b in asked]

    def _user(self) -> dict[str, str]:
        uid = self.session.person.user_id
        name = user_name(uid)
        return {"id": uid, "username": name, "name": name, "team_id": people.TEAM_ID}

    def _view_json(self, fields: list[Field]) -> dict[str, Any]:
        ws = self.session.slack.workspace
        shown = view_json(ws, ws.views[self.view.id])
        shown["state"] = {"values": state_values(fields)}
        return shown

    def _action_body(self, f: Field, fields: list[Field]) -> bytes:
        trigger = self.session.slack.new_trigger_id(user=self.session.person.user_id)
        self.triggers.append(trigger)
        action = {"type": f.kind, "action_id": f.action_id, "block_id": f.block_id,
                  "action_ts": f"{time.time():.6f}", **{k: v for k, v in f.state.items()
                                                        if k != "type"}}  # fmt: skip
        payload = {
            "type": "block_actions",
            "user": self._user(),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": self.view.id},
            "trigger_id": trigger,
            "team": {"id": people.TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": self._view_json(fields),
            "actions": [action],
        }
        return urlencode({"payload": json.dumps(payload)}).encode()

    async def _submit(self, fields: list[Field]) -> dict[str, str]:
        """Send the modal; the errors the bot answered with, keyed by block id (none: sent)."""
        session = self.session
        trigger = session.slack.new_trigger_id(user=session.person.user_id)
        self.triggers.append(trigger)
        view = self._view_json(fields)
        body = view_submission_body(
            str(view.get("callback_id") or ""),
            state_values(fields),
            session.person.user_id,
            str(view.get("private_metadata") or ""),
            self.view.id,
            trigger_id=trigger,
            blocks=view.get("blocks"),
            title=str((view.get("title") or {}).get("text") or "dexbot"),
            view_hash=str(view.get("hash") or ""),
        )
        resp = await session.post(body)
        answer_body = resp.json() if resp.content else {}
        refused = await session.slack.check_view_answer(self.view.id, answer_body)
        if refused is not None:  # Slack would show "We had some trouble connecting"
            self.session.form_errors.append(f"Slack refused the bot's answer: {refused}")
            self.say(f"└ Slack refused the bot's answer to the form ({refused})")
            return {}
        if answer_body.get("response_action") == "errors":
            errors = {str(k): str(v) for k, v in (answer_body.get("errors") or {}).items()}
            labels = {f.block_id: f.label for f in fields}
            self.say(["│ the form was not accepted:"])
            self.session.transcript.say(
                [f"│   ⚠️ {labels.get(k, k)}: {v}" for k, v in errors.items()]
            )
            return errors
        self.say(f"└ sent “{(view.get('submit') or {}).get('text') or 'Submit'}”")
        return {}
