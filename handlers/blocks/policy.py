"""Words for the approval policy: ``/dex presets``, and the card's lines about approvals so far,
the rule that applied and why it did not approve by itself. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock

from bot.domain.audit import AuditStep
from bot.domain.lifecycle import Note
from bot.domain.model import CaptureRequest
from bot.domain.rules import RULE_ACTOR_PREFIX, Preset
from handlers.blocks.common import (
    SECTION_TEXT_MAX,
    Rendered,
    check_limits,
    format_utc,
    outside,
    user_ref,
)
from handlers.ids import ActionId


def render_presets(presets: Sequence[Preset]) -> Rendered:
    """``/dex presets``: each preset's name, what it runs and its description."""
    if not presets:
        text = 'No presets are configured. Ask with `/dex pcap @person 5m --reason "…"`.'
        return check_limits(Rendered(text=text, blocks=[_section(text)]))
    lines = ["*Presets* — use one with `/dex capture @person NAME`:"]
    for p in presets:
        what = outside(" ".join(p.words()), 120)
        about = f" — {outside(p.description, 200)}" if p.description else ""
        lines.append(f"• `{outside(p.name, 40)}`: `{what}`{about}")
    text = "\n".join(lines)[:SECTION_TEXT_MAX]
    return check_limits(Rendered(text=text, blocks=[_section(text)]))


def render_audit_usage() -> Rendered:
    """How to ask for a request's audit trail."""
    text = "Give the request's id: `/dex audit 1a2b3c4d` (it is on the card and in the thread)."
    return check_limits(Rendered(text=text, blocks=[_section(text)]))


def render_audit(steps: Sequence[AuditStep], *, now: datetime) -> Rendered:
    """``/dex audit REQUEST``: every step with its actor, rule and time (and the quota
    forecast left after each decision)."""
    if not steps:
        return render_audit_usage()
    rid = steps[0].request_id or ""
    lines = [f"*Audit of request {outside(rid[:8], 8)}*"]
    for st in steps:
        who = actor_ref(st.actor) or "someone"
        line = f"• {format_utc(st.at, now)} — *{outside(st.action, 40)}* by {who}"
        if st.after and st.after != st.before:
            line += f" → {outside(st.after, 24)}"
        if st.rule:
            line += f" (rule `{outside(st.rule, 40)}`)"
        if st.forecast_after is not None:
            line += f"; {st.forecast_after} commands left after it"
        lines.append(line)
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= SECTION_TEXT_MAX:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line[:SECTION_TEXT_MAX])
    text = f"Audit of request {rid[:8]}: {len(steps)} steps"
    return check_limits(Rendered(text=text, blocks=[_section(c) for c in chunks[:49]]))


def _section(text: str) -> dict[str, Any]:
    return SectionBlock(text=MarkdownTextObject(text=text)).to_dict()


def actor_ref(actor: str | None) -> str | None:
    """A person's mention, or "rule `quick-speedtest`" for a rule that approved by itself."""
    if not actor:
        return None
    if actor.startswith(RULE_ACTOR_PREFIX):
        return f"rule `{outside(actor.removeprefix(RULE_ACTOR_PREFIX), 40)}`"
    try:
        return user_ref(actor)
    except ValueError:
        return outside(actor, 40)


def approvals_line(req: CaptureRequest) -> str | None:
    """ "1 of 2 approvals: @max" while a quorum is incomplete, else None."""
    if req.quorum <= 1 or not req.approvals:
        return None
    who = ", ".join(actor_ref(a) or "" for a in req.approvals)
    return f":ballot_box_with_check: {len(req.approvals)} of {req.quorum} approvals: {who}"


def rule_line(req: CaptureRequest) -> str | None:
    """Which rule applies and, when it could have approved by itself but did not, why."""
    rule = req.policy.get("rule")
    if not rule or rule == "default":
        return None
    words = f"Rule `{outside(str(rule), 40)}`"
    if req.quorum > 1:
        words += f": needs {req.quorum} distinct approvals"
    why = req.policy.get("auto")
    if why == "cap":
        words += (
            f". Not approved automatically: the rule's cap of {req.policy.get('auto_cap')} "
            f"per {req.policy.get('auto_per')} min is used up"
        )
    elif why == "reserve":
        words += (
            ". Not approved automatically: it would leave fewer than "
            f"{req.policy.get('auto_reserve')} commands of quota in reserve"
        )
    return words + "."


def _describe(req: CaptureRequest) -> str:
    # Imported here: handlers.blocks.capture imports this module for the card's lines.
    from handlers.blocks.capture import describe_command

    return describe_command(req.command_type, req.args)


def _owner_facts(req: CaptureRequest) -> str:
    """Who asked, why, what is collected and for how long, on which devices."""
    what = _describe(req)
    devices = ", ".join(f"`{outside(d.name, 60)}`" for d in req.devices)
    reason = outside(req.reason, 300) if req.reason else "no reason given"
    return (
        f"{actor_ref(req.requester_id)} asked for a {what} on {devices}. "
        f"Reason: {reason}. Approved by {actor_ref(req.decided_by) or 'an approver'}."
    )


def render_owner_ask(req: CaptureRequest) -> Rendered:
    """The direct message asking the device's owner for their OK, with OK and Decline."""
    text = f"{_owner_facts(req)} It runs only if you say OK."
    buttons = ActionsBlock(
        elements=[
            ButtonElement(
                text="OK, run it",
                action_id=ActionId.OWNER_OK.value,
                value=req.id,
                style="primary",
            ),
            ButtonElement(
                text="Decline", action_id=ActionId.OWNER_DECLINE.value, value=req.id, style="danger"
            ),
        ]
    )
    return check_limits(Rendered(text=text, blocks=[_section(text), buttons.to_dict()]))


def render_owner_note(note: Note, facts: Mapping[str, Any], req: CaptureRequest) -> Rendered:
    """A direct message telling the device's owner (``device_owner: notify``)."""
    if note is Note.COMPLETED:
        text = f"The {_describe(req)} on your device has finished."
    else:
        text = f"{_owner_facts(req)} It is being sent to your device now."
    return check_limits(Rendered(text=text, blocks=[_section(text)]))


def render_owner_answered(ok: bool) -> Rendered:
    """What replaces the ask once the owner answered."""
    text = "Thanks: it will run now." if ok else "Declined: nothing will run."
    return check_limits(Rendered(text=text, blocks=[_section(text)]))
