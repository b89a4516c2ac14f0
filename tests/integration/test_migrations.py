"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from casework.database import include_object
from casework.extensions import db


def test_models_and_migrations_agree(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_the_seven_sites_are_seeded_with_two_trial_sites(app):
    from casework.accounts.services import all_sites

    sites = {site.key: site.is_trial_site for site in all_sites()}
    assert sites == {
        "birmingham": False, "coventry": True, "dudley": False, "sandwell": False,
        "solihull": False, "walsall": False, "wolverhampton": True,
    }


def test_the_notes_search_index_is_kept_in_step_at_head(app, make_referral, make_user):
    """SQLite: the FTS5 index of migration 0010 and its three triggers exist
    (a later migration that rebuilt the notes table would drop them), and the
    index agrees with the notes after a note is added, amended and deleted."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from casework.notes import services
    from casework.notes.services import NoteContent

    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's index; PostgreSQL searches through its GIN index (migration 0006)")
    triggers = set(db.session.scalars(text(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'notes'")))
    assert {"notes_fts_insert", "notes_fts_update", "notes_fts_delete"} <= triggers

    def in_step():
        # FTS5 compares its index with the notes table itself ('rank' = 1)
        db.session.execute(text(
            "INSERT INTO notes_fts (notes_fts, rank) VALUES ('integrity-check', 1)"))

    person = make_referral("coventry").person
    author = make_user("caseworker", ("coventry",))
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    note = services.add_note(person, "case_note", NoteContent("Seen at the bus station"),
                             restricted=False, actor=author, now=now)
    db.session.flush()
    in_step()
    services.amend_note(note, NoteContent("Seen at the railway station"), "Wrong place",
                        actor=author, now=now)
    db.session.flush()
    in_step()
    db.session.execute(text("DELETE FROM note_revisions"))
    db.session.execute(text("DELETE FROM notes"))
    in_step()
    db.session.rollback()
