"""A request's life as data: its states, the events that move it, and the effects each move
causes, in one table. Pure: the store applies a step (guarded UPDATE + audit + outbox rows in
one transaction); the deliverer performs the effects; renderers write the words.

::

    step = lifecycle.step(RequestState.PENDING_APPROVAL, Event.APPROVED)
    step.to                 # RequestState.APPROVED
    step.effects_for(rid)   # card and parent edits, a thread note, as typed Effect values

Adding a rule is adding a row here, never a branch in a handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from bot.domain.model import FINAL_STATES, RequestState


class Event(StrEnum):
    """Something that happened to a request."""

    REQUESTED = "requested"
    APPROVAL_RECORDED = "approval_recorded"  # one of several a quorum needs; not decisive
    APPROVED = "approved"
    APPROVED_FOR_OWNER = (
        "approved_for_owner"  # the decisive approval under device_owner: acknowledge
    )
    OWNER_OK = "owner_ok"
    OWNER_DECLINED = "owner_declined"
    ESCALATED = "escalated"  # no decision after the rule's T minutes: remind, mention fallback
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    DISPATCH_STARTED = "dispatch_started"
    DISPATCH_RETRY = "dispatch_retry"
    DISPATCHED = "dispatched"
    DISPATCH_FAILED = "dispatch_failed"
    COMMAND_STATUS = "command_status"
    COMMAND_STUCK = "command_stuck"
    COMPLETED = "completed"


class EffectKind(StrEnum):
    """What the deliverer does in Slack; each kind has one performer."""

    POST_PARENT = "post_parent"  # the request's message in the requester's channel
    POST_CARD = "post_card"  # the approval card
    EDIT_PARENT = "edit_parent"  # chat.update with the request's current state (idempotent)
    EDIT_CARD = "edit_card"
    THREAD_NOTE = "thread_note"  # a reply in the thread; ``note`` says which
    THREAD_STATUS = "thread_status"  # a command's new status, in the thread
    UPLOAD = "upload"  # the artifact relayed into the thread
    SUMMARY = "summary"  # what the artifact says, posted next to it
    STATUS_AFTER = "status_after"  # the devices' live status once done, and what changed
    TELL_REQUESTER = "tell_requester"  # a direct message to the requester
    # A person's App Home, redrawn (``views.publish``). Not in the table: the store adds one
    # per affected person who opened the Home, keyed by user and coalesced (bot.store.home).
    REFRESH_HOME = "refresh_home"
    REMIND = "remind"  # a reminder under the card, shown in the approvals channel
    ASK_OWNER = "ask_owner"  # a direct message to the device's owner with OK / Decline
    TELL_OWNER = "tell_owner"  # a direct message to the device's owner (device_owner: notify)


class Note(StrEnum):
    """Which thread note or requester message an effect carries (renderers word it)."""

    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    SENT = "sent"
    NOT_SENT = "not_sent"
    STUCK = "stuck"
    CANCELLED = "cancelled"
    UPLOAD_GAVE_UP = "upload_gave_up"
    THREAD_UNREACHABLE = "thread_unreachable"  # told the requester: kept, retried later
    THREAD_GAVE_UP = "thread_gave_up"  # told the requester: the thread stayed unreachable
    ESCALATED = "escalated"
    COMPLETED = "completed"
    AWAITING_OWNER = "awaiting_owner"
    OWNER_OK = "owner_ok"
    OWNER_DECLINED = "owner_declined"


#: The outcomes a requester is told about directly (a policy setting turns these off).
OUTCOME_NOTES = frozenset(
    {Note.APPROVED, Note.DENIED, Note.EXPIRED, Note.COMPLETED, Note.OWNER_DECLINED}
)


QuotaMove = Literal["reserve", "consume", "release"]


@dataclass(frozen=True)
class EffectSpec:
    """One effect a step causes. ``needs`` names a fact without which it is skipped (an
    upload only when the command left a file)."""

    kind: EffectKind
    note: Note | None = None
    needs: str | None = None


@dataclass(frozen=True)
class Effect:
    """A Slack side effect to perform once. Its ``key`` is its identity in the outbox: the
    same cause on the same request (and tag) can never be enqueued twice."""

    kind: EffectKind
    request_id: str
    cause: Event
    tag: str | None = None
    note: Note | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``<request>:<kind>:<cause>[:<tag>]``, at most 200 characters."""
        parts = [self.request_id, self.kind.value, self.cause.value]
        if self.tag:
            parts.append(self.tag)
        return ":".join(parts)[:200]

    def payload(self) -> dict[str, Any]:
        """What the outbox row stores: facts only, never rendered words."""
        return {
            "cause": self.cause.value,
            "tag": self.tag,
            "note": self.note.value if self.note else None,
            "facts": dict(self.facts),
        }

    @classmethod
    def from_row(cls, kind: str, request_id: str, payload: Mapping[str, Any]) -> Effect:
        """The effect an outbox row holds (the inverse of ``payload``)."""
        note = payload.get("note")
        return cls(
            kind=EffectKind(kind),
            request_id=request_id,
            cause=Event(payload["cause"]),
            tag=payload.get("tag"),
            note=Note(note) if note else None,
            facts=dict(payload.get("facts") or {}),
        )


@dataclass(frozen=True)
class Step:
    """An allowed transition: the new state, what it does to the quota, whether it is fenced
    by the dispatch attempt, and the effects it causes."""

    to: RequestState
    effects: tuple[EffectSpec, ...] = ()
    quota: QuotaMove | None = None
    decision: bool = False  # records who decided (approve or deny)
    fenced: bool = False  # only the dispatch attempt that owns DISPATCHING may take it

    def effects_for(
        self, request_id: str, cause: Event, *, tag: str | None = None, **facts: Any
    ) -> list[Effect]:
        """The typed effects of this step for one request, with the facts they need."""
        return [
            Effect(spec.kind, request_id, cause, tag, spec.note, facts)
            for spec in self.effects
            if spec.needs is None or facts.get(spec.needs)
        ]


class IllegalTransition(Exception):
    """``event`` cannot happen to a request in ``state`` (someone else moved it first)."""

    def __init__(self, state: RequestState | None, event: Event) -> None:
        super().__init__(f"{event.value} is not allowed in state {state}")
        self.state = state
        self.event = event


_EDITS = (EffectSpec(EffectKind.EDIT_CARD), EffectSpec(EffectKind.EDIT_PARENT))


def _note(note: Note) -> EffectSpec:
    return EffectSpec(EffectKind.THREAD_NOTE, note)


def _tell(note: Note) -> EffectSpec:
    return EffectSpec(EffectKind.TELL_REQUESTER, note)


S = RequestState
#: Every allowed (state, event). ``None`` is "no request yet". Anything absent is refused.
TRANSITIONS: Mapping[tuple[RequestState | None, Event], Step] = {
    (None, Event.REQUESTED): Step(
        S.PENDING_APPROVAL,
        (EffectSpec(EffectKind.POST_PARENT), EffectSpec(EffectKind.POST_CARD)),
    ),
    # A quorum's non-decisive approval: the card shows "1 of 2 approvals" (tagged per approver).
    (S.PENDING_APPROVAL, Event.APPROVAL_RECORDED): Step(
        S.PENDING_APPROVAL, (EffectSpec(EffectKind.EDIT_CARD),)
    ),
    # Once per request: the reminder's outbox key is unique, so a second one aborts.
    (S.PENDING_APPROVAL, Event.ESCALATED): Step(
        S.PENDING_APPROVAL, (EffectSpec(EffectKind.REMIND, Note.ESCALATED),)
    ),
    (S.PENDING_APPROVAL, Event.APPROVED): Step(
        S.APPROVED,
        (
            *_EDITS,
            _note(Note.APPROVED),
            _tell(Note.APPROVED),
            EffectSpec(EffectKind.TELL_OWNER, Note.APPROVED, needs="tell_owner"),
        ),
        quota="reserve",
        decision=True,
    ),
    # device_owner: acknowledge: approved and reserved, but sent only once the owner says OK.
    (S.PENDING_APPROVAL, Event.APPROVED_FOR_OWNER): Step(
        S.AWAITING_OWNER,
        (*_EDITS, _note(Note.AWAITING_OWNER), EffectSpec(EffectKind.ASK_OWNER)),
        quota="reserve",
        decision=True,
    ),
    (S.AWAITING_OWNER, Event.OWNER_OK): Step(
        S.APPROVED, (*_EDITS, _note(Note.OWNER_OK), _tell(Note.APPROVED))
    ),
    (S.AWAITING_OWNER, Event.OWNER_DECLINED): Step(
        S.CANCELLED,
        (*_EDITS, _note(Note.OWNER_DECLINED), _tell(Note.OWNER_DECLINED)),
        quota="release",
    ),
    (S.AWAITING_OWNER, Event.EXPIRED): Step(
        S.EXPIRED, (*_EDITS, _note(Note.EXPIRED), _tell(Note.EXPIRED)), quota="release"
    ),
    (S.PENDING_APPROVAL, Event.DENIED): Step(
        S.DENIED, (*_EDITS, _note(Note.DENIED), _tell(Note.DENIED)), decision=True
    ),
    (S.PENDING_APPROVAL, Event.EXPIRED): Step(
        S.EXPIRED, (*_EDITS, _note(Note.EXPIRED), _tell(Note.EXPIRED))
    ),
    # A request whose parent or card could not be posted, or that a retry superseded.
    (S.PENDING_APPROVAL, Event.CANCELLED): Step(
        S.CANCELLED, (*_EDITS, EffectSpec(EffectKind.TELL_REQUESTER, Note.CANCELLED))
    ),
    (S.APPROVED, Event.DISPATCH_STARTED): Step(S.DISPATCHING),
    (S.APPROVED, Event.DISPATCH_FAILED): Step(
        S.DISPATCH_FAILED, (_note(Note.NOT_SENT), *_EDITS), quota="release"
    ),
    (S.DISPATCHING, Event.DISPATCH_RETRY): Step(S.APPROVED, fenced=True),
    (S.DISPATCHING, Event.DISPATCHED): Step(
        S.DISPATCHED, (_note(Note.SENT), *_EDITS), quota="consume", fenced=True
    ),
    (S.DISPATCHING, Event.DISPATCH_FAILED): Step(
        S.DISPATCH_FAILED, (_note(Note.NOT_SENT), *_EDITS), quota="release", fenced=True
    ),
    (S.DISPATCHED, Event.COMMAND_STATUS): Step(
        S.DISPATCHED,
        (
            EffectSpec(EffectKind.THREAD_STATUS),
            *_EDITS,
            EffectSpec(EffectKind.UPLOAD, needs="filename"),
            EffectSpec(EffectKind.SUMMARY, needs="filename"),
        ),
    ),
    (S.DISPATCHED, Event.COMMAND_STUCK): Step(S.DISPATCHED, (_note(Note.STUCK),)),
    (S.DISPATCHED, Event.COMPLETED): Step(
        S.COMPLETED,
        (
            *_EDITS,
            EffectSpec(EffectKind.STATUS_AFTER),
            _tell(Note.COMPLETED),
            EffectSpec(EffectKind.TELL_OWNER, Note.COMPLETED, needs="tell_owner"),
        ),
    ),
}


def step(state: RequestState | None, event: Event) -> Step:
    """The transition ``event`` makes from ``state``; ``IllegalTransition`` if none."""
    found = TRANSITIONS.get((state, event))
    if found is None:
        raise IllegalTransition(state, event)
    return found


def allowed(state: RequestState | None, event: Event) -> bool:
    """Whether ``event`` can happen in ``state``."""
    return (state, event) in TRANSITIONS


def is_final(state: RequestState) -> bool:
    """Nothing more happens to a request in this state."""
    return state in FINAL_STATES
