"""The pathway transition table: every allowed and every forbidden move,
who may make it, what it needs, and the date rules (no app, no database)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from casework.pathways.states import (
    EXIT_REASONS,
    TRANSITIONS,
    Authority,
    InvalidTransition,
    Pathway,
    date_problem,
    needs_approval,
    targets,
    transition,
)

ALLOWED = sorted(TRANSITIONS, key=lambda pair: (pair[0].value, pair[1].value))
FORBIDDEN = [pair for pair in itertools.product(Pathway, Pathway) if pair not in TRANSITIONS]


def needed(frm: Pathway, to: Pathway) -> dict:
    move = TRANSITIONS[(frm, to)]
    return {"is_lead": True, "rationale": "Reason" if move.needs_rationale else None,
            "exit_reason": "moved_away" if move.needs_exit_reason else None}


def test_the_table_is_the_design():
    P = Pathway
    assert set(TRANSITIONS) == {
        (P.AWAITING_OFFER, P.ENGAGED), (P.AWAITING_OFFER, P.AT_RISK_MONITORING),
        (P.AWAITING_OFFER, P.EXITED),
        (P.ENGAGED, P.AT_RISK_MONITORING), (P.ENGAGED, P.DISRUPTION), (P.ENGAGED, P.EXITED),
        (P.AT_RISK_MONITORING, P.ENGAGED), (P.AT_RISK_MONITORING, P.DISRUPTION),
        (P.AT_RISK_MONITORING, P.EXITED),
        (P.DISRUPTION, P.ENGAGED), (P.DISRUPTION, P.AT_RISK_MONITORING),
        (P.DISRUPTION, P.EXITED),
        (P.EXITED, P.ENGAGED), (P.EXITED, P.AT_RISK_MONITORING),
    }
    assert {pair for pair, m in TRANSITIONS.items() if m.authority == Authority.LEAD_APPROVAL} \
        == {(P.ENGAGED, P.DISRUPTION), (P.AT_RISK_MONITORING, P.DISRUPTION)}
    assert {pair for pair, m in TRANSITIONS.items() if m.authority == Authority.LEAD} == {
        (P.DISRUPTION, P.AT_RISK_MONITORING), (P.EXITED, P.ENGAGED),
        (P.EXITED, P.AT_RISK_MONITORING)}
    assert {pair[1] for pair, m in TRANSITIONS.items() if m.needs_exit_reason} == {P.EXITED}
    assert set(EXIT_REASONS) == {"completed", "moved_away", "custody", "withdrew", "died",
                                 "other"}


@pytest.mark.parametrize(("frm", "to"), ALLOWED)
def test_every_allowed_move(frm, to):
    assert transition(frm, to, **needed(frm, to)) is TRANSITIONS[(frm, to)]
    assert to in targets(frm)


def test_while_a_proposal_waits_every_move_but_a_proposal_is_offered():
    """A proposal waiting for a lead stops a second, not a move: an exit,
    accepted support, or a move to at-risk monitoring is offered still."""
    P = Pathway
    assert targets(P.ENGAGED, is_lead=False, proposing=False) == [
        P.AT_RISK_MONITORING, P.EXITED]
    assert targets(P.AT_RISK_MONITORING, is_lead=False, proposing=False) == [
        P.ENGAGED, P.EXITED]
    for frm, to in ALLOWED:
        assert needs_approval(frm, to) == (TRANSITIONS[(frm, to)].authority
                                           == Authority.LEAD_APPROVAL)
        assert (to in targets(frm, proposing=False)) == (not needs_approval(frm, to))
    # as a form sends them: strings, or nothing, or no pathway
    assert needs_approval("engaged", "disruption") and not needs_approval("engaged", None)
    assert not needs_approval("engaged", "nowhere")


@pytest.mark.parametrize(("frm", "to"), FORBIDDEN)
def test_every_forbidden_move_is_refused_in_words(frm, to):
    with pytest.raises(InvalidTransition) as refused:
        transition(frm, to, is_lead=True, rationale="Reason", exit_reason="other")
    assert refused.value.field == "target"
    message = str(refused.value)
    assert frm.label.lower() in message
    assert "_" not in message  # labels, not codes
    assert to not in targets(frm)


@pytest.mark.parametrize(("frm", "to"), [p for p in ALLOWED
                                         if TRANSITIONS[p].authority == Authority.LEAD])
def test_lead_only_moves_refuse_caseworkers(frm, to):
    with pytest.raises(InvalidTransition, match="Only a lead"):
        transition(frm, to, is_lead=False, rationale="Reason")
    transition(frm, to, is_lead=True, rationale="Reason")


@pytest.mark.parametrize(("frm", "to"), [p for p in ALLOWED if TRANSITIONS[p].needs_rationale])
def test_moves_needing_a_rationale(frm, to):
    with pytest.raises(InvalidTransition) as refused:
        transition(frm, to, is_lead=True, rationale="   ")
    assert refused.value.field == "rationale"


@pytest.mark.parametrize(("frm", "to"), [p for p in ALLOWED if TRANSITIONS[p].needs_exit_reason])
def test_exits_need_a_reason(frm, to):
    with pytest.raises(InvalidTransition) as refused:
        transition(frm, to, is_lead=False)
    assert refused.value.field == "exit_reason"
    with pytest.raises(InvalidTransition):
        transition(frm, to, is_lead=False, exit_reason="bored")


def test_completion_only_after_three_months_engaged():
    since = date(2026, 1, 1)
    with pytest.raises(InvalidTransition, match="at least 3 months"):
        transition(Pathway.ENGAGED, Pathway.EXITED, is_lead=False, exit_reason="completed",
                   current_since=since, effective=date(2026, 3, 31))
    transition(Pathway.ENGAGED, Pathway.EXITED, is_lead=False, exit_reason="completed",
               current_since=since, effective=date(2026, 4, 2))
    with pytest.raises(InvalidTransition, match="Only an engaged person"):
        transition(Pathway.AT_RISK_MONITORING, Pathway.EXITED, is_lead=False,
                   exit_reason="completed")


@pytest.mark.parametrize(("since", "earliest"), [
    (date(2026, 2, 1), date(2026, 5, 1)),     # 89 days
    (date(2026, 7, 1), date(2026, 10, 1)),    # 92 days
    (date(2026, 11, 30), date(2027, 2, 28)),  # a shorter month's last day
    (date(2027, 11, 30), date(2028, 2, 29)),  # a leap year's
])
def test_three_months_are_calendar_months(since, earliest):
    def complete(on):
        transition(Pathway.ENGAGED, Pathway.EXITED, is_lead=False, exit_reason="completed",
                   current_since=since, effective=on)

    complete(earliest)
    with pytest.raises(InvalidTransition, match=f"engaged since {since.day} "):
        complete(earliest - timedelta(days=1))


def test_staying_put_is_not_a_move():
    with pytest.raises(InvalidTransition, match="already on engaged"):
        transition(Pathway.ENGAGED, Pathway.ENGAGED, is_lead=True)


RANDOMISED = date(2026, 3, 1)
TODAY = date(2026, 6, 1)


@pytest.mark.parametrize(("effective", "previous", "problem"), [
    (None, None, "Enter the date"),
    (date(2026, 6, 2), None, "cannot be in the future"),
    (date(2026, 2, 28), None, "before randomisation (1 March 2026)"),
    (date(2026, 4, 9), date(2026, 4, 10), "before the previous change (10 April 2026)"),
    (date(2026, 4, 10), date(2026, 4, 10), None),
    (RANDOMISED, None, None),
    (TODAY, date(2026, 5, 1), None),
])
def test_effective_dates(effective, previous, problem):
    result = date_problem(effective, today=TODAY, randomised_on=RANDOMISED,
                          previous_change=previous)
    assert result == problem if problem is None else problem in result
