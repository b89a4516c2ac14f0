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


def test_migration_0023_leaves_earlier_decisions_claiming_no_facts(
        client, login_as, make_trial, make_referral, triage_referral):
    """A triage decided before migration 0023 has no facts kept with its
    decision (null): its page shows the record as it is now, as before, and
    claims nothing of what the decision was made on."""
    from datetime import UTC, datetime

    from casework.triage import services
    from casework.triage.models import Triage
    from tests.conftest import load_migration, run_migration_step

    make_trial()
    lead = login_as("lead", ("coventry",))
    triage = services.decide(triage_referral(make_referral("coventry")), "eligible", None,
                             actor=lead, now=datetime(2026, 11, 20, 12, tzinfo=UTC),
                             key=b"test-trial-key")
    db.session.commit()
    triage_id = triage.id
    migration = load_migration("0023")
    run_migration_step(migration.downgrade)
    run_migration_step(migration.upgrade)
    db.session.expire_all()
    assert db.session.get(Triage, triage_id).decision_facts is None
    shown = client.get(f"/triage/{triage_id}").get_data(as_text=True)
    assert "when decided" not in shown and "now says" not in shown
    assert "Date of birth" in shown and "1 January 2008" in shown


def test_migration_0024_ships_the_exclusions_the_rules_held(app, make_referral,
                                                            triage_referral):
    """Migration 0024's table holds the four exclusions cirv.py held, with
    the same keys and titles, offered: triages recorded before read as they
    did. Downgraded, the table goes and triages keep their keys; upgraded
    again, it is back as shipped."""
    from sqlalchemy import inspect, select

    from casework.eligibility.cirv import DEFAULT_EXCLUSIONS
    from casework.triage.models import Exclusion, Triage
    from tests.conftest import load_migration, run_migration_step

    triage_id = triage_referral(make_referral("coventry"), exclusions=["mappa_managed"]).id
    migration = load_migration("0024")
    run_migration_step(migration.downgrade)
    assert "exclusions" not in inspect(db.engine).get_table_names()
    run_migration_step(migration.upgrade)
    db.session.expire_all()
    shipped = db.session.scalars(select(Exclusion).order_by(Exclusion.id)).all()
    assert [(e.key, e.title, e.offered) for e in shipped] == [
        (key, title, True) for key, title in DEFAULT_EXCLUSIONS.items()]
    assert all(e.created_at.tzinfo is not None for e in shipped)
    assert db.session.get(Triage, triage_id).exclusions == ["mappa_managed"]


def test_migration_0025_lets_a_proposal_lapse(app, randomised, make_user):
    """Migration 0025's CHECK constraint takes 'lapsed' (SQLite copies the
    table to change it, its partial unique index of a pending proposal
    with it). Downgraded, a lapsed proposal reads rejected, the status
    before it that says the same (decided against, it moved no one), its
    note kept; upgraded again, a proposal lapses as before."""
    from datetime import UTC, date, datetime

    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from casework.pathways import services
    from casework.pathways.models import PathwayProposal
    from tests.conftest import load_migration, run_migration_step

    worker = make_user("caseworker", ("coventry",))
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    person = randomised("treatment")
    services.move(person, services.MoveRequest("engaged", date(2026, 6, 10)), actor=worker,
                  now=now)
    first = services.move(person, services.MoveRequest("disruption", date(2026, 7, 1),
                                                       rationale="Active"), actor=worker, now=now)
    services.move(person, services.MoveRequest("at_risk_monitoring", date(2026, 7, 5)),
                  actor=worker, now=now)
    second = services.move(person, services.MoveRequest("disruption", date(2026, 7, 6),
                                                        rationale="Active"), actor=worker, now=now)
    first_id, second_id, note = first.id, second.id, first.decision_note
    migration = load_migration("0025")
    run_migration_step(migration.downgrade)
    db.session.expire_all()
    assert db.session.get(PathwayProposal, first_id).status == "rejected"
    assert db.session.get(PathwayProposal, first_id).decision_note == note
    assert db.session.get(PathwayProposal, second_id).status == "pending"
    with pytest.raises(IntegrityError):  # the constraint as it was
        db.session.execute(update(PathwayProposal).where(PathwayProposal.id == second_id)
                           .values(status="lapsed"))
    db.session.rollback()
    run_migration_step(migration.upgrade)
    db.session.expire_all()
    services.move(person, services.MoveRequest("exited", date(2026, 7, 7), "custody"),
                  actor=worker, now=now)
    db.session.commit()
    assert db.session.get(PathwayProposal, second_id).status == "lapsed"
    # still one pending proposal a person at most (the index copied with the table)
    services.move(person, services.MoveRequest("engaged", date(2026, 7, 8),
                                               rationale="Released"),
                  actor=make_user("lead", ("coventry",)), now=now)
    services.move(person, services.MoveRequest("disruption", date(2026, 7, 9),
                                               rationale="Active"), actor=worker, now=now)
    db.session.flush()
    with pytest.raises(IntegrityError):
        db.session.add(PathwayProposal(
            person_id=person.id, allocation_id=second.allocation_id, site_id=second.site_id,
            from_pathway="engaged", to_pathway="disruption", effective_date=date(2026, 7, 9),
            rationale="Again", proposed_by_id=worker.id, proposed_at=now))
        db.session.flush()
    db.session.rollback()
