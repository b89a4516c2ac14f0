"""Field rules and the referral status workflow."""

from __future__ import annotations

from datetime import date

import pytest

from casework.intake import validation
from casework.intake.reference import (
    ETHNIC_GROUPS,
    ETHNICITIES,
    TRANSITIONS,
    InvalidTransition,
    ReferralStatus,
    transition,
)

TODAY = date(2026, 11, 21)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("b1 1aa", "B1 1AA"), ("CV15FB", "CV1 5FB"), ("  wv1   1aa ", "WV1 1AA"),
     ("sw1a1aa", "SW1A 1AA"), ("EC1A 1BB", "EC1A 1BB"), ("dn551pt", "DN55 1PT"),
     ("gir0aa", "GIR 0AA")],
)
def test_good_postcodes_are_normalised(raw, normalised):
    assert validation.normalise_postcode(raw) == normalised


@pytest.mark.parametrize("raw", ["B1", "B1 1A", "QQ1 1AA", "B11AAAA", "12345", "B1 1CA", ""])
def test_bad_postcodes(raw):
    with pytest.raises(ValueError, match="real postcode"):
        validation.normalise_postcode(raw)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("12/345678A", "12/345678A"), ("12/0045678a", "12/45678A"), (" 98 / 1234 z", "98/1234Z"),
     ("061234567B", "06/1234567B")],
)
def test_good_pnc_references(raw, normalised):
    assert validation.normalise_pnc(raw) == normalised


@pytest.mark.parametrize("raw", ["12-345678A", "123/45A", "12/345678", "12/12345678A", "AB/1A"])
def test_bad_pnc_references(raw):
    with pytest.raises(ValueError, match="12/345678A"):
        validation.normalise_pnc(raw)


@pytest.mark.parametrize(
    ("dob", "problem"),
    [
        (None, None),
        (TODAY, None),
        (date(2026, 11, 22), "today or in the past"),
        (date(1926, 11, 22), None),  # 99 today, 100 tomorrow
        (date(1926, 11, 21), None),  # 100 today: not over 100
        (date(1925, 11, 22), None),  # 100 today, 101 tomorrow
        (date(1925, 11, 21), "Date of birth must make the person 100 or younger"),  # 101
    ],
)
def test_date_of_birth_rules(dob, problem):
    result = validation.date_of_birth_problem(dob, TODAY)
    assert (result is None) if problem is None else (problem in result)


@pytest.mark.parametrize(
    ("referral_date", "dob", "problem"),
    [
        (TODAY, date(2008, 1, 1), None),
        (date(2026, 11, 22), None, "today or in the past"),
        (date(2007, 12, 31), date(2008, 1, 1), "on or after the date of birth"),
        (date(2008, 1, 1), date(2008, 1, 1), None),
        (None, None, "Enter the referral date"),
    ],
)
def test_referral_date_rules(referral_date, dob, problem):
    result = validation.referral_date_problem(referral_date, dob, TODAY)
    assert (result is None) if problem is None else (problem in result)


def test_age_on_a_date_counts_whole_years_and_leap_days():
    assert validation.years_between(date(2012, 2, 29), date(2026, 2, 28)) == 13
    assert validation.years_between(date(2012, 2, 29), date(2026, 3, 1)) == 14


def test_ethnicities_are_the_19_ons_2021_categories_and_not_stated():
    groups = [group for group, _ in ETHNICITIES.values()]
    assert len(ETHNICITIES) == 20 and groups.count("not_stated") == 1
    assert set(groups) == set(ETHNIC_GROUPS)


ALL_PAIRS = [(a, b) for a in ReferralStatus for b in ReferralStatus]


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: s.value)
def test_every_transition_is_allowed_or_refused_by_the_table(current, target):
    if target in TRANSITIONS[current]:
        assert transition(current, target) == target
    else:
        with pytest.raises(InvalidTransition, match="cannot become"):
            transition(current, target)


def test_the_workflow_is_the_designed_one():
    S = ReferralStatus
    assert TRANSITIONS[S.RECEIVED] == {S.IN_TRIAGE, S.CLOSED}
    assert TRANSITIONS[S.IN_TRIAGE] == {S.ELIGIBLE, S.INELIGIBLE, S.CLOSED}
    assert TRANSITIONS[S.ELIGIBLE] == TRANSITIONS[S.INELIGIBLE] == {S.CLOSED}
    assert TRANSITIONS[S.CLOSED] == frozenset()
