"""Thread notes and messages to the requester, worded from the facts an effect carries.

The outbox stores facts (who approved, which devices got the command, why it was not sent);
these renderers write the sentences when the effect is performed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.domain.errors import inert
from bot.domain.lifecycle import Note
from bot.domain.model import CaptureRequest
from bot.domain.rules import RULE_ACTOR_PREFIX
from handlers.blocks.capture import describe_command, render_thread_note, render_thread_status
from handlers.blocks.common import Rendered

CANCELLED_WHY = {
    "parent": "I couldn't post your request in {channel} ({error}), so it was cancelled. "
    "If I'm not in that channel, invite me with `/invite @dexbot` and ask again.",
    "card": "I couldn't post the approval card in the approvals channel ({error}), so your "
    "request was cancelled. Ask an admin to invite me there, then ask again.",
    "superseded": "Your request {short_id} never got its approval card, so a new identical "
    "request from {by} replaced it.",
}
_NOT_SENT = {
    "quota_used_up": "Cloudflare's command quota is used up.",
    "no_longer_valid": "the request is not valid any more ({detail})",
    "cloudflare_refused": "Cloudflare refused the command: {detail}",
    "not_sendable": "the command could not be sent ({detail})",
    "cloudflare_kept_failing": "Cloudflare kept failing ({why}); ask again later.",
    "unclear": "I can't tell which command is ours ({detail}); check history",
}


# Slack permalinks only; "|" or "<>" could disguise the link's label.
_PERMALINK = re.compile(r"^https://[^\s<>|]+$")


def _mention(user_id: Any) -> str:
    if isinstance(user_id, str) and user_id.startswith(RULE_ACTOR_PREFIX):
        return f"rule `{inert(user_id.removeprefix(RULE_ACTOR_PREFIX), 40)}`"
    return f"<@{inert(str(user_id), 20)}>" if user_id else "someone"


def not_sent_words(reason: str | None, facts: Mapping[str, Any]) -> str:
    """Why a request was not sent to Cloudflare, in words."""
    if reason == "quota_used_up" and facts.get("reset_time"):
        return f"Cloudflare's command quota is used up until {str(facts['reset_time'])[11:16]} UTC."
    template = _NOT_SENT.get(reason or "", "it could not be sent ({detail})")
    return template.format(
        detail=inert(str(facts.get("detail") or reason), 300),
        why=inert(str(facts.get("why") or ""), 60),
    )


def _channel(f: Mapping[str, Any]) -> str:
    return f"<#{inert(str(f.get('channel')), 20)}>"


def _hours(f: Mapping[str, Any]) -> str:
    hours = float(f.get("hours") or 0)
    return f"{hours:g} hours" if hours != 1 else "an hour"


def _upload_words(error: str) -> str:
    kind, _, detail = error.partition(" (")
    if kind == "UploadFailed":
        return f"Slack did not accept the file ({inert(detail.rstrip(')'), 60)})"
    error = kind
    if error.startswith("Dex"):
        return "the download from Cloudflare kept failing"
    if error in ("TimeoutError", "OSError", "ConnectError", "ReadTimeout", "RemoteProtocolError"):
        return "the connection kept failing"
    return f"Slack refused it: {inert(error, 60)}"


def _note_text(note: Note, f: Mapping[str, Any]) -> str:
    if note is Note.APPROVED:
        return f"Approved by {_mention(f.get('approver'))}. Sending to Cloudflare…"
    if note is Note.DENIED:
        reason = f.get("note")
        return f"Denied by {_mention(f.get('decider'))}" + (
            f": {inert(reason, 300)}" if reason else "."
        )
    if note is Note.EXPIRED and f.get("owner"):
        return (
            f"{_mention(f.get('owner'))} didn't answer within {f.get('ttl_minutes')} min, so "
            "it expired without running; its quota is released."
        )
    if note is Note.AWAITING_OWNER:
        return (
            f"Approved by {_mention(f.get('approver'))}. Waiting for {_mention(f.get('owner'))}, "
            "whose device it is, to say OK before anything runs."
        )
    if note is Note.OWNER_OK:
        return f"{_mention(f.get('owner'))} said OK. Sending to Cloudflare…"
    if note is Note.OWNER_DECLINED:
        return (
            f"{_mention(f.get('owner'))} declined, so it was cancelled without running; "
            "its quota is released."
        )
    if note is Note.EXPIRED:
        return (
            f"{_mention(f.get('requester'))} nobody approved this within "
            f"{f.get('ttl_minutes')} min, so it expired. Ask again with /dex if it is still needed."
        )
    if note is Note.SENT:
        lines = [
            f"Sent to {inert(s.get('device'), 60)}, command {inert(s.get('command_id'))}"
            for s in f.get("sent") or []
        ]
        missing = [inert(m, 60) for m in f.get("missing") or []]
        if missing:
            lines.append(
                f"Not received by {', '.join(missing)}: Cloudflare has no command for it; "
                "see `/dex history`."
            )
        return "\n".join(lines)
    if note is Note.NOT_SENT:
        return f"Not sent: {not_sent_words(f.get('reason'), f)}"
    if note is Note.STUCK:
        name, minutes = inert(f.get("device"), 60), f.get("minutes")
        if f.get("status") == "PENDING_EXEC":
            return (
                f"{name} hasn't picked up the command in {minutes} min. It may be offline; "
                "Cloudflare gives up 10 minutes after sending and the command will then "
                "show as failed."
            )
        return f"{name} has been uploading for {minutes} min; large captures take a while."
    if note is Note.THREAD_UNREACHABLE:
        return (
            f"I can't post in your request's thread in {_channel(f)} "
            f"({inert(str(f.get('error')), 30)}), so its updates and result are waiting. "
            "Invite me with `/invite @dexbot` and I'll post them there; I keep trying for "
            f"{_hours(f)}. `/dex history` shows the command meanwhile, and its result stays "
            "in the Cloudflare dashboard."
        )
    if note is Note.THREAD_GAVE_UP:
        return (
            f"I still can't post in {_channel(f)} ({inert(str(f.get('error')), 30)}) after "
            f"{_hours(f)}, so I stopped trying. The command's result is in the Cloudflare "
            "dashboard; `/dex history` shows the command."
        )
    if note is Note.UPLOAD_GAVE_UP:
        return (
            f"I couldn't upload the result into this thread after {f.get('attempts')} tries: "
            f"{_upload_words(str(f.get('error')))}. It is still in the Cloudflare dashboard."
        )
    if note is Note.ESCALATED:
        return _escalated(f)
    return note.value


def _escalated(f: Mapping[str, Any]) -> str:
    mentions = []
    for who in f.get("mention") or []:
        ident = inert(str(who), 20)
        mentions.append(f"<!subteam^{ident}>" if ident.startswith("S") else f"<@{ident}>")
    ask = f" {', '.join(mentions)}, can you decide?" if mentions else ""
    return (
        f":bell: Still waiting for approval after {f.get('after_minutes')} min "
        f"(expires in {f.get('left_minutes')} min).{ask}"
    )


def render_note(note: Note, facts: Mapping[str, Any], req: CaptureRequest) -> Rendered:
    """A note in the request's thread."""
    return render_thread_note(_note_text(note, facts))


def render_status_fact(facts: Mapping[str, Any]) -> Rendered:
    """A command's new status in the thread, from the poller's facts."""
    return render_thread_status(
        str(facts.get("device") or facts.get("command_id")),
        str(facts.get("command_id")),
        str(facts.get("status")),
        detail=facts.get("detail"),
        command_type=facts.get("command_type"),
    )


def requester_text(note: Note, facts: Mapping[str, Any], req: CaptureRequest) -> str:
    """What the requester is told directly (or in the answer to their command)."""
    if note is Note.CANCELLED:
        template = CANCELLED_WHY.get(
            str(facts.get("why")), "Your request {short_id} was cancelled."
        )
        return template.format(
            channel=f"<#{inert(req.channel_id, 20)}>",
            error=inert(str(facts.get("error") or "unknown error"), 60),
            short_id=req.short_id,
            by=_mention(facts.get("by")),
        )
    if note in _OUTCOME:
        return _outcome(note, facts, req)
    return _note_text(note, facts)


def render_dropped(text: str) -> Rendered:
    """A direct message: the slash command was acknowledged, then lost (a restart)."""
    return render_thread_note(
        f"I lost your command `/dex {inert(text, 200)}` when I restarted before I could "
        "act on it. Nothing was stored or sent to Cloudflare; please send it again."
    )


_OUTCOME = {
    Note.APPROVED: "was approved by {by}",
    Note.OWNER_DECLINED: "was declined by {owner}, whose device it is, so nothing ran",
    Note.DENIED: "was denied by {by}",
    Note.EXPIRED: "expired: nobody approved it within {ttl} min",
    Note.COMPLETED: "has finished",
}


def _outcome(note: Note, f: Mapping[str, Any], req: CaptureRequest) -> str:
    """ "Your packet capture for @ann (request 1a2b3c4d) was approved by @max. Thread: …"."""
    by = _mention(
        (f.get("approver") or req.decided_by) if note is Note.APPROVED else f.get("decider")
    )
    what = describe_command(req.command_type, req.args)
    target = _mention(req.target_user_id) if req.target_user_id else inert(req.target_email, 60)
    if note is Note.EXPIRED and f.get("owner"):
        words = f"expired: {_mention(f.get('owner'))} didn't say OK in time, so nothing ran"
    else:
        words = _OUTCOME[note].format(
            by=by, ttl=f.get("ttl_minutes"), owner=_mention(req.target_user_id)
        )
    line = f"Your {what} for {target} (request {req.short_id}) {words}"
    reason = f.get("note") if note is Note.DENIED else None
    line += f": {inert(reason, 300)}" if reason else "."
    link = f.get("link")
    if isinstance(link, str) and _PERMALINK.match(link):
        line += f" <{link}|Open the thread>"
    return line


def render_requester_note(note: Note, facts: Mapping[str, Any], req: CaptureRequest) -> Rendered:
    """A direct message to the requester."""
    return render_thread_note(requester_text(note, facts, req))
