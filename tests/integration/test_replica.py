"""A read replica (REPLICA_DATABASE_URL) serves the dashboards' and the
extracts' reads; everything written (audit events included) and the audit
chain's head stay on the primary.

The "replica" here is a second database migrated from the same schema but
holding none of the primary's records, as a replica lagging far behind would:
what a page shows then says which database it read."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import create_engine, func, select, text

from casework.audit import services as audit
from casework.audit.actions import Action
from casework.audit.models import AuditEvent
from casework.database import REPLICA, from_replica
from casework.extensions import db
from casework.intake.models import Referral
from tests.conftest import base_config


@pytest.fixture
def replica_url(tmp_path) -> str:
    from flask_migrate import upgrade

    from casework import create_app

    url = f"sqlite:///{tmp_path / 'replica.db'}"
    replica_app = create_app(base_config(url))
    with replica_app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def app(make_app, replica_url):
    app = make_app(REPLICA_DATABASE_URL=replica_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engines[REPLICA].dispose()


def _on_replica(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_the_dashboard_reads_the_replica_and_audits_on_the_primary(app, client, login_as,
                                                                   make_referral, replica_url):
    for _ in range(3):
        make_referral(referral_date=date(2026, 11, 2))
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 3
    login_as("lead")
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    db.session.rollback()

    page = client.get("/dashboard").get_data(as_text=True)
    assert "26 weeks, 0 in all" in page  # the replica holds no referrals yet

    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events + 1
    assert db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id.desc())
                              .limit(1)).one() == "dashboard:viewed"
    assert audit.verify_chain().ok
    assert _on_replica(replica_url, "SELECT count(*) FROM audit_events") == 0


def test_without_a_replica_the_dashboard_reads_the_primary(make_app, make_referral, login_as,
                                                           dashboard_on_21_november_2026):
    # the same page on an app with no replica configured
    plain = make_app()
    for _ in range(3):
        make_referral(referral_date=date(2026, 11, 2))
    with plain.app_context():
        client = plain.test_client()
        lead = login_as("lead", email="plain-lead@example.org")
        from tests.conftest import sign_in

        assert sign_in(client, lead.email).status_code == 302
        assert "26 weeks, 3 in all" in client.get("/dashboard").get_data(as_text=True)


def test_the_cli_extract_reads_the_replica_and_is_recorded_on_the_primary(
        app, runner, randomised, tmp_path, replica_url):
    randomised("treatment")
    out = tmp_path / "cohort.csv"
    result = runner.invoke(args=["export", "cohort", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().count("\n") == 1  # the header only: the replica has no one yet
    assert db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action == "export:created")).one()
    assert _on_replica(replica_url, "SELECT count(*) FROM audit_events") == 0
    assert audit.verify_chain().ok



def test_the_cli_consort_export_reads_the_replica_and_is_recorded_on_the_primary(
        app, runner, randomised, tmp_path, replica_url):
    """The CONSORT pages counted on the replica, `export consort` on the
    primary, though the deployment guide sends both to the replica (found by
    review)."""
    import json

    randomised("treatment")
    out = tmp_path / "consort.svg"
    result = runner.invoke(args=["export", "consort", "--out", str(out)])
    assert result.exit_code == 0, result.output
    counts = json.loads((tmp_path / "consort.json").read_text())
    assert counts["randomised"] == 0  # the replica has no one yet (the primary has)
    assert db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action == "export:created")).one()
    assert _on_replica(replica_url, "SELECT count(*) FROM audit_events") == 0
    assert audit.verify_chain().ok

def test_a_download_is_recorded_against_its_user_as_the_primary_knows_them(
        app, client, login_as, post, randomised, replica_url):
    """The replica has no trial and no such user yet (a new account, a lagging
    replica): the rows come from the replica, but the trial's sites and the
    person who downloaded are read on the primary."""
    randomised("treatment")
    trial_id = db.session.execute(text("SELECT id FROM trials")).scalar_one()
    evaluator = login_as("evaluator", ())
    response = post("/extracts/download", {"trial": str(trial_id), "unit": "person",
                                           "level": "1", "format": "csv", "key": "project"})
    assert response.status_code == 200
    assert response.get_data().count(b"\n") == 1  # the header: the replica has no rows yet
    db.session.expire_all()
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "export:created")).one()
    assert (event.actor_id, event.actor_role) == (evaluator.id, "evaluator")
    assert audit.verify_chain().ok


def test_writes_and_the_chain_head_never_go_to_the_replica(app, now, replica_url):
    with from_replica():
        first = audit.record(Action.USER_CREATED, actor=None, now=now).hash
        db.session.commit()
        second = audit.record(Action.USER_CREATED, actor=None, now=now).prev_hash
        db.session.commit()
        assert second == first  # linked to the primary's head, not the replica's
        # a plain read in the block does come from the replica
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 2
    assert _on_replica(replica_url, "SELECT count(*) FROM audit_events") == 0
    assert audit.verify_chain().ok


def test_rows_of_columns_are_read_where_the_session_would_read_them(app, make_referral):
    """``column_rows`` (a page's statements of columns, run without the ORM's
    layers) reads the replica inside ``from_replica`` and the primary outside
    it, as ``session.execute`` does."""
    from casework.database import column_rows

    make_referral(referral_date=date(2026, 11, 2))
    count = select(func.count()).select_from(Referral)
    assert column_rows(count).scalar() == db.session.execute(count).scalar() == 1
    with from_replica():
        assert column_rows(count).scalar() == db.session.execute(count).scalar() == 0
