"""Recording and reading audit events.

``record`` is called by every service that changes something, inside the
same transaction as the change: if the change rolls back, so does its event.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import queue
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

import orjson
from flask import g, has_request_context
from sqlalchemy import (
    LargeBinary,
    String,
    bindparam,
    event,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

from casework.audit import chain
from casework.audit.actions import Action, shows_a_page, stands_when_refused
from casework.audit.context import current_origin
from casework.audit.models import AuditEvent, AuditEventSite
from casework.database import begin_writing, in_transactions, load_json, read_only, reading
from casework.extensions import db

if TYPE_CHECKING:
    from casework.accounts.models import User

SYSTEM_ROLE = "system"
# someone not signed in (a failed sign-in): not the account they tried, whose
# own actions a filter by its email lists, nor a command run on the server
ANONYMOUS_ROLE = "anonymous"
# The chain's lock (PostgreSQL: a transaction's advisory lock on its
# hashtext), taken by casework_audit_chain_head() (migration 0014) and by a
# bulk load of events (casework.demo)
_CHAIN_LOCK = "audit_events.chain"
_PENDING = "casework.audit.pending"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    """The event's hashed fields in their canonical (JSON-ready) form."""
    return {
        "occurred_at": _iso(event.occurred_at),
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "site_id": event.site_id,
        "detail": event.detail,
        "request_id": event.request_id,
        "client_addr": event.client_addr,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def viewed(action: Action, *, subject_type: str | None = None, subject_id=None,
           site_id: int | None = None, sites: Iterable[int] | None = None, **detail) -> None:
    """Record that the signed-in user viewed an identifiable page."""
    from flask_login import current_user

    from casework.database import utcnow

    record(action, actor=current_user, now=utcnow(), subject_type=subject_type,
           subject_id=subject_id, site_id=site_id, sites=sites, detail=detail or None)


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"before": old, "after": new}}`` for the fields that differ."""
    return {
        name: {"before": _jsonable(before.get(name)), "after": _jsonable(after.get(name))}
        for name in sorted(set(before) | set(after))
        if _jsonable(before.get(name)) != _jsonable(after.get(name))
    }


def record(
    action: Action,
    *,
    actor: User | None,
    now: datetime,
    subject_type: str | None = None,
    subject_id: object | None = None,
    site_id: int | None = None,
    sites: Iterable[int] | None = None,
    detail: Mapping[str, Any] | None = None,
    anonymous: bool = False,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction.

    Takes the chain lock first (an advisory lock on PostgreSQL; SQLite's
    transactions already hold its write lock), so concurrent writers queue and
    each links to the event committed before it. The detail must hold field
    names and values only, never free text.

    In a read-only request (a GET: a page viewed, a list shown, a refusal) the
    event is held until ``commit``, which chains it once the page is
    rendered, so readers never queue on the chain lock for the whole of
    their request. If the request fails, it is dropped with the rest of the
    request's work, as a writer's would be; but an event of what a page
    showed is recorded again if the page is still sent
    (``record_shown_again``).

    ``sites``, for an event about a record that belongs to several sites (a
    person's case: their own site and each where they were referred), in
    place of ``site_id``: the event is each one's, so every one of their
    leads reads it (of one, it is that site's).
    """
    action = Action(action)
    origin = current_origin()
    detail = dict(detail or {})
    if sites is not None:
        sites = sorted(set(sites))
        if len(sites) == 1:
            site_id = sites[0]
        elif sites:
            site_id, detail["sites"] = None, sites
    if site_id is None and shows_a_page(action):
        site_id, detail = _sites_shown(actor, detail)
    event = AuditEvent(
        occurred_at=now.astimezone(UTC),
        actor_id=actor.id if actor is not None else None,
        actor_role=(str(actor.role) if actor is not None
                    else ANONYMOUS_ROLE if anonymous else SYSTEM_ROLE),
        action=str(action),
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        site_id=site_id,
        detail=_jsonable(detail),
        request_id=origin.request_id,
        client_addr=origin.client_addr,
    )
    if stands_when_refused(action) and has_request_context():
        g.setdefault(_SHOWN, []).append({name: getattr(event, name) for name in _FIELDS})
    _enter(event)
    return event


def _sites_shown(actor: User | None, detail: dict[str, Any]) -> tuple[int | None, dict]:
    """The site of a page shown with no record of one site (a list, a
    search, a dashboard): the sites it covered, given as ``sites`` in the
    detail or else every site of the signed-in user's. Of one site, the
    event is that site's; of several, its detail names them and
    ``AuditEventSite`` rows index them, so the lead of each finds who listed
    or searched their site's people. The database writes those rows as it
    stores the event (a trigger, migration 0019): no statement more for the
    page."""
    sites = detail.get("sites")
    if sites is None and actor is not None and getattr(actor, "is_site_scoped", False):
        sites = sorted(actor.site_ids)
    if not isinstance(sites, list | tuple | set | frozenset) or not sites:
        return None, detail
    sites = sorted(set(sites))
    if len(sites) == 1:
        return sites[0], {name: value for name, value in detail.items() if name != "sites"}
    return None, {**detail, "sites": sites}


def _enter(event: AuditEvent) -> None:
    if reading():
        # Held with the session's transaction (begun if need be), so a
        # rollback of the request drops it (see _discard_pending).
        session = db.session()
        if not session.in_transaction():
            session.begin()
        session.info.setdefault(_PENDING, []).append(event)
    else:
        _append(event)


_SHOWN = "casework_audit_shown"  # on flask.g: this request's events of pages shown
_FIELDS = ("occurred_at", "actor_id", "actor_role", "action", "subject_type", "subject_id",
           "site_id", "detail", "request_id", "client_addr")


def record_shown_again() -> None:
    """After a request's work is rolled back, record again (and commit) the
    events of what its response still shows: a form sent back with its
    errors (422) shows the record it is about, which DESIGN.md audits like
    any view. Nothing else of the request is kept. (Events already
    committed are not among them; events held by a read are dropped first,
    should the rollback have had no transaction to end.)"""
    shown = g.pop(_SHOWN, None)
    if shown:
        db.session.info.pop(_PENDING, None)
        for fields in shown:
            _enter(AuditEvent(**fields))
        commit()


def forget_shown() -> None:
    """The request's page will not be sent (a refusal): its views are not
    recorded again."""
    if has_request_context():
        g.pop(_SHOWN, None)


# Every page view reads the head and writes its event, so both are sent as
# the driver's own statements on the session's connection, not through the
# ORM's or Core's layers, which were most of their time. On PostgreSQL one
# function takes the chain lock (_CHAIN_LOCK) and reads the head (migration
# 0014): one round trip, not two; a page view's event is written in the same
# statement (_chained_insert).
_HEAD = {
    "postgresql": "SELECT casework_audit_chain_head()",
    "sqlite": "SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1",
}


def _head(connection) -> str:
    """The chain's head, as the primary has it, under the chain lock (on
    SQLite, the write transaction the caller holds). ``connection`` is the
    session's own (the primary's: only SELECT statements handed to the
    session go to a replica)."""
    return connection.exec_driver_sql(_HEAD[connection.dialect.name]).scalar() \
        or chain.GENESIS


def _link(event: AuditEvent, prev_hash: str) -> str:
    event.prev_hash = prev_hash
    event.hash = chain.event_hash(prev_hash, hashed_fields(event))
    return event.hash


def _append(event: AuditEvent) -> None:
    session = db.session
    connection = session.connection()
    in_transactions(connection)  # the lock held to the commit, the event rolled back with it
    _link(event, _head(connection))
    session.add(event)
    session.flush()


_STORED = tuple(column.key for column in AuditEvent.__table__.columns if column.key != "id")
_INSERT = AuditEvent.__table__.insert().inline()
# What a PostgreSQL connection is given of an event: its stored fields but its
# link, which the database works out (_chained_insert)
_GIVEN = tuple(name for name in _STORED if name not in {"prev_hash", "hash"})


def _chained_insert(dialect) -> str:
    """PostgreSQL: one statement takes the chain's lock, reads its head and
    appends the event linked to it (``chain.event_hash``: sha256 of the head's
    text and the event's canonical JSON, which the caller sends as
    ``payload``), returning its link. A page's event was two round trips, the
    head and then the row, each holding the lock while the other writer
    waited: the lock is now held for one fewer."""
    table = AuditEvent.__table__
    head = select(func.coalesce(func.casework_audit_chain_head(),
                                literal_column(f"'{chain.GENESIS}'", String))
                  .label("head")).cte("chain")
    # each value cast to its column's type (the dialect writes the casts)
    given = [bindparam(name, type_=table.c[name].type) for name in _GIVEN]
    text_of_head = func.convert_to(head.c.head, literal_column("'UTF8'"), type_=LargeBinary)
    link = func.encode(
        func.sha256(text_of_head.op("||", return_type=LargeBinary)(
            bindparam("payload", type_=LargeBinary)), type_=LargeBinary),
        literal_column("'hex'"), type_=String)
    statement = (insert(table)
                 .from_select([*_GIVEN, "prev_hash", "hash"], select(*given, head.c.head, link))
                 .returning(table.c.prev_hash, table.c.hash))
    return str(statement.compile(dialect=dialect))


@dataclass(frozen=True)
class _Written:
    """How a dialect is sent held events: the table's INSERT compiled once
    (PostgreSQL: _chained_insert), its parameters' names in order, and the
    bind processors their columns' types apply (SQLite's naive UTC text for a
    timestamp, the detail's JSON), as SQLAlchemy would apply them."""

    sql: str
    positional: bool
    names: tuple[str, ...]
    processors: tuple[Any, ...]
    # whether the database links each event (PostgreSQL: _chained_insert)
    chained: bool = False

    def parameters(self, event: AuditEvent) -> tuple | dict[str, Any]:
        values = [getattr(event, name) if process is None else process(getattr(event, name))
                  for name, process in zip(self.names, self.processors, strict=True)]
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))


_WRITTEN: weakref.WeakKeyDictionary[Any, _Written] = weakref.WeakKeyDictionary()


def _written(dialect) -> _Written:
    written = _WRITTEN.get(dialect)
    if written is None:
        if dialect.name == "postgresql":
            sql, positional, names, chained = _chained_insert(dialect), False, _GIVEN, True
        else:
            compiled = _INSERT.compile(dialect=dialect, column_keys=list(_STORED))
            sql, positional, chained = str(compiled), compiled.positional, False
            names = tuple(compiled.positiontup) if compiled.positional else _STORED
        columns = AuditEvent.__table__.columns
        written = _WRITTEN[dialect] = _Written(
            sql, positional, names,
            tuple(columns[name].type.dialect_impl(dialect).bind_processor(dialect)
                  for name in names), chained)
    return written


def _append_held(connection, events: list[AuditEvent]) -> None:
    """Chain a read-only request's held events and write them, sent as the
    driver's own statements on the request's connection (no ORM, no
    compiling: on every page, those layers were most of the write's cost).
    They still pass through the engine's events (the query counts, the
    read-only guard). On PostgreSQL the database links each event as it
    writes it, one round trip an event (``_chained_insert``)."""
    written = _written(connection.dialect)
    if written.chained:
        for held in events:
            values = written.parameters(held)
            values["payload"] = chain.canonical_json(hashed_fields(held))
            held.prev_hash, held.hash = connection.exec_driver_sql(written.sql, values).one()
        return
    head = _head(connection)
    rows = []
    for held in events:
        head = _link(held, head)
        rows.append(written.parameters(held))
    connection.exec_driver_sql(written.sql, rows if len(rows) > 1 else rows[0])


def commit() -> None:
    """Commit the request's transaction with the events a read-only request
    recorded, chained once its page is drawn. If that fails the error
    propagates, so a page is never sent unaudited.

    On SQLite the events are written in a write transaction of their own,
    after the request's read (a snapshot that cannot become a writer once
    another has committed): the read is ended and the write begun on the
    same connection. On PostgreSQL a read-only request's statements run on
    their own (``database.configure_postgresql``): one event is one
    statement, which takes the chain lock, reads the head (every event
    committed before) and writes the event linked to it, atomically;
    several are written in one transaction. Either way the request commits
    once through the session.

    A read-only request's objects are not expired when its transaction ends:
    its page is drawn, and whatever reads on (a streamed extract) begins a
    new transaction of its own."""
    session = db.session()
    expire = session.expire_on_commit
    session.expire_on_commit = expire and not reading()
    try:
        held = session.info.pop(_PENDING, None)
        if held:
            try:
                with read_only(False):
                    connection = session.connection()
                    begin_writing(connection, len(held))
                    _append_held(connection, held)
                session.commit()
            except BaseException:
                session.rollback()
                raise
        else:
            session.commit()
        forget_shown()  # recorded for good
    finally:
        session.expire_on_commit = expire


def pending() -> list[AuditEvent]:
    """The events a read-only request has recorded and not yet chained."""
    return list(db.session.info.get(_PENDING, ()))


@event.listens_for(Session, "after_soft_rollback")
def _discard_pending(session: Session, _previous_transaction) -> None:
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_commit")
def _shown_for_good(session: Session) -> None:
    """A writer's events were in what committed (a read's stay held until
    ``commit`` chains them): none is to be recorded again."""
    if not reading() and not session.info.get(_PENDING):
        forget_shown()


# The first and last ids a 64-bit key can hold: a walk of the chain reads
# every stored event between them, so none is left unchecked, whatever its id
# (a row forged with an id of 0 or below comes first, and breaks the chain).
FIRST_ID = -(2**63)
LAST_ID = 2**63 - 1


def _verify_query(dialect: str) -> str:
    """The events in chain order, as the driver returns them: the time as
    ISO text in UTC and the detail as JSON text (SQLite stores both as text;
    PostgreSQL is asked for text), so no per-row type processing is needed."""
    if dialect == "postgresql":
        occurred = ("to_char(occurred_at AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        detail, mark = "detail::text", "%s"
    else:
        # SQLAlchemy stores SQLite DATETIME as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC)
        occurred = "substr(occurred_at, 1, 10) || 'T' || substr(occurred_at, 12) || 'Z'"
        detail, mark = "detail", "?"
    # Fixed SQL text: only the two dialects' spellings above are put in it.
    return (f"SELECT id, prev_hash, hash, {occurred}, actor_id, actor_role, action, "  # noqa: S608  # nosec B608
            f"subject_type, subject_id, site_id, {detail}, request_id, client_addr "
            f"FROM audit_events WHERE id >= {mark} AND id <= {mark} ORDER BY id LIMIT {mark}")


def stored_events(batch_size: int = 20_000, *, first: int = FIRST_ID, last: int = LAST_ID,
                  connection=None) -> Iterator[chain.StoredEvent]:
    """Every event in chain order (those with ids from ``first`` to ``last``),
    streamed in keyset batches so memory stays flat, on
    ``connection`` (the session's by default). Read through the driver, not
    the ORM: verifying millions of events is all per-row work, and
    SQLAlchemy's result processing was most of it. On PostgreSQL the next
    batch is fetched on a thread of its own while this one is checked
    (psycopg lets go of the GIL while the server works), so the server's
    time and the hashing overlap; SQLite works inside this process, where a
    second thread only contends for the GIL (measured: 20% slower), so
    there the batches are read in turn."""
    connection = connection or db.session.connection()
    read = _prefetched if connection.dialect.name == "postgresql" else _in_turn
    for batch in read(connection, batch_size, first, last):
        for (ident, prev_hash, digest, occurred_at, actor_id, actor_role, action,
             subject_type, subject_id, site_id, detail, request_id, client_addr) in batch:
            yield chain.StoredEvent(ident, prev_hash, digest, {
                "occurred_at": occurred_at, "actor_id": actor_id,
                "actor_role": actor_role, "action": action, "subject_type": subject_type,
                "subject_id": subject_id, "site_id": site_id,
                "detail": None if detail is None else load_json(detail),
                "request_id": request_id, "client_addr": client_addr,
            })


def _in_turn(connection, batch_size: int, first: int, last: int) -> Iterator[list[tuple]]:
    """The batches of ``_verify_query``, one after the other."""
    sql = _verify_query(connection.dialect.name)
    cursor = connection.connection.dbapi_connection.cursor()
    while first <= last and (batch := cursor.execute(sql, (first, last, batch_size)).fetchall()):
        yield batch
        first = batch[-1][0] + 1


def _prefetched(connection, batch_size: int, first: int, last: int) -> Iterator[list[tuple]]:
    """``_in_turn``, read one batch ahead on a second thread. Only that thread
    touches the cursor until it has finished; stopping early (a broken chain)
    tells it to stop and waits for it."""
    ready: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for batch in _in_turn(connection, batch_size, first, last):
                if stop.is_set():
                    return
                ready.put(batch)
            ready.put([])  # the end
        except BaseException as error:  # handed to the reader, raised there
            ready.put(error)

    worker = threading.Thread(target=fetch, name="audit-verify-fetch", daemon=True)
    worker.start()
    try:
        while True:
            batch = ready.get()
            if isinstance(batch, BaseException):
                raise batch
            if not batch:
                return
            yield batch
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)  # let a blocked put finish
        worker.join()


def fast_event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """``chain.event_hash`` with the canonical JSON written by orjson: the same
    bytes for the values casework writes (strings, integers, booleans, None,
    lists and objects of them; tests/unit/test_audit_chain.py checks it), and
    about ten times faster. Raises TypeError for a value orjson will not write."""
    return hashlib.sha256(
        prev_hash.encode("ascii") + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def _fast_check(event: chain.StoredEvent) -> bool:
    """``chain.matches``, about ten times faster for the events casework writes.

    orjson writes the same bytes as ``chain.canonical_json`` (sorted keys, no
    spaces, UTF-8) for them. A hash that matches orjson's bytes proves those
    were the bytes hashed when the event was written, so the event is intact;
    anything else (a mismatch, or a value orjson will not encode) is judged
    by the definition itself, so no tampering can pass that would not have.
    """
    try:
        fast = fast_event_hash(event.prev_hash, event.fields)
    except (TypeError, orjson.JSONEncodeError):
        fast = None
    if len(event.fields) == len(chain.HASHED_FIELDS) and fast == event.hash:
        return True
    return chain.matches(event)


# A chain of at least this many events (by their ids' span) is checked in
# stretches, in parallel, when more than one process is asked for.
PARALLEL_FROM = 200_000
# How many processes `audit verify` uses by default: one a CPU, up to this;
# and the most it will use when asked.
MAX_PROCESSES = 4
PROCESSES_LIMIT = 64


def default_processes() -> int:
    """One a CPU this process may run on (up to MAX_PROCESSES)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_PROCESSES))


def verify_chain(anchor: chain.Anchor | None = None, *,
                 processes: int = 1) -> chain.Verification:
    """Check the whole stored chain (and the anchor, if given).

    With ``processes`` > 1 (up to PROCESSES_LIMIT) a long chain is cut by
    id into that many stretches, checked at once: this process checks the
    first, and a process forked from it each of the others (every one on a
    connection opened after the fork; the session's transaction is ended
    first), each from the stored hash of the event before its stretch
    (``chain.verify_stretch``). Joined in order (``chain.combine``) they
    judge the chain as one walk does, event for event. Each is all
    per-event work (parsing, encoding, hashing) and the CPUs share it:
    2,379,219 events on SQLite took 28 s on one CPU of a slow machine.
    Every stretch reads what is committed: the session's transaction is
    ended (rolled back) before the fork, so the caller must have nothing
    unsaved in it (the command has nothing).

    Every transaction it begins is a reader's: on SQLite a writer's would
    hold the database's write lock for the whole check (half a minute at
    two million events), stopping every page view's audit event."""
    began = not db.session().in_transaction()
    with read_only():
        connection = db.session.connection()
        bounds = _stretch_bounds(connection, min(processes, PROCESSES_LIMIT))
        if len(bounds) < 2:
            try:
                return chain.verify(stored_events(connection=connection), anchor,
                                    check=_fast_check)
            finally:
                # A reader's transaction this began ends here: left open on
                # SQLite, a caller's next write would have to upgrade it.
                if began:
                    db.session.rollback()
        engine = connection.engine
    # No connection of this process may be open when it forks: SQLite keeps
    # a file's locks per process, so a forked process would believe it held
    # the locks of this one's open connection and read unguarded. So the
    # session's transaction ends (it read nothing but the ids' span) and the
    # pool is emptied; every stretch is then read on a connection opened
    # after the fork.
    db.session.close()
    engine.dispose()
    return _in_parallel(engine, bounds, anchor)


def _in_parallel(engine, bounds: list[tuple[int, int]],
                 anchor: chain.Anchor | None) -> chain.Verification:
    """The stretches checked at once, their verdicts read in chain order up
    to the first bad one: what comes after it (even a stretch that could
    not be read) is never judged, as one walk would never reach it. (The
    other processes are still waited for: a broken chain is the rare case.)"""
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=len(bounds) - 1, mp_context=context,
                             initializer=_adopt_engine, initargs=(engine,)) as pool:
        others = [pool.submit(_check_stretch, first, last, anchor)
                  for first, last in bounds[1:]]
        with read_only(), engine.connect() as connection:
            stretches = [_stretch(connection, *bounds[0], anchor)]
        for other in others:
            if not stretches[-1].verification.ok:
                break
            stretches.append(other.result())
    return chain.combine(stretches, anchor)


def _stretch_bounds(connection, processes: int) -> list[tuple[int, int]]:
    """The stretches' first and last ids, in order, covering every id: the
    whole chain as one when it is short, or another process cannot be
    forked, or could not open the database (SQLite in memory)."""
    whole = [(FIRST_ID, LAST_ID)]
    url = connection.engine.url
    in_memory = connection.dialect.name == "sqlite" and (
        url.database in (None, "", ":memory:") or "memory" in url.database
        or url.query.get("mode") == "memory")
    if processes < 2 or in_memory or "fork" not in multiprocessing.get_all_start_methods():
        return whole
    low, high = connection.execute(
        select(func.min(AuditEvent.id), func.max(AuditEvent.id))).one()
    if low is None or high - low + 1 < PARALLEL_FROM:
        return whole
    span = high - low + 1
    ends = [low - 1 + span * n // processes for n in range(1, processes)]
    return list(zip([FIRST_ID, *(end + 1 for end in ends)], [*ends, LAST_ID], strict=True))


def _stretch(connection, first: int, last: int, anchor: chain.Anchor | None) -> chain.Stretch:
    """The events from ``first`` to ``last`` checked, from the stored hash of
    the event before them."""
    previous = connection.execute(
        select(AuditEvent.hash).where(AuditEvent.id < first)
        .order_by(AuditEvent.id.desc()).limit(1)).scalar() or chain.GENESIS
    return chain.verify_stretch(stored_events(first=first, last=last, connection=connection),
                                previous, anchor, check=_fast_check)


_FORKED: dict[str, Any] = {}


def _adopt_engine(engine) -> None:
    """In a forked process: the engine's pool is this process's own from now
    on. Any connection it was forked with (one checked out elsewhere in the
    parent: a test's) is the parent's: kept, never used or closed (closing
    psycopg's would end the parent's session; the process ends by os._exit,
    so nothing finalises them)."""
    _FORKED["inherited"] = engine.pool
    engine.dispose(close=False)
    _FORKED["engine"] = engine


def _check_stretch(first: int, last: int, anchor: chain.Anchor | None) -> chain.Stretch:
    """A stretch checked in a forked process, on a connection of its own,
    closed when done."""
    engine = _FORKED["engine"]
    try:
        with read_only(), engine.connect() as connection:
            return _stretch(connection, first, last, anchor)
    finally:
        engine.dispose()


def head() -> chain.Anchor | None:
    """The newest event's id and hash, to be kept outside the database."""
    row = db.session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return None if row is None else chain.Anchor(row.id, row.hash)


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    action: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None


# The subjects of casework: their events' details hold what was recorded
# about a child (names, dates of birth, postcodes, triage facts, statuses)
CASEWORK_SUBJECTS = frozenset({"person", "referral", "triage", "allocation", "pathway_proposal",
                               "note", "assessment", "diversion_case"})
WITHHELD = "withheld"


# An allocation's place in its sequence: those whose decisions randomise
# read none of it, as the allocation report shows them none (the arms in
# the order they came, with their strata and slots, tell what comes next).
SEQUENCE_PLACE = frozenset({"stratum", "slot", "arm"})


def detail_shown(event: AuditEvent, *, reads_cases: bool,
                 decides_triage: bool = False) -> dict[str, Any]:
    """An event's detail as the audit log shows it to its reader. Admins
    read the whole log but do no casework (DESIGN.md): for an event about a
    child's case, they see which fields changed and the ids and counts, not
    the values (a surname, a date of birth, a postcode before and after).
    Those who decide triage (leads) read an allocation's events without its
    stratum, slot and arm (``SEQUENCE_PLACE``). What is stored, and hashed,
    is unchanged."""
    detail = event.detail or {}
    if decides_triage and event.subject_type == "allocation":
        detail = {name: WITHHELD if name in SEQUENCE_PLACE else value
                  for name, value in detail.items()}
    if reads_cases or event.subject_type not in CASEWORK_SUBJECTS:
        return detail
    return {name: "changed" if _is_change(value) else value if _an_id_or_count(value)
            else WITHHELD for name, value in detail.items()}


def _is_change(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"before", "after"}


def _an_id_or_count(value: Any) -> bool:
    """Numbers and lists of ids, which say nothing of the child. Not flags
    (``panel_confirmed: True`` is a triage fact), nor an empty list (a
    triage's ``group_violence_evidence: []`` said C3 failed, where a list of
    evidence showed "withheld") (found by review)."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(item, int) and not isinstance(item, bool)
                                   for item in value)
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    older_than: int | None  # pass as ``before`` to get the next (older) page
    newer_than: int | None  # pass as ``after`` to get the previous (newer) page


def search(
    criteria: AuditFilter,
    *,
    site_ids: frozenset[int] | None,
    before: int | None = None,
    after: int | None = None,
    per_page: int = 50,
) -> AuditPage:
    """Events newest first, filtered, keyset-paginated by id.

    ``site_ids=None`` means every event (admins); otherwise only events that
    belong to one of those sites (leads). Keyset pagination keeps each page a
    single index range however long the log grows.
    """
    stmt = select(AuditEvent)
    if site_ids is not None:
        # an event of one of the sites, or of several among them (checked
        # for each event the page's index walk reaches: one seek each)
        stmt = stmt.where(or_(
            AuditEvent.site_id.in_(site_ids),
            exists().where(AuditEventSite.event_id == AuditEvent.id,
                           AuditEventSite.site_id.in_(site_ids))))
    if criteria.actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == criteria.actor_id)
    if criteria.action:
        stmt = stmt.where(AuditEvent.action == criteria.action)
    if criteria.subject_type:
        stmt = stmt.where(AuditEvent.subject_type == criteria.subject_type)
    if criteria.subject_id:
        stmt = stmt.where(AuditEvent.subject_id == criteria.subject_id)
    if criteria.date_from:
        stmt = stmt.where(
            AuditEvent.occurred_at >= datetime.combine(criteria.date_from, time.min, UTC)
        )
    if criteria.date_to:
        stmt = stmt.where(
            AuditEvent.occurred_at <= datetime.combine(criteria.date_to, time.max, UTC)
        )

    if after is not None:
        rows = db.session.execute(
            stmt.where(AuditEvent.id > after).order_by(AuditEvent.id).limit(per_page + 1)
        ).scalars().all()
        has_newer = len(rows) > per_page
        events = list(reversed(rows[:per_page]))
        has_older = bool(events) and db.session.execute(
            stmt.where(AuditEvent.id < events[-1].id).limit(1)
        ).first() is not None
    else:
        stmt_page = stmt.where(AuditEvent.id < before) if before is not None else stmt
        rows = db.session.execute(
            stmt_page.order_by(AuditEvent.id.desc()).limit(per_page + 1)
        ).scalars().all()
        has_older = len(rows) > per_page
        events = list(rows[:per_page])
        has_newer = before is not None and bool(events)
    return AuditPage(
        events=events,
        older_than=events[-1].id if has_older and events else None,
        newer_than=events[0].id if has_newer and events else None,
    )
