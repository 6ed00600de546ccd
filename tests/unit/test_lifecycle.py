"""The lifecycle table, walked whole: every (state, event) pair is either allowed, with the
effects it causes, or refused with a typed error. A changed rule changes this table first."""

from __future__ import annotations

import itertools

import pytest

from bot.domain import lifecycle
from bot.domain.lifecycle import Effect, EffectKind, Event, IllegalTransition, Note
from bot.domain.model import FINAL_STATES, RequestState

S, E, K = RequestState, Event, EffectKind
EDITS = {K.EDIT_CARD, K.EDIT_PARENT}

#: (state, event) -> (new state, effect kinds, quota move). Everything else is refused.
EXPECTED: dict[
    tuple[RequestState | None, Event], tuple[RequestState, set[EffectKind], str | None]
] = {
    (None, E.REQUESTED): (S.PENDING_APPROVAL, {K.POST_PARENT, K.POST_CARD}, None),
    # A quorum's non-decisive approval edits the card; an escalation reminds under it.
    (S.PENDING_APPROVAL, E.APPROVAL_RECORDED): (S.PENDING_APPROVAL, {K.EDIT_CARD}, None),
    (S.PENDING_APPROVAL, E.ESCALATED): (S.PENDING_APPROVAL, {K.REMIND}, None),
    # The requester is told each outcome directly, too.
    (S.PENDING_APPROVAL, E.APPROVED): (
        S.APPROVED,
        EDITS | {K.THREAD_NOTE, K.TELL_REQUESTER, K.TELL_OWNER},
        "reserve",
    ),
    # device_owner: acknowledge: reserved at approval, sent after the owner's OK, released
    # when they decline or let it expire.
    (S.PENDING_APPROVAL, E.APPROVED_FOR_OWNER): (
        S.AWAITING_OWNER,
        EDITS | {K.THREAD_NOTE, K.ASK_OWNER},
        "reserve",
    ),
    (S.AWAITING_OWNER, E.OWNER_OK): (S.APPROVED, EDITS | {K.THREAD_NOTE, K.TELL_REQUESTER}, None),
    (S.AWAITING_OWNER, E.OWNER_DECLINED): (
        S.CANCELLED,
        EDITS | {K.THREAD_NOTE, K.TELL_REQUESTER},
        "release",
    ),
    (S.AWAITING_OWNER, E.EXPIRED): (
        S.EXPIRED,
        EDITS | {K.THREAD_NOTE, K.TELL_REQUESTER},
        "release",
    ),
    (S.PENDING_APPROVAL, E.DENIED): (S.DENIED, EDITS | {K.THREAD_NOTE, K.TELL_REQUESTER}, None),
    (S.PENDING_APPROVAL, E.EXPIRED): (S.EXPIRED, EDITS | {K.THREAD_NOTE, K.TELL_REQUESTER}, None),
    (S.PENDING_APPROVAL, E.CANCELLED): (S.CANCELLED, EDITS | {K.TELL_REQUESTER}, None),
    (S.APPROVED, E.DISPATCH_STARTED): (S.DISPATCHING, set(), None),
    (S.APPROVED, E.DISPATCH_FAILED): (S.DISPATCH_FAILED, EDITS | {K.THREAD_NOTE}, "release"),
    (S.DISPATCHING, E.DISPATCH_RETRY): (S.APPROVED, set(), None),
    (S.DISPATCHING, E.DISPATCHED): (S.DISPATCHED, EDITS | {K.THREAD_NOTE}, "consume"),
    (S.DISPATCHING, E.DISPATCH_FAILED): (S.DISPATCH_FAILED, EDITS | {K.THREAD_NOTE}, "release"),
    (S.DISPATCHED, E.COMMAND_STATUS): (
        S.DISPATCHED,
        EDITS | {K.THREAD_STATUS, K.UPLOAD, K.SUMMARY},
        None,
    ),
    (S.DISPATCHED, E.COMMAND_STUCK): (S.DISPATCHED, {K.THREAD_NOTE}, None),
    (S.DISPATCHED, E.COMPLETED): (
        S.COMPLETED,
        EDITS | {K.STATUS_AFTER, K.TELL_REQUESTER, K.TELL_OWNER},
        None,
    ),
}

ALL_PAIRS = list(itertools.product([None, *RequestState], Event))


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=lambda v: str(v))
def test_every_pair_is_allowed_with_its_effects_or_refused(
    state: RequestState | None, event: Event
) -> None:
    expected = EXPECTED.get((state, event))
    if expected is None:
        assert not lifecycle.allowed(state, event)
        with pytest.raises(IllegalTransition) as refused:
            lifecycle.step(state, event)
        assert (refused.value.state, refused.value.event) == (state, event)
        return
    to, kinds, quota = expected
    step = lifecycle.step(state, event)
    assert step.to is to
    assert {spec.kind for spec in step.effects} == kinds
    assert step.quota == quota


def test_the_table_has_nothing_the_walk_does_not_know() -> None:
    assert set(lifecycle.TRANSITIONS) == set(EXPECTED)


def test_nothing_leaves_a_final_state() -> None:
    for state, event in ALL_PAIRS:
        if state in FINAL_STATES:
            assert not lifecycle.allowed(state, event)


def test_only_the_dispatch_attempt_steps_are_fenced_and_only_decisions_record_a_decider() -> None:
    fenced = {k for k, st in lifecycle.TRANSITIONS.items() if st.fenced}
    assert fenced == {
        (S.DISPATCHING, E.DISPATCH_RETRY),
        (S.DISPATCHING, E.DISPATCHED),
        (S.DISPATCHING, E.DISPATCH_FAILED),
    }
    decisions = {k for k, st in lifecycle.TRANSITIONS.items() if st.decision}
    assert decisions == {
        (S.PENDING_APPROVAL, E.APPROVED),
        (S.PENDING_APPROVAL, E.APPROVED_FOR_OWNER),
        (S.PENDING_APPROVAL, E.DENIED),
    }


def test_effects_carry_facts_and_a_key_that_names_their_cause() -> None:
    step = lifecycle.step(S.DISPATCHED, E.COMMAND_STATUS)
    with_file = step.effects_for("r1", E.COMMAND_STATUS, tag="c1:SUCCESS", filename="x.zip")
    without = step.effects_for("r1", E.COMMAND_STATUS, tag="c1:PENDING_UPLOAD", filename=None)
    assert K.UPLOAD in {e.kind for e in with_file}
    assert K.UPLOAD not in {e.kind for e in without}  # no file, no upload
    assert K.SUMMARY in {e.kind for e in with_file} and K.SUMMARY not in {e.kind for e in without}
    [status] = [e for e in with_file if e.kind is K.THREAD_STATUS]
    assert status.key == "r1:thread_status:command_status:c1:SUCCESS"
    assert status.facts == {"filename": "x.zip"}


def test_an_effect_survives_the_outbox_row_round_trip() -> None:
    [note] = [
        e
        for e in lifecycle.step(S.PENDING_APPROVAL, E.DENIED).effects_for(
            "r2", E.DENIED, decider="U1", note="not now"
        )
        if e.kind is K.THREAD_NOTE
    ]
    assert note.note is Note.DENIED
    again = Effect.from_row(note.kind.value, "r2", note.payload())
    assert again == note
    assert "not now" not in note.key  # facts never reach the key
