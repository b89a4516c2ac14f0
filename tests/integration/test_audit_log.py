"""The audit log on a real database: same-transaction writes, verify, head,
concurrent writers, and PostgreSQL's refusal to change history."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from casework.audit import chain
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.audit.models import AuditEvent
from casework.database import read_only
from casework.extensions import db


def write_events(count: int, now) -> list[AuditEvent]:
    """Commit ``count`` events; return them detached, their values loaded."""
    events = [
        audit.record(Action.USER_UPDATED, actor=None, now=now, subject_type="user",
                     subject_id=i, detail={"role": {"before": "lead", "after": "admin"}})
        for i in range(count)
    ]
    db.session.commit()
    for event in events:
        db.session.refresh(event)
    db.session.expunge_all()
    db.session.rollback()  # end the read transaction (and SQLite's lock) it took
    return events


def tamper(sql: str, **params) -> None:
    """Change stored events behind the application's back, as an attacker would."""
    db.session.rollback()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(sql), params)


def test_events_link_into_one_chain(app, now):
    events = write_events(3, now)
    assert events[0].prev_hash == "0" * 64
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert audit.verify_chain().ok


def test_event_rolls_back_with_the_change(app, now):
    write_events(1, now)
    audit.record(Action.USER_CREATED, actor=None, now=now)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_events_are_read_in_order_across_batches_and_reading_can_stop_early(app, now):
    events = write_events(7, now)
    read = [e.id for e in audit.stored_events(batch_size=2)]
    assert read == [e.id for e in events]
    for _ in range(3):  # stop after one event, with the next batches being fetched
        first = next(iter(audit.stored_events(batch_size=1)))
        assert first.id == events[0].id
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 7


def test_a_database_error_while_reading_ahead_reaches_the_reader(app, now, monkeypatch):
    write_events(2, now)
    monkeypatch.setattr(audit, "_verify_query", lambda dialect: "SELECT no_such_column "
                        "FROM audit_events WHERE id >= %s AND id <= %s LIMIT %s"
                        if dialect == "postgresql" else "SELECT no_such_column "
                        "FROM audit_events WHERE id >= ? AND id <= ? LIMIT ?")
    with pytest.raises(Exception, match="no_such_column"):
        list(audit.stored_events())
    db.session.rollback()


@pytest.mark.parametrize("damage", [
    "none", "edit in the second stretch", "delete the first of the second stretch",
    "delete the last of the first stretch", "edit in the first stretch and the last",
    "delete the last event",
])
def test_a_chain_checked_in_stretches_at_once_is_judged_as_one_walk(app, now, monkeypatch,
                                                                    damage):
    """Nine events in three stretches of three (PARALLEL_FROM lowered), two
    of them checked by forked processes: whatever was done to the chain,
    with or without an anchor, the verdict is the single walk's."""
    events = write_events(9, now)
    ids = [e.id for e in events]
    edit = "UPDATE audit_events SET subject_id = 'x' WHERE id = :id"
    delete = "DELETE FROM audit_events WHERE id = :id"
    for sql, index in {
        "none": [],
        "edit in the second stretch": [(edit, 4)],
        "delete the first of the second stretch": [(delete, 3)],
        "delete the last of the first stretch": [(delete, 2)],
        "edit in the first stretch and the last": [(edit, 1), (edit, 7)],
        "delete the last event": [(delete, 8)],
    }[damage]:
        tamper(sql, id=ids[index])
    monkeypatch.setattr(audit, "PARALLEL_FROM", 1)
    parallel = []
    in_parallel = audit._in_parallel
    monkeypatch.setattr(audit, "_in_parallel", lambda engine, *args: parallel.append(
        (args[0], db.session().in_transaction(), engine.pool.checkedout(),
         engine.pool.checkedin())) or in_parallel(engine, *args))
    for anchor in (None, chain.Anchor(ids[7], events[7].hash),
                   chain.Anchor(ids[8], events[8].hash), chain.Anchor(ids[4], "0" * 64)):
        one_walk = audit.verify_chain(anchor)
        db.session.rollback()
        at_once = audit.verify_chain(anchor, processes=3)
        db.session.rollback()
        assert at_once == one_walk, (damage, anchor)
    bounds, in_transaction, checked_out, idle = parallel[-1]
    assert len(bounds) == 3  # three stretches
    # no connection carried across the fork (SQLite's locks are per process)
    assert (in_transaction, checked_out, idle) == (False, 0, 0)
    assert (one_walk.ok, at_once.checked) == (False, {
        "none": 4, "edit in the second stretch": 4, "delete the first of the second stretch": 3,
        "delete the last of the first stretch": 2, "edit in the first stretch and the last": 1,
        "delete the last event": 4}[damage])


def test_what_follows_a_bad_stretch_is_never_judged(app, now, monkeypatch):
    """A walk stops at the first bad event; so must the stretches: a later
    one that cannot even be read does not hide the earlier verdict."""
    events = write_events(9, now)
    tamper("UPDATE audit_events SET subject_id = 'x' WHERE id = :id", id=events[4].id)
    if db.engine.dialect.name == "sqlite":
        tamper("UPDATE audit_events SET detail = 'not json' WHERE id = :id", id=events[7].id)
    else:  # a JSON text PostgreSQL keeps, which Python cannot encode to check
        tamper("UPDATE audit_events SET detail = CAST(:detail AS json) WHERE id = :id",
               id=events[7].id, detail='{"a": "\\ud800"}')
    one_walk = audit.verify_chain()
    db.session.rollback()
    monkeypatch.setattr(audit, "PARALLEL_FROM", 1)
    assert audit.verify_chain(processes=3) == one_walk
    assert (one_walk.ok, one_walk.bad_event_id, one_walk.checked) == (False, events[4].id, 4)


@pytest.mark.parametrize("processes", [1, 3])
def test_an_event_forged_with_an_id_below_the_first_is_caught(app, now, monkeypatch,
                                                             processes):
    """Every stored row is walked, whatever its id: one placed before the
    chain's first event breaks it there."""
    write_events(9, now)
    tamper("INSERT INTO audit_events (id, occurred_at, actor_role, action, detail, "
           "request_id, prev_hash, hash) SELECT -1, occurred_at, actor_role, action, detail, "
           "request_id, :prev, :digest FROM audit_events ORDER BY id LIMIT 1",
           prev="f" * 64, digest="e" * 64)
    monkeypatch.setattr(audit, "PARALLEL_FROM", 1)
    result = audit.verify_chain(processes=processes)
    db.session.rollback()
    assert (result.ok, result.bad_event_id, result.checked) == (False, -1, 0)


def test_verify_reads_without_stopping_writers(app, now, monkeypatch):
    """On SQLite a writer's transaction would hold the write lock for the
    whole check; verify's transactions are readers', on PostgreSQL too. A
    writer takes the lock while the chain is being walked, and the reader's
    transaction verify began is over when it returns."""
    from sqlalchemy import create_engine

    write_events(3, now)
    walk = chain.verify
    wrote = []

    def walk_while_writing(*args, **kwargs):
        assert db.session().in_transaction()  # verify's own, open during the walk
        other = create_engine(db.engine.url, connect_args={"timeout": 0.2}
                              if db.engine.dialect.name == "sqlite" else {})
        try:
            with read_only(False), other.begin() as conn:  # a writer elsewhere
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")  # fails while a writer holds it
                conn.execute(text("UPDATE users SET display_name = display_name WHERE id < 0"))
            wrote.append(True)
        finally:
            other.dispose()
        return walk(*args, **kwargs)

    monkeypatch.setattr(chain, "verify", walk_while_writing)
    assert audit.verify_chain().ok
    assert wrote == [True]
    assert not db.session().in_transaction()
    # a caller's own transaction is the caller's: left open, what it holds kept
    monkeypatch.setattr(chain, "verify", walk)
    audit.record(Action.USER_UPDATED, actor=None, now=now, subject_type="user", subject_id=9)
    assert audit.verify_chain().ok and db.session().in_transaction()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 4


def test_verify_command_checks_in_stretches_when_asked(app, runner, now, monkeypatch):
    write_events(6, now)
    monkeypatch.setattr(audit, "PARALLEL_FROM", 1)
    result = runner.invoke(args=["audit", "verify", "--processes", "2"])
    assert result.exit_code == 0, result.output
    assert "intact: 6 events" in result.output
    refused = runner.invoke(args=["audit", "verify", "--processes", "0"])
    assert refused.exit_code == 2 and "--processes" in refused.output


def test_verify_command_passes_on_an_intact_chain(app, runner, now):
    write_events(3, now)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 3 events" in result.output


def test_verify_names_an_edited_event(app, runner, now):
    events = write_events(4, now)
    tamper("UPDATE audit_events SET subject_id = '999' WHERE id = :id", id=events[2].id)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"broken at event {events[2].id}" in result.output
    assert "field was changed" in result.output


def test_verify_names_the_event_after_a_deleted_one(app, runner, now):
    events = write_events(4, now)
    tamper("DELETE FROM audit_events WHERE id = :id", id=events[1].id)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"broken at event {events[2].id}" in result.output


def test_verify_catches_a_reordered_pair(app, runner, now):
    events = write_events(4, now)
    first, second = events[1], events[2]
    columns = ("occurred_at", "subject_id", "request_id", "prev_hash", "hash")
    rows = {
        e.id: db.session.execute(
            select(*[getattr(AuditEvent, c) for c in columns]).where(AuditEvent.id == e.id)
        ).one()
        for e in (first, second)
    }
    # Swap the two events' contents; unique hashes need a parking value first.
    tamper("UPDATE audit_events SET prev_hash = 'x', hash = 'y' WHERE id = :id", id=first.id)
    for target, source in ((second.id, first.id), (first.id, second.id)):
        values = dict(zip(columns, rows[source], strict=True))
        tamper(
            "UPDATE audit_events SET occurred_at = :occurred_at, subject_id = :subject_id, "
            "request_id = :request_id, prev_hash = :prev_hash, hash = :hash WHERE id = :id",
            id=target, **values,
        )
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"broken at event {first.id}" in result.output


def test_head_and_anchor(app, runner, now):
    write_events(3, now)
    head = runner.invoke(args=["audit", "head"]).output.strip()
    assert runner.invoke(args=["audit", "verify", "--anchor", head]).exit_code == 0
    ident = head.split(":")[0]
    wrong = runner.invoke(args=["audit", "verify", "--anchor", f"{ident}:{'0' * 64}"])
    assert wrong.exit_code == 1
    assert "recorded anchor" in wrong.output


def test_anchor_catches_events_removed_from_the_end(app, runner, now):
    events = write_events(3, now)
    head = runner.invoke(args=["audit", "head"]).output.strip()
    tamper("DELETE FROM audit_events WHERE id = :id", id=events[-1].id)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0  # undetectable alone
    result = runner.invoke(args=["audit", "verify", "--anchor", head])
    assert result.exit_code == 1
    assert "no longer in the chain" in result.output


@pytest.mark.parametrize("anchor", ["latest", "", " "])
def test_malformed_anchor_is_a_usage_error(app, runner, anchor):
    # an empty one too: `--anchor "$(cat head.txt)"` with the file lost once
    # reported the chain intact, having checked no anchor
    result = runner.invoke(args=["audit", "verify", "--anchor", anchor])
    assert result.exit_code == 2
    assert "ID:HASH" in result.output


def test_head_of_an_empty_log(app, runner):
    result = runner.invoke(args=["audit", "head"])
    assert result.exit_code == 1
    assert "empty" in result.output


@pytest.mark.parametrize("reads", [False, True, None], ids=["writers", "page views", "both"])
def test_concurrent_writers_keep_one_total_order(app, reads):
    """Each event links to the one committed before it, however many append
    at once: writers (whose events are chained as recorded) and page views
    (whose events are chained at the commit), each taking the chain's lock
    and reading its head (on PostgreSQL in one call, migration 0014)."""
    writers, per_writer = 6, 15
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def work(n: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                page = reads if reads is not None else n % 2 == 0  # both: half and half
                for i in range(per_writer):
                    with read_only(page):
                        if page:  # a page reads before it records its view
                            db.session.execute(select(AuditEvent.id).limit(1)).all()
                        audit.record(Action.USER_UPDATED, actor=None, now=datetime.now(UTC),
                                     subject_type="user", subject_id=f"{n}-{i}")
                        audit.commit()
                db.session.remove()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    total = writers * per_writer
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == total
    distinct_prev = db.session.scalar(select(func.count(func.distinct(AuditEvent.prev_hash))))
    assert distinct_prev == total
    result = audit.verify_chain()
    assert result.ok and result.checked == total


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'auth:login'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
def test_postgres_refuses_to_change_audit_events(app, now, statement):
    write_events(1, now)
    # (TRUNCATE is refused first for the events' site index referring to them)
    refused = "append-only|referenced in a foreign key constraint"
    with pytest.raises(DBAPIError, match=refused), db.engine.begin() as conn:
        conn.execute(text(statement))
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(statement.replace("TRUNCATE audit_events",
                                            "TRUNCATE audit_events CASCADE")))
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_json_columns_are_read_by_the_fast_parser_with_the_standard_ones_values(app, now):
    """Both engines read JSON columns with ``database.load_json`` (orjson,
    falling back to the standard parser): what is read back is what was
    written, an integer past 64 bits included, which orjson refuses."""
    import json

    from casework.database import load_json

    assert db.engine.dialect._json_deserializer is load_json
    detail = {"count": 2**70 + 1, "negative": -(2**64) - 1, "edge": 2**64 - 1,
              "floaty": 12345678901234567890.5, "text": "é ✓ \"quoted\"",
              "nested": {"list": [1, 2.5, None, True, False, ""]}}
    event = audit.record(Action.USER_UPDATED, actor=None, now=now, subject_type="user",
                         subject_id=1, detail=detail)
    db.session.commit()
    ident = event.id
    db.session.expunge_all()
    read = db.session.get(AuditEvent, ident).detail
    assert read == detail and type(read["count"]) is int and type(read["negative"]) is int
    assert audit.verify_chain().ok  # the chain's hash is of the exact integers
    for text_ in ('{"a": [1, "x", null]}', str(2**70 + 1), str(-(2**63) - 1), str(2**64),
                  "[18446744073709551615, -9223372036854775808]", "1e400", "NaN",
                  '"\\ud800"', '{"a": 1, "a": 2}', '"12345678901234567890"'):
        expected, got = json.loads(text_), load_json(text_)
        assert got == expected or (got != got and expected != expected)  # NaN
        assert type(got) is type(expected)
        assert load_json(text_.encode()) == got or got != got


def test_a_page_views_event_chains_after_a_writer_that_committed_while_it_was_read(app, now):
    """A read's snapshot is older than a writer's event committed while the
    page was drawn: its own event still links to that one (on SQLite the
    read is ended and a write begun before the head is read; a read's
    snapshot could not write at all)."""
    written: list = []

    def writer() -> None:
        with app.app_context():
            event = audit.record(Action.USER_UPDATED, actor=None, now=now,
                                 subject_type="user", subject_id="writer")
            written.append(event.hash)  # a writer's event is chained as recorded
            db.session.commit()
            db.session.remove()

    with read_only():
        assert db.session.execute(select(func.count()).select_from(AuditEvent)).scalar() == 0
        viewed = audit.record(Action.PERSON_VIEWED, actor=None, now=now, subject_type="person",
                              subject_id=1)
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        audit.commit()
    assert viewed.prev_hash == written[0]
    assert audit.verify_chain().ok


def test_page_views_events_are_linked_as_the_chain_defines(app, now):
    """A page view's event is linked when the request commits: on PostgreSQL
    by the database, in the one statement that takes the chain's lock, reads
    its head and writes the row; on SQLite by the application. Either way
    the link is ``chain.event_hash`` of the head and the event's canonical
    JSON (UTF-8, past ASCII included), the first event of an empty log
    follows the genesis hash, and a request's second event follows its
    first."""
    detail = {"q": "Zoë O'Brien ✓ \"quoted\"", "count": 2**70, "pages": [1, 2.5, None]}
    with read_only():
        first = audit.record(Action.REFERRAL_LISTED, actor=None, now=now, detail=detail)
        second = audit.record(Action.PERSON_VIEWED, actor=None, now=now,
                              subject_type="person", subject_id="Ł-1")
        audit.commit()
    assert first.prev_hash == chain.GENESIS and second.prev_hash == first.hash
    for event in (first, second):
        assert event.hash == chain.event_hash(event.prev_hash, audit.hashed_fields(event))
    stored = db.session.execute(
        select(AuditEvent.prev_hash, AuditEvent.hash).order_by(AuditEvent.id)).all()
    assert [tuple(row) for row in stored] == [(first.prev_hash, first.hash),
                                              (second.prev_hash, second.hash)]
    assert audit.verify_chain().ok
