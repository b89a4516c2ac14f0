"""Database plumbing shared by every feature: column types, SQLite settings,
and the dialect-specific locks that keep concurrent writers correct."""

from __future__ import annotations

import hashlib
import json
import re
import select as sockets
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import wraps
from typing import Any

import flask_sqlalchemy.session
import orjson
from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Enum,
    Integer,
    Result,
    Select,
    event,
    func,
    inspect,
    literal,
    select,
    text,
)
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from casework.dates import local_date

# BIGINT identities on PostgreSQL (hundreds of millions of audit events);
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_today() -> date:
    """Today in England (``dates.local_date``), for a view to hand a service."""
    return local_date(utcnow())


class UTCDateTime(TypeDecorator):
    """A timestamp that is always UTC and always timezone-aware in Python.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are
    stored as naive UTC and given their zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def str_enum(enum_class: type[StrEnum], name: str) -> Enum:
    """A StrEnum stored as its values in a VARCHAR with a CHECK constraint
    (portable; ``name`` names the constraint, so it must be unique per table)."""
    return Enum(enum_class, name=name, native_enum=False, create_constraint=True, length=20,
                values_callable=lambda members: [m.value for m in members])


@contextmanager
def bulk_load(cache_mib: int = 4096) -> Iterator[None]:
    """SQLite: a large page cache for a bulk load in one transaction.

    With SQLite's default 2 MB cache, a transaction that inserts millions of
    rows into indexes (ids in order, but keys such as person or hash in no
    order) keeps reading its own pages back from a write-ahead log of
    gigabytes, and slows to a crawl. The setting is this connection's only
    (memory is taken as pages are used, not up front); it is left as it is
    until the transaction commits, so the commit does not spill. PostgreSQL
    needs nothing.
    """
    from casework.extensions import db

    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text(f"PRAGMA cache_size = -{int(cache_mib) * 1024}"))
    yield


# The largest id a record can have: ids are INTEGER columns, 32-bit on
# PostgreSQL (a larger number compared with one is an error there, not a miss).
MAX_ID = 2**31 - 1


def vacuum_after_bulk_load(engine: Engine) -> None:
    """PostgreSQL: VACUUM (ANALYZE) once a bulk load has committed. A table
    that was never vacuumed has no visibility map, so every index-only scan
    (a list's count, a name search) reads the table's pages as well, and
    the planner's statistics are the load's. Autovacuum would get there in
    time, where it is on; the loaded database is used at once. SQLite needs
    nothing more than the ANALYZE inside the load."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))


def next_id(session: Session, table) -> int:
    """The id after the highest in ``table``: a bulk load choosing its own ids
    (in one transaction) rather than asking the insert to return them."""
    return (session.scalar(select(func.max(table.c.id))) or 0) + 1


def reset_id_sequences(session: Session, *tables: str) -> None:
    """PostgreSQL: move each table's id sequence past ids a bulk load chose."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        # Table names are the caller's constants, never input.
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608  # nosec B608
            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"))


# Whether the current request only reads (GET and HEAD): its transaction takes
# no write lock, and the audit events it records (views, lists, refusals) are
# chained once the page is rendered (casework.audit.services.commit).
_reading: ContextVar[bool] = ContextVar("casework_reading", default=False)


def reading() -> bool:
    """Whether the code runs in a read-only request."""
    return _reading.get()


def set_reading(value: bool) -> Token[bool]:
    """Mark what follows (a request) as read-only or not; returns the token
    for ``reset_reading``."""
    return _reading.set(value)


def reset_reading(token: Token[bool]) -> None:
    _reading.reset(token)


@contextmanager
def _flag(var: ContextVar[bool], value: bool) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def read_only(value: bool = True) -> AbstractContextManager[None]:
    """Run the block as a read-only request (or, with False, as a writer)."""
    return _flag(_reading, value)


# Whether reads may go to the read replica (REPLICA_DATABASE_URL), for the
# dashboards and extracts: heavy reads a few seconds' replication lag cannot
# mislead. Writes, locks and the audit chain's head always use the primary.
REPLICA = "replica"
_replica: ContextVar[bool] = ContextVar("casework_replica", default=False)


def from_replica(value: bool = True) -> AbstractContextManager[None]:
    """Send the block's plain SELECTs to the read replica, if one is
    configured (or, with False, keep them on the primary)."""
    return _flag(_replica, value)


def replica_reads(view):
    """A view whose reads may come from the read replica."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        with from_replica():
            return view(*args, **kwargs)

    return wrapped


def streamed_from_replica(chunks: Iterator) -> Iterator:
    """A streamed response whose reads (made as it is sent) may come from the
    read replica."""
    with from_replica():
        yield from chunks


class RoutingSession(flask_sqlalchemy.session.Session):
    """Flask-SQLAlchemy's session, sending plain SELECTs to the replica inside
    ``from_replica``. Flushes (every INSERT, UPDATE and DELETE), locking
    SELECTs and text statements (advisory locks) stay on the primary."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and _replica.get() and isinstance(clause, Select) \
                and clause._for_update_arg is None:
            engine = self._db.engines.get(REPLICA)
            if engine is not None:
                return engine
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


def column_rows(statement, params: Mapping[str, Any] | None = None) -> Result:
    """The rows of a statement selecting columns (not ORM objects), run on
    the session's connection for it (the replica's inside ``from_replica``)
    in the session's transaction, after flushing what the session holds, as
    ``session.execute`` does, but without the ORM's layers, which such a
    statement does not use: a third of its cost (37 of 103 microseconds for
    a timeline's 20 notes), and a page runs several."""
    from casework.extensions import db  # which imports this module

    session = db.session()
    if session.autoflush:
        session.flush()
    return session.connection(bind_arguments={"clause": statement}).execute(statement,
                                                                           params or {})


class ReadOnlyViolation(RuntimeError):
    """A read-only request tried to change a row other than through the audit log."""


_WRITING_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "ALTER", "DROP",
                       "TRUNCATE")
# A statement that opens with common table expressions writes if what
# follows them, or one of them, does (PostgreSQL's data-modifying WITH; the
# audit log's own chained insert is one). Values are bound, never in the text.
_WRITING_AFTER_WITH = re.compile(
    r"\b(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|MERGE\s+INTO)\b", re.IGNORECASE)


@event.listens_for(Engine, "before_cursor_execute")
def _refuse_write_statements(_conn, _cursor, statement: str, *_args) -> None:
    """A read-only request that writes (an ORM flush or a statement of its
    own, on any engine) fails loudly in tests rather than racing writers in
    service."""
    if not reading():
        return
    opening = statement.lstrip()[:10].upper()
    if opening.startswith(_WRITING_STATEMENTS) or (
            opening.startswith("WITH") and _WRITING_AFTER_WITH.search(statement)):
        raise ReadOnlyViolation(f"a read-only request tried to run {statement.split()[0]}")


class AppendOnlyViolation(RuntimeError):
    """Code tried to change or remove a row of an append-only table."""


_APPEND_ONLY: set[type] = set()


def append_only(model: type) -> type:
    """Refuse, in the code and on every database, to update or delete rows
    of ``model`` through the ORM: an object's flush that would change a
    column or remove it, or an ORM UPDATE or DELETE statement on it. On
    PostgreSQL triggers refuse it in the database too (the migrations);
    on SQLite, the embedded default, this is what refuses it (a slip such
    as ``allocation.arm = "control"`` was committed there). Statements of
    SQL text written by hand are outside it, as on PostgreSQL a superuser
    is outside the triggers."""
    name = model.__tablename__

    def refuse_update(_mapper, _connection, target) -> None:
        state = inspect(target)
        if any(state.attrs[column.key].history.has_changes()
               for column in state.mapper.column_attrs):
            raise AppendOnlyViolation(f"casework: UPDATE on {name} is not allowed "
                                      "(append-only)")

    def refuse_delete(_mapper, _connection, _target) -> None:
        raise AppendOnlyViolation(f"casework: DELETE on {name} is not allowed (append-only)")

    event.listen(model, "before_update", refuse_update)
    event.listen(model, "before_delete", refuse_delete)
    _APPEND_ONLY.add(model)
    return model


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state) -> None:
    """``session.execute(update(Allocation)...)`` (or delete) on an
    append-only model, which no flush event sees."""
    if (state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ in _APPEND_ONLY:
        verb = "UPDATE" if state.is_update else "DELETE"
        raise AppendOnlyViolation(f"casework: {verb} on "
                                  f"{state.bind_mapper.class_.__tablename__} is not allowed "
                                  "(append-only)")


# A run of 19 or more digits may be an integer past 64 bits, which orjson
# reads as a float (silently: 2**70 + 1 comes back rounded).
_LONG_NUMBER = re.compile(r"\d{19}")
_LONG_NUMBER_BYTES = re.compile(rb"\d{19}")


def load_json(text: str | bytes):
    """``json.loads``, by orjson where that gives the same values (several
    times faster): the standard parser reads any text holding a run of 19 or
    more digits (an integer past 64 bits, which orjson would round to a
    float), and whatever orjson refuses (NaN, a lone surrogate). The engines
    read JSON columns with it (a referral's risk indicators, an event's
    detail), and ``audit verify`` each event's detail."""
    long_number = (_LONG_NUMBER_BYTES if isinstance(text, bytes) else _LONG_NUMBER).search(text)
    if long_number is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


# Whether a SQLite connection's transaction began as a read (a plain BEGIN)
_READ_BEGUN = "casework.sqlite_read_begun"


def configure_sqlite(engine: Engine, busy_timeout_ms: int = 30_000) -> None:
    """Foreign keys on, write-ahead logging, a busy timeout, temporary files
    in memory, and BEGIN IMMEDIATE.

    BEGIN IMMEDIATE takes SQLite's single write lock when a transaction starts,
    so two requests never both read the audit chain head (or a randomisation
    slot) and then race to write: the second waits for the first to commit.
    A read-only request begins a plain (deferred) transaction instead: it
    reads a snapshot while others write, and writes nothing itself.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event, not pysqlite, decide how to BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        # SQLite's temporary files in memory: chiefly each statement's
        # journal (the pages it changes, kept until it ends, so that it alone
        # can be undone), which a transaction fixes as it begins. In a file,
        # a bulk load of a million notes wrote it through the kernel about
        # 50 million times (a fifth of `seed-demo --people 100000`); a page
        # request's statements change a few pages each.
        cursor.execute("PRAGMA temp_store = MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        deferred = reading()
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")
        connection.info[_READ_BEGUN] = deferred  # see begin_writing


# Set on a pooled PostgreSQL connection that a read put in autocommit
_READ_AUTOCOMMIT = "casework.read_autocommit"


def configure_postgresql(engine: Engine) -> None:
    """A read-only request's statements each run on their own (psycopg's
    autocommit): no BEGIN and no COMMIT sent, two round trips of a page's
    six or seven. Its reads lose nothing by it: at PostgreSQL's READ
    COMMITTED each statement reads what is committed when it starts, in a
    transaction or not. A page view's audit event is one statement
    (casework.audit.services._chained_insert), so it is written, under the
    chain's lock, atomically all the same; several are written in one
    transaction (``begin_writing``). Writers' transactions are as before."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # No transaction is open when one begins, so psycopg lets it change.
        # Only what this set is put back: a connection given an isolation
        # level by its caller (AUTOCOMMIT for VACUUM after a bulk load) keeps it.
        pooled = connection.connection
        if reading():
            if not pooled.dbapi_connection.autocommit \
                    and "isolation_level" not in connection.get_execution_options():
                pooled.dbapi_connection.autocommit = True
                pooled.info[_READ_AUTOCOMMIT] = True
        else:
            in_transactions(connection)

    if engine.dialect.driver == "psycopg":  # (another driver has pool_pre_ping)
        @event.listens_for(engine, "checkout")
        def _on_checkout(dbapi_connection, _record, _proxy):
            if server_hung_up(dbapi_connection):
                raise DisconnectionError("the server closed the connection while it was pooled")

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection, record):
        # Back in the pool in transactions, as any other connection is (it is
        # idle: the pool has rolled it back). Were that refused, the mark
        # stays, and the next transaction to begin on it tries again.
        if record.info.get(_READ_AUTOCOMMIT) and dbapi_connection is not None \
                and not dbapi_connection.closed:
            dbapi_connection.autocommit = False
            del record.info[_READ_AUTOCOMMIT]


def server_hung_up(dbapi_connection) -> bool:
    """Whether a pooled psycopg connection is known to be dead, without a
    round trip: closed or broken, or its socket has something to read while
    no statement is running, which is the server saying goodbye (a restart,
    an administrator's terminate, an idle timeout: each sends its FATAL
    message and closes). At checkout, this takes the place of SQLAlchemy's
    ``pool_pre_ping``, which sent a ``SELECT 1`` before every request's
    first statement (about 0.1 ms a page, measured in process); raising
    DisconnectionError there makes the pool discard the connection and give
    a new one. A connection that died silently (the network, no goodbye)
    fails its first statement, as it would hang a ping, and SQLAlchemy then
    renews the whole pool."""
    if dbapi_connection.closed or dbapi_connection.broken:
        return True
    try:
        poller = sockets.poll()
        poller.register(dbapi_connection.fileno(), sockets.POLLIN | sockets.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def in_transactions(connection) -> None:
    """End a read's autocommit on ``connection`` (PostgreSQL): what follows
    runs in a transaction. Writers' code calls it before taking a lock or
    the chain's head (``lock_for_update``, the audit log's append), should it
    ever run on a connection a read began: in autocommit the lock would end
    with its statement and a rollback would undo nothing. The connection is
    idle between autocommitted statements, so psycopg lets it change."""
    pooled = connection.connection
    if pooled.info.pop(_READ_AUTOCOMMIT, False):
        pooled.dbapi_connection.autocommit = False


def begin_writing(connection, events: int = 1) -> None:
    """Make ``connection``'s transaction a writer's, for a read-only request's
    ``events`` audit events. SQLite: a transaction begun as a read is a
    snapshot that cannot write once another connection has committed, so it
    is ended and BEGIN IMMEDIATE taken on the same connection; one begun as
    a writer's is left as it is. PostgreSQL: one event is one statement,
    atomic on its own; several are written in one transaction (each
    statement reads what is committed when it starts, so nothing else)."""
    if connection.info.get(_READ_BEGUN):
        connection.exec_driver_sql("COMMIT")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        connection.info[_READ_BEGUN] = False
    elif events > 1:
        in_transactions(connection)  # the session's commit then ends it


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:name))")


def lock_for_update(session: Session, name: str) -> None:
    """Serialise writers on one named resource until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: nothing to do,
    because every transaction already holds the database write lock.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        in_transactions(connection)
        connection.execute(_ADVISORY_LOCK, {"name": name})


def lock_row(session: Session, record, *, shared: bool = False) -> None:
    """Lock ``record``'s row until the transaction ends, then reload it, so
    a check made next sees what others committed meanwhile (the page's copy
    may be older). PostgreSQL: SELECT ... FOR UPDATE (FOR SHARE with
    ``shared``: writers wait, other sharers do not). SQLite: the reload
    only, the transaction already holding the database write lock."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        in_transactions(connection)
    # one statement: the reload takes the lock (of the record's own table
    # only: PostgreSQL locks no row of an outer join's nullable side)
    session.refresh(record, with_for_update={"read": shared, "of": type(record)})


class ChangedMeanwhile(Exception):
    """A record's edit form was drawn from values someone else has since
    replaced: saved as it is, it would put theirs back unseen. ``version``
    is the record's now, for the form drawn again with what was typed (saving
    that replaces theirs, knowingly)."""

    def __init__(self, version: str, differs: list[str]):
        self.version = version
        message = "Someone else saved changes here since you opened this page."
        if differs:
            message += (" Saved now, and different from this form: "
                        f"{', '.join(name.replace('_', ' ') for name in differs)}.")
        super().__init__(f"{message} Check, then save again to keep what is below.")


def row_version(values: dict) -> str:
    """A fingerprint of a record's editable values, drawn into its edit form
    (forms.VersionField) and compared under the row's lock when it is saved."""
    text = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def check_unchanged(based_on: str | None, saved: dict, typed: dict | None = None) -> None:
    """Raise ChangedMeanwhile unless ``saved`` (the record's editable values,
    read under its lock) are what the form ``based_on`` was drawn from. A
    form sent without a version (an older page) is not checked."""
    if not based_on:
        return
    version = row_version(saved)
    if based_on != version:
        typed = typed or {}
        raise ChangedMeanwhile(version, [name for name in saved
                                         if name in typed and typed[name] != saved[name]])


# Indexes the migrations create that the models cannot describe portably
# (PostgreSQL's full-text GIN index, SQLite's FTS5 index of the notes and the
# tables FTS5 keeps it in); autogenerate and the schema test skip them.
DATABASE_ONLY_INDEXES = frozenset({"ix_notes_body_fts"})
DATABASE_ONLY_TABLES = frozenset({"notes_fts", "notes_fts_data", "notes_fts_idx",
                                  "notes_fts_docsize", "notes_fts_config"})


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's filter: leave the database-only indexes and tables alone."""
    return not ((type_ == "index" and name in DATABASE_ONLY_INDEXES)
                or (type_ == "table" and name in DATABASE_ONLY_TABLES))


class Paged:
    """For a page of results with ``total`` and ``per_page``: how many pages."""

    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def page_within(page: int, total: int, per_page: int) -> int:
    """``page`` brought within the pages ``total`` items fill (at least 1)."""
    return min(max(1, page), max(1, -(-total // per_page)))


# Lists count their matches up to this many; past it they say "more than"
# and page on with Next. Counting is reading: a lead's referrals list read
# 10,001 index entries on every page when this was 10,000 (a sixth of the
# page's work at 100,000 people); the notes search counts to 1,000 too.
COUNT_CAP = 1_000


def count_up_to(session: Session, stmt: Select, cap: int, page: int,
                per_page: int) -> tuple[int, bool, int]:
    """Count what ``stmt`` selects, reading no more than ``cap`` + 1 rows:
    (the count, at most ``cap``; whether there are more; ``page`` brought
    within the pages counted, or only above 1 when there are more)."""
    return counted(session.scalar(capped_count(stmt, cap)), cap, page, per_page)


def capped_count(stmt: Select, cap: int, *, written: bool = False) -> Select:
    """Counts what ``stmt`` selects, reading no more than ``cap`` + 1 rows.

    ``written``: the bound is written into the SQL sent (SQLAlchemy's
    ``literal_execute``; it still compiles the statement once), not sent as a
    parameter. PostgreSQL plans a statement it has prepared once for all its
    parameters only if that plan looks no dearer than planning afresh, and a
    LIMIT it cannot see is costed as a tenth of the table: the referrals
    list was planned afresh on every request (0.9 ms of the server's time),
    where its plan for all is the same plan. Only for a statement whose one
    right plan does not depend on its parameters' values."""
    return select(func.count()).select_from(
        stmt.limit(literal(cap + 1, Integer, literal_execute=True) if written else cap + 1)
        .subquery())


def counted(found: int, cap: int, page: int, per_page: int) -> tuple[int, bool, int]:
    """``count_up_to``'s answer from ``capped_count``'s count."""
    if found > cap:
        return cap, True, max(1, page)
    return found, False, page_within(page, found, per_page)
