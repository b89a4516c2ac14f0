"""GET and HEAD requests only read: they take no write lock while they work,
and the audit events they record (a page viewed, a list shown, a refusal) are
chained after the page is rendered (on SQLite in a short transaction of their
own, on PostgreSQL each one statement, as the read's own statements are run
without a transaction); a page whose audit event cannot be written is never
sent (issue #10: readers must
not queue behind one another)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date

import pytest
from flask import template_rendered
from sqlalchemy import event, func, inspect, select, text

from casework.audit import services as audit
from casework.audit.actions import Action
from casework.audit.models import AuditEvent
from casework.database import ReadOnlyViolation, read_only
from casework.extensions import db
from casework.intake.models import Person
from tests.conftest import PASSWORD, csrf_token, sign_in

# SQLite's write lock; PostgreSQL's chain lock, taken with the head (migration 0014)
LOCKS = ("BEGIN IMMEDIATE", "PG_ADVISORY_XACT_LOCK", "CASEWORK_AUDIT_CHAIN_HEAD")


def _events() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def _statements_around_rendering(app, client, path: str) -> tuple[list[str], list[str]]:
    """The SQL a request sends before its page is rendered, and after."""
    before: list[str] = []
    after: list[str] = []
    rendered: list[bool] = []

    def on_sql(_conn, _cursor, statement, *_args):
        (after if rendered else before).append(statement.strip().upper())

    def on_render(_sender, template, **_extra):
        rendered.append(True)

    event.listen(db.engine, "before_cursor_execute", on_sql)
    template_rendered.connect(on_render, app)
    try:
        response = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", on_sql)
        template_rendered.disconnect(on_render, app)
    assert response.status_code == 200, response.status_code
    return before, after


def test_a_page_takes_the_chain_lock_only_after_it_is_rendered(app, client, login_as,
                                                               make_referral):
    login_as("caseworker")
    person_id = make_referral().person_id
    before, after = _statements_around_rendering(app, client, f"/people/{person_id}")

    assert not [s for s in before if any(lock in s for lock in LOCKS)]
    assert not [s for s in before if "INSERT" in s]
    assert any("INSERT INTO AUDIT_EVENTS" in s for s in after)
    locks = [s for s in after if any(lock in s for lock in LOCKS)]
    assert locks, after  # the audit write itself is still serialised
    assert audit.verify_chain().ok


def test_a_page_view_commits_once_and_on_sqlite_writes_its_event_in_a_transaction_of_its_own(
        app, client, login_as, make_referral, is_postgres):
    # SQLite: the read's snapshot cannot become a writer, so the event is
    # written in a transaction of its own, begun on the same connection once
    # the read is ended. PostgreSQL: the event is one statement, run on its
    # own as the read's are (each reads what is committed when it starts).
    # Either way the session commits once: no second checkout.
    login_as("caseworker")
    person_id = make_referral().person_id
    client.get(f"/people/{person_id}")
    events = _events()
    db.session.commit()
    commits: list[bool] = []

    def on_commit(_conn):
        commits.append(True)

    event.listen(db.engine, "commit", on_commit)
    try:
        _before, after = _statements_around_rendering(app, client, f"/people/{person_id}")
    finally:
        event.remove(db.engine, "commit", on_commit)
    assert len(commits) == 1
    written = [s.split()[0] if not s.startswith("BEGIN") else s for s in after]
    if is_postgres:
        assert written == ["WITH"], after  # lock, head and event in one statement
        assert "CASEWORK_AUDIT_CHAIN_HEAD" in after[0] and "INSERT INTO AUDIT_EVENTS" in after[0]
    else:
        assert written == ["COMMIT", "BEGIN IMMEDIATE", "SELECT", "INSERT"], after
    assert _events() == events + 1 and audit.verify_chain().ok


def test_a_post_still_takes_the_write_lock_first(app, client, make_user, is_postgres):
    if is_postgres:
        pytest.skip("SQLite's BEGIN IMMEDIATE; PostgreSQL locks rows and the chain as it goes")
    user = make_user("lead")
    data = {"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client, "/sign-in")}
    db.session.rollback()
    statements: list[str] = []

    def on_sql(_conn, _cursor, statement, *_args):
        statements.append(statement.strip().upper())

    event.listen(db.engine, "before_cursor_execute", on_sql)
    try:
        assert client.post("/sign-in", data=data).status_code == 302
    finally:
        event.remove(db.engine, "before_cursor_execute", on_sql)
    assert statements[0] == "BEGIN IMMEDIATE", statements[:3]


def test_readers_are_not_held_up_by_a_writer(app, login_as, make_referral, is_postgres):
    """While another connection holds the write lock (SQLite) or the audit
    chain's lock (PostgreSQL), a caseworker's page is still read and rendered;
    only its audit event waits for the lock, and is then written."""
    login_as("caseworker")
    person_id = make_referral().person_id
    client = app.test_client()
    worker = login_as("caseworker", email="reader@example.org")
    assert sign_in(client, worker.email).status_code == 302
    db.session.commit()
    events_before = _events()
    db.session.rollback()

    rendered = threading.Event()

    def on_render(_sender, template, **_extra):
        rendered.set()

    result: dict[str, object] = {}

    def read_page():
        result["status"] = client.get(f"/people/{person_id}").status_code

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    template_rendered.connect(on_render, app)
    if is_postgres:
        holder = db.engine.connect()
        # the key the bulk loads take (casework.demo), and migration 0014's function
        holder.execute(text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": audit._CHAIN_LOCK})
    else:
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    reader = threading.Thread(target=read_page)
    try:
        reader.start()
        assert rendered.wait(timeout=15), "the page waited for the writer's lock"
        assert "status" not in result  # its audit event waits for the lock
    finally:
        if is_postgres:
            holder.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"),
                           {"key": audit._CHAIN_LOCK})
            holder.close()
        else:
            holder.execute("ROLLBACK")
            holder.close()
        template_rendered.disconnect(on_render, app)
        reader.join(timeout=60)
    assert result["status"] == 200
    assert _events() == events_before + 1
    assert audit.verify_chain().ok


def test_a_page_whose_audit_event_cannot_be_written_is_not_sent(app, client, login_as,
                                                                make_referral, monkeypatch):
    login_as("caseworker")
    referral = make_referral(last_name="Unsendable")
    events_before = _events()

    def broken(_connection, _events):
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(audit, "_append_held", broken)
    response = client.get(f"/people/{referral.person_id}")
    assert response.status_code == 500
    assert "Unsendable" not in response.get_data(as_text=True)
    monkeypatch.undo()
    db.session.rollback()
    assert _events() == events_before


def test_a_read_only_request_cannot_write(app):
    with read_only():
        db.session.add(Person(first_name="Never", last_name="Written",
                              date_of_birth=date(2008, 1, 1)))
        with pytest.raises(ReadOnlyViolation):
            db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Person)) == 0


def test_a_read_only_request_cannot_write_without_the_orm_either(app):
    with read_only():
        with pytest.raises(ReadOnlyViolation):
            db.session.execute(text("UPDATE sites SET name = name"))
        db.session.rollback()
        with pytest.raises(ReadOnlyViolation):
            db.session.execute(text("  delete from notes"))
        db.session.rollback()
        # a write after common table expressions (PostgreSQL's data-modifying
        # WITH; on SQLite a WITH before an INSERT), as the audit log's own
        # chained insert is one
        with pytest.raises(ReadOnlyViolation):
            db.session.execute(text("WITH named AS (SELECT 'x' AS name) "
                                    "UPDATE sites SET name = name WHERE id IN (SELECT 0)"))
        db.session.rollback()
        with pytest.raises(ReadOnlyViolation):
            db.session.execute(text("with chain as (select 1 as n)\n"
                                    "insert into notes_never (n) select n from chain"))
        db.session.rollback()
        # reading through common table expressions is still a read
        assert db.session.execute(text(
            "WITH updated_sites AS (SELECT id FROM sites) "
            "SELECT count(*) FROM updated_sites")).scalar_one() > 0
        assert db.session.execute(text("SELECT count(*) FROM sites")).scalar_one() > 0
    db.session.rollback()


def test_events_of_a_read_wait_for_the_commit_and_chain_after_writers(app, now):
    with read_only():
        viewed = audit.record(Action.PERSON_VIEWED, actor=None, now=now, subject_type="person",
                              subject_id=1)
        assert audit.pending() == [viewed] and viewed.hash is None
        assert _events() == 0
        # a writer elsewhere (its own thread, session and connection)
        # commits meanwhile
        written = []

        def writer():
            with app.app_context():
                written.append(audit.record(Action.USER_CREATED, actor=None, now=now))
                db.session.commit()
                written.append(written[0].hash)
                db.session.remove()

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        audit.commit()
    assert audit.pending() == []
    assert len(written) == 2 and viewed.prev_hash == written[1]
    assert audit.verify_chain().ok


def test_several_events_of_a_read_are_chained_in_the_order_recorded(app, now):
    with read_only():
        held = [audit.record(Action.PERSON_VIEWED, actor=None, now=now, subject_type="person",
                             subject_id=n) for n in (1, 2, 3)]
        audit.commit()
    stored = db.session.execute(select(AuditEvent.subject_id, AuditEvent.prev_hash,
                                       AuditEvent.hash).order_by(AuditEvent.id)).all()
    assert [(e.subject_id, e.prev_hash, e.hash) for e in held] == [tuple(r) for r in stored]
    assert stored[1].prev_hash == stored[0].hash and stored[2].prev_hash == stored[1].hash
    assert audit.verify_chain().ok


def test_a_read_leaves_what_it_loaded_as_it_was_and_a_write_expires_it(app, now,
                                                                       make_referral):
    """The end of a read-only request's transaction does not expire the
    objects its page was drawn from (work for nothing); a writer's commit
    does, so what it reads next is fresh."""
    person = db.session.get(Person, make_referral(last_name="Read").person_id)
    db.session.commit()
    with read_only():
        assert person.last_name == "Read"
        audit.record(Action.PERSON_VIEWED, actor=None, now=now, subject_type="person",
                     subject_id=person.id)
        audit.commit()
        assert not inspect(person).expired_attributes
    assert person.last_name == "Read"
    audit.commit()
    assert "last_name" in inspect(person).expired_attributes


def test_a_rolled_back_read_keeps_none_of_its_events(app, now):
    with read_only():
        audit.record(Action.PERSON_VIEWED, actor=None, now=now, subject_type="person",
                     subject_id=1)
        db.session.rollback()
        assert audit.pending() == []
        audit.commit()
    assert _events() == 0


def test_a_held_event_is_stored_as_the_orm_stores_a_writers(app, now, make_user):
    """Held events are sent as the driver's own statements, with the
    columns' bind processors applied by hand: each column must be stored
    exactly as the ORM stores a writer's event (SQLite's timestamp text,
    the detail's JSON), with several events in one statement too."""
    actor = make_user("lead")
    db.session.commit()
    fields = {"actor": actor, "now": now.replace(microsecond=123456), "subject_type": "person",
              "subject_id": 42, "site_id": actor.sites[0].id,
              "detail": {"filters": {"status": "open"}, "page": 2, "searched": True,
                         "name": "Zoë O'Brien", "none": None}}
    with read_only(False):
        audit.record(Action.REFERRAL_LISTED, **fields)
        db.session.commit()
    with read_only():
        audit.record(Action.REFERRAL_LISTED, **fields)
        audit.record(Action.REFERRAL_LISTED, **fields)
        audit.commit()
    # (outside a request each event has an origin of its own)
    columns = ", ".join(c for c in audit._STORED if c not in ("prev_hash", "hash", "request_id"))
    rows = db.session.execute(text(
        f"SELECT {columns} FROM audit_events WHERE action = 'referral:listed' ORDER BY id"  # noqa: S608
    )).all()
    assert len(rows) == 3
    assert rows[0] == rows[1] == rows[2]
    assert audit.verify_chain().ok


@pytest.mark.postgres
def test_on_postgresql_a_read_runs_its_statements_on_their_own_and_a_write_in_a_transaction(
        app, client, login_as, make_referral, post):
    """A read-only request's statements run in autocommit (no BEGIN or
    COMMIT sent: two round trips a page); its event is one statement, atomic
    on its own. A writer's statements run in a transaction, as before, on
    the same pooled connections."""
    login_as("caseworker")
    person_id = make_referral().person_id
    seen: list[tuple[str, bool]] = []

    def on_sql(conn, _cursor, statement, *_args):
        seen.append((statement.split()[0].upper(), conn.connection.dbapi_connection.autocommit))

    events = _events()
    db.session.commit()
    event.listen(db.engine, "before_cursor_execute", on_sql)
    try:
        assert client.get(f"/people/{person_id}").status_code == 200
        read, seen[:] = list(seen), []
        response = post(f"/people/{person_id}/notes/new", {
            "kind": "case_note", "body": "Met at school", "restricted": ""})
        assert response.status_code == 302
    finally:
        event.remove(db.engine, "before_cursor_execute", on_sql)
    assert read and all(autocommit for _, autocommit in read), read
    assert ("WITH", True) in read  # the page view's event
    assert _events() == events + 2  # the view, and the note's
    written = [s for s in seen if s[0] in ("INSERT", "UPDATE")]
    assert written and not any(autocommit for _, autocommit in written), seen
    assert audit.verify_chain().ok


@pytest.mark.postgres
def test_on_postgresql_several_events_of_a_read_are_written_all_or_none(app, now):
    """One event is one statement; several are written in one transaction,
    so a failure part way keeps none of them."""
    sent: list[str] = []

    def fail_the_second(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("WITH"):
            sent.append(statement)
            if len(sent) == 2:
                raise RuntimeError("the second event cannot be written")

    before = _events()
    db.session.commit()
    event.listen(db.engine, "before_cursor_execute", fail_the_second)
    try:
        with read_only():
            db.session.execute(text("SELECT 1"))  # a read's connection, as a page's
            assert db.session.connection().connection.dbapi_connection.autocommit
            for n in (1, 2):
                audit.record(Action.PERSON_VIEWED, actor=None, now=now, subject_type="person",
                             subject_id=n)
            with pytest.raises(RuntimeError):
                audit.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", fail_the_second)
    assert len(sent) == 2 and _events() == before
    assert audit.verify_chain().ok


@pytest.mark.postgres
def test_on_postgresql_a_writer_after_a_read_on_its_connection_runs_in_a_transaction(app, now):
    """Nothing does this in service (a request is a reader or a writer), but
    should writers' code run on a connection a read put in autocommit, its
    locks last to the commit and a rollback undoes its event (found by
    review: the chain's lock ended with its statement)."""
    from casework.database import lock_for_update

    before = _events()
    db.session.commit()
    with read_only():
        db.session.execute(text("SELECT 1"))
        assert db.session.connection().connection.dbapi_connection.autocommit
        with read_only(False):
            lock_for_update(db.session, "test:resource")
            audit.record(Action.USER_CREATED, actor=None, now=now)
            locks = db.session.scalar(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid()"))
    assert locks == 2  # the resource's and the chain's, held
    db.session.rollback()
    assert _events() == before


@pytest.mark.postgres
def test_on_postgresql_a_read_gives_its_connection_back_to_the_pool_in_transactions(app):
    from sqlalchemy import create_engine

    from casework.database import configure_postgresql

    engine = create_engine(db.engine.url, pool_size=1, max_overflow=0)
    configure_postgresql(engine)
    try:
        with read_only(), engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            assert connection.connection.dbapi_connection.autocommit
        raw = engine.raw_connection()  # the same connection, no transaction begun on it
        try:
            assert raw.dbapi_connection.autocommit is False
        finally:
            raw.close()
        with engine.connect() as connection:  # a writer's begins in a transaction
            connection.execute(text("SELECT 1"))
            assert connection.connection.dbapi_connection.autocommit is False
            assert connection.connection.dbapi_connection.info.transaction_status != 0
    finally:
        engine.dispose()


@pytest.fixture
def viewing_routes(app):
    """Routes that record a view and then fail in the ways a page can."""
    from flask import abort

    def view_then_abort():
        audit.viewed(Action.DASHBOARD_VIEWED)
        abort(400)  # an error page is sent, not the page viewed

    def view_commit_then_422():
        audit.viewed(Action.DASHBOARD_VIEWED)
        db.session.commit()
        return "sent back with its errors", 422

    def view_then_422():
        audit.viewed(Action.DASHBOARD_VIEWED)
        return "sent back with its errors", 422

    for view in (view_then_abort, view_commit_then_422, view_then_422):
        app.add_url_rule(f"/test/{view.__name__}", view.__name__, view,
                         methods=["GET", "POST"])


def _views_recorded(client, method: str, path: str) -> list[str]:
    token = csrf_token(client)
    last = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    db.session.commit()
    if method == "GET":
        client.get(path)
    else:
        client.post(path, data={"csrf_token": token})
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.id > last)).all()
    db.session.commit()
    return list(actions)


@pytest.mark.own_app  # routes of its own
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_what_a_page_showed_is_recorded_once_if_that_page_is_sent(
        viewing_routes, client, login_as, method):
    """A page sent back with its errors (4xx) is audited as viewed, once,
    even if the request had committed before; an error page drawn instead
    of the page records no view (found by review: a 400 or a 413 raised
    after a view wrote it)."""
    login_as("lead", ("coventry",))
    assert _views_recorded(client, method, "/test/view_then_422") == ["dashboard:viewed"]
    assert _views_recorded(client, method, "/test/view_commit_then_422") == [
        "dashboard:viewed"]
    assert _views_recorded(client, method, "/test/view_then_abort") == []
    assert audit.verify_chain().ok
