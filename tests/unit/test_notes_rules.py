"""When a treated person's contact is overdue (no app, no database)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from casework.notes.reference import DEFAULT_CONTACT_DAYS, overdue

TODAY = date(2026, 11, 21)


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


@pytest.mark.parametrize(("pathway", "since", "last", "expected"), [
    ("engaged", days_ago(14), None, None),                 # exactly 14 days: not yet
    ("engaged", days_ago(15), None, (15, 1)),
    ("engaged", days_ago(100), days_ago(14), None),
    ("engaged", days_ago(100), days_ago(20), (20, 6)),
    ("at_risk_monitoring", days_ago(28), None, None),
    ("at_risk_monitoring", days_ago(40), days_ago(29), (29, 1)),
    ("engaged", days_ago(3), days_ago(60), None),          # the clock restarts on a move
    ("awaiting_offer", days_ago(300), None, None),         # no expectation
    ("disruption", days_ago(300), None, None),
    ("exited", days_ago(300), None, None),
])
def test_overdue(pathway, since, last, expected):
    result = overdue(pathway, since, last, TODAY, DEFAULT_CONTACT_DAYS)
    if expected is None:
        assert result is None
    else:
        assert (result.days_since, result.days_over) == expected
        assert result.last_contact == last


def test_thresholds_are_configurable():
    assert overdue("engaged", days_ago(8), None, TODAY, {"engaged": 7}).days_over == 1
    assert overdue("engaged", days_ago(8), None, TODAY, {}) is None
