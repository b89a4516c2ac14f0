"""The read replica on PostgreSQL: the test database itself, reached as a
role that can only read (every transaction of its read-only, as a hot
standby's are), so a write that strayed to the replica is refused there,
where test_replica.py's SQLite "replica" would take it (found by review:
nothing tested a PostgreSQL replica)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from casework.audit import services as audit
from casework.audit.models import AuditEvent
from casework.database import REPLICA
from casework.extensions import db
from tests.conftest import csrf_token, sign_in

pytestmark = pytest.mark.postgres

READER = "casework_test_reader"
READER_PASSWORD = "reads-the-test-database-only"


@pytest.fixture
def read_only_replica_url(migrated) -> str:
    engine = create_engine(migrated)
    try:
        with engine.connect() as conn:
            # (a role is the server's: another run may make it at the same moment)
            conn.execute(text(f"""DO $$ BEGIN
                CREATE ROLE {READER} LOGIN;
                EXCEPTION WHEN duplicate_object THEN NULL; END $$"""))
            # a password, for a server that asks for one over TCP
            conn.execute(text(f"ALTER ROLE {READER} PASSWORD '{READER_PASSWORD}'"))
            database = conn.execute(text("SELECT current_database()")).scalar_one()
            conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {READER}'))
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {READER}"))
            conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}"))
            conn.execute(text(f"ALTER ROLE {READER} SET default_transaction_read_only = on"))
            conn.commit()
    finally:
        engine.dispose()
    return make_url(migrated).set(username=READER, password=READER_PASSWORD) \
        .render_as_string(hide_password=False)


@pytest.fixture
def app(make_app, read_only_replica_url):
    # k of 1: the rows of the two people randomised are written, read on the replica
    app = make_app(REPLICA_DATABASE_URL=read_only_replica_url, EXTRACT_MIN_K=1)
    with app.app_context():
        yield app
        db.session.remove()
        db.engines[REPLICA].dispose()


def test_every_replica_read_runs_as_a_role_that_can_only_read(app, randomised, make_user,
                                                              tmp_path):
    """The pages and commands the deployment guide sends to the replica each
    answer, their audit events are written on the primary, and the chain
    holds."""
    with db.engines[REPLICA].connect() as conn:  # the role cannot write
        assert conn.execute(text("SHOW transaction_read_only")).scalar_one() == "on"
    randomised("treatment")
    trial_id = db.session.execute(text("SELECT id FROM trials")).scalar_one()
    people = db.session.execute(text("SELECT count(*) FROM allocations")).scalar_one()
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    db.session.commit()

    lead = make_user("lead", ("coventry", "wolverhampton"), email="replica-lead@example.org")
    client = app.test_client()
    assert sign_in(client, lead.email).status_code == 302
    for path in ("/dashboard", "/caseload"):
        assert client.get(path).status_code == 200, path

    evaluator = make_user("evaluator", (), email="replica-evaluator@example.org")
    client = app.test_client()
    assert sign_in(client, evaluator.email).status_code == 302
    for path in (f"/extracts?trial={trial_id}&unit=person&level=1&format=csv&key=project",
                 f"/extracts/aggregates?trial={trial_id}",
                 f"/extracts/consort.svg?trial={trial_id}",
                 f"/extracts/consort.json?trial={trial_id}"):
        assert client.get(path).status_code == 200, path
    download = client.post("/extracts/download", data={
        "csrf_token": csrf_token(client), "trial": str(trial_id), "unit": "person",
        "level": "1", "format": "csv", "key": "project"})
    assert download.status_code == 200
    assert download.get_data().count(b"\n") == 1 + people  # the header and each person

    runner = app.test_cli_runner()
    for args in (["export", "cohort", "--out", str(tmp_path / "cohort.csv")],
                 ["export", "consort", "--out", str(tmp_path / "consort.svg")]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (args, result.output)

    db.session.rollback()
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)
                                 .offset(before)).all()
    # the CONSORT pages, the download and the two commands
    assert actions.count("export:created") == 5
    assert {"dashboard:viewed", "caseload:viewed"} <= set(actions)
    assert audit.verify_chain().ok
