"""Admins adding C5 exclusions at the same moment, on PostgreSQL (on SQLite
every writer already holds the database write lock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from casework.accounts.models import User
from casework.extensions import db
from casework.triage import exclusions
from casework.triage.models import Exclusion
from tests.integration.test_accounts_races import _together

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _add(admin_id, title):
    def call():
        try:
            return exclusions.add_exclusion(title, actor=db.session.get(User, admin_id), now=NOW)
        except exclusions.ExclusionError as error:  # what the form shows
            return error.problems
    return call


def test_two_admins_adding_one_title_at_once(app, make_user):
    """Each would find the title and its key free before the other's commit:
    the second's insert met the first's key in the unique index, a 500.
    The second waits for the first, then is told the title is taken."""
    one, two = make_user("admin", ()).id, make_user("admin", ()).id
    outcomes = _together(app, _add(one, "Subject to a gang injunction"),
                         _add(two, "Subject to a gang injunction"))
    assert isinstance(outcomes[0], Exclusion), outcomes
    assert outcomes[1] == {"title": "An exclusion with this title already exists"}, outcomes


def test_two_titles_of_one_key_added_at_once_get_two_keys(app, make_user):
    one, two = make_user("admin", ()).id, make_user("admin", ()).id
    outcomes = _together(app, _add(one, "MAPPA level 1"), _add(two, "MAPPA level-1"))
    assert all(isinstance(o, Exclusion) for o in outcomes.values()), outcomes
    db.session.expire_all()
    assert set(db.session.scalars(select(Exclusion.key).where(
        Exclusion.key.like("mappa_level%")))) == {"mappa_level_1", "mappa_level_1_2"}
