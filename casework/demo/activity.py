"""Synthetic case activity at scale: notes, contacts and the audit trail of
the work that produced them, written in bulk for demonstrations and
benchmarks.

The rows go into the tables the services write (``notes`` with their first
``note_revisions`` row, ``audit_events``) with the same columns and audit
details the services would give them (``person:created``,
``referral:created``, ``person:viewed``, ``note:created``), and each event
is chained exactly as ``casework.audit.chain`` computes, so ``audit verify``
and every page work on them. Events and notes are written in time order
(the history runs from each person's first referral to the moment the seed
runs), so ids and timestamps rise together as they would have in real use:
the demo trial's triage, decisions and pathway moves, made through the
services, are made in the same pass, each at its moment, once the rows
before it are written (they were made after the rest, their events two
years back after ``demo:seeded``, found by review).
Every note is written by a user holding the person's site: their
caseworker, or a lead of that site.

Speed comes from bulk inserts with ids chosen here (under the audit chain
lock, in the seeding transaction), not from skipping anything: a note costs
one row, its first revision and two chained events.
"""

from __future__ import annotations

import heapq
import json
import queue
import random
import threading
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import select

from casework.accounts.models import User
from casework.audit import chain
from casework.audit.actions import Action
from casework.audit.context import Origin, reset_origin, set_origin
from casework.audit.models import AuditEvent
from casework.audit.services import _CHAIN_LOCK, SYSTEM_ROLE, fast_event_hash
from casework.database import lock_for_update, next_id, reset_id_sequences
from casework.dates import local_date
from casework.demo.people import anchor_day, working_moment
from casework.extensions import db
from casework.intake.models import Person, Referral
from casework.notes import services as note_services
from casework.notes.models import Note, NoteRevision
from casework.notes.reference import CONTACT_TYPES, NoteKind
from casework.notes.services import NoteContent

if TYPE_CHECKING:
    from casework.demo.trial import TrialHistory

BATCH = 5000
# Most people have a handful of notes; about one in a hundred is a long-running
# case with 150 to 300 (a person page with a long timeline).
HEAVY_SHARE = 0.01
CONTACT_WEIGHTS = {"face_to_face": 40, "phone": 30, "video": 5, "family": 10, "careers": 5,
                   "mentoring": 10}
assert set(CONTACT_WEIGHTS) == set(CONTACT_TYPES)
# A contact's body fits its type and whether the person came: they were
# drawn apart, giving "Contact: mentoring, not attended" over "Met at the
# youth centre" and phone calls recorded face to face (found by review).
CONTACT_BODIES = {
    ("face_to_face", True): (
        "Met at the youth centre; talked about college options.",
        "Home visit with a parent present; reviewed the support plan.",
        "Met in town after school; talked through the safety plan.",
    ),
    ("face_to_face", False): (
        "Went to the youth centre as agreed; he did not come. Left a message.",
        "Home visit as arranged; nobody was in. Left a card.",
    ),
    ("phone", True): (
        "Phone call to arrange next week's session.",
        "Phoned to check in after the weekend; he sounded settled.",
    ),
    ("phone", False): (
        "Phoned at the agreed time; no answer. Left a voicemail.",
    ),
    ("video", True): (
        "Video call; talked about how college is going.",
    ),
    ("video", False): (
        "Video call set up as agreed; he did not join. Sent a text to rearrange.",
    ),
    ("family", True): (
        "Met his mother and sister at home; went through the support plan together.",
        "Spoke with his father about the curfew and who he spends time with.",
    ),
    ("family", False): (
        "Family meeting arranged at home; nobody answered the door.",
    ),
    ("careers", True): (
        "Careers session; looked at apprenticeships and started a CV.",
    ),
    ("careers", False): (
        "Careers appointment booked; he did not attend. Rebooked for next week.",
    ),
    ("mentoring", True): (
        "Mentoring session in town; he arrived on time.",
        "Mentoring session at the boxing club; he stayed for the whole hour.",
    ),
    ("mentoring", False): (
        "Mentoring session arranged; he did not turn up. The mentor left a message.",
    ),
}
assert {kind for kind, _ in CONTACT_BODIES} == set(CONTACT_TYPES)
assert all((kind, attended) in CONTACT_BODIES for kind in CONTACT_TYPES
           for attended in (True, False))
NOTE_BODIES = {
    NoteKind.CASE_NOTE: (
        "Spoke with school about attendance; agreed a weekly check-in.",
        "Mother reports he has been staying out late with older peers.",
        "Referred to the local boxing club; he seemed interested.",
        "Housing officer confirmed the family's move is delayed.",
        "Discussed safety planning after the incident last weekend.",
    ),
    NoteKind.DECISION: (
        "Case discussed at panel; continue at the current level of support.",
        "Agreed with the lead to increase contact to twice a week.",
    ),
}
KIND_WEIGHTS = {NoteKind.CONTACT: 55, NoteKind.CASE_NOTE: 40, NoteKind.DECISION: 5}
# A control-arm person's notes once randomised: business as usual, what
# other services report, with no programme contact.
CONTROL_NOTE_BODIES = {
    NoteKind.CASE_NOTE: (
        "Control arm: police systems checked; no new incidents this month.",
        "Control arm: school reports attendance unchanged. No programme contact.",
        "Control arm: the youth offending team says he is keeping to his order.",
        "Control arm: the neighbourhood team has no new concerns.",
    ),
    NoteKind.DECISION: (
        "Control arm: reviewed with the lead; business as usual, no programme support.",
    ),
}
# Of the control-arm people with a contact drawn after randomisation, the
# first and a share of the others have that contact all the same (a protocol
# deviation), at most MOST_DEVIATIONS of them however large the seed
DEVIATION_SHARE, MOST_DEVIATIONS = 0.1, 3


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Background:
    """One thread that writes the batches, in order, while the main thread
    builds (and hashes) the next ones: the database works on one core while
    Python works on another. Nothing else uses the connection meanwhile."""

    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="seed-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is None:
                    return
                if self.error is None:
                    job()
            except BaseException as error:  # re-raised in the main thread
                self.error = error
            finally:
                self.jobs.task_done()

    def submit(self, job) -> None:
        if self.error is not None:
            raise self.error
        self.jobs.put(job)

    def wait(self) -> None:
        """Until every batch submitted is written: the connection is then
        the main thread's again (for a step through the services)."""
        self.jobs.join()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


class _Writer:
    """Rows straight to the database driver, in batches, with the column
    conversions SQLAlchemy's types would make (at millions of rows, its
    per-row processing is most of the cost): ``executemany`` on SQLite,
    ``COPY`` on PostgreSQL."""

    def __init__(self, table: str, columns: tuple[str, ...], background: _Background) -> None:
        connection = db.session.connection()
        self.dbapi = connection.connection.dbapi_connection
        self.background = background
        self.sqlite = connection.dialect.name == "sqlite"
        names = ", ".join(columns)
        # Table and column names are the seed's own constants, never input.
        self.sql = (f"INSERT INTO {table} ({names}) "  # noqa: S608  # nosec B608
                    f"VALUES ({', '.join('?' for _ in columns)})" if self.sqlite
                    else f"COPY {table} ({names}) FROM STDIN")
        self.rows: list[tuple] = []
        self.written = 0

    def moment(self, value: datetime):
        # SQLAlchemy's SQLite DATETIME storage format (naive UTC, see UTCDateTime)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def day(self, value):
        return value.isoformat() if self.sqlite and value is not None else value

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.background.submit(lambda rows=self.rows: self._write(rows))
            self.written += len(self.rows)
            self.rows = []

    def _write(self, rows: list[tuple]) -> None:
        cursor = self.dbapi.cursor()
        try:
            if self.sqlite:
                cursor.executemany(self.sql, rows)
            else:
                with cursor.copy(self.sql) as copy:
                    for row in rows:
                        copy.write_row(row)
        finally:
            cursor.close()


NOTE_COLUMNS = ("id", "person_id", "site_id", "kind", "restricted", "author_id", "created_at",
                "body", "contact_date", "contact_type", "attended", "revision_count",
                "updated_at", "protocol_deviation_id")
REVISION_COLUMNS = ("id", "note_id", "number", "body", "contact_date", "contact_type",
                    "attended", "reason", "author_id", "created_at")
EVENT_COLUMNS = ("id", "occurred_at", "actor_id", "actor_role", "action", "subject_type",
                 "subject_id", "site_id", "detail", "request_id", "client_addr", "prev_hash",
                 "hash")


class _Chain:
    """Appends events to the stored chain in bulk, hashed as the services do."""

    def __init__(self, background: _Background) -> None:
        lock_for_update(db.session, _CHAIN_LOCK)
        self.writer = _Writer("audit_events", EVENT_COLUMNS, background)
        self.resume()

    def resume(self) -> None:
        """Carry on from the stored chain's head (after the services appended to it)."""
        last = db.session.execute(
            select(AuditEvent.id, AuditEvent.hash, AuditEvent.occurred_at)
            .order_by(AuditEvent.id.desc()).limit(1)
        ).first()
        self.next_id = (last.id + 1) if last else 1
        self.prev = last.hash if last else chain.GENESIS
        # the moment of the newest event
        self.last = last.occurred_at if last else datetime.min.replace(tzinfo=UTC)

    def add(self, occurred_at: datetime, action: Action, *, actor_id, actor_role, subject_type,
            subject_id, site_id, detail, request_id, client_addr) -> None:
        fields = {"occurred_at": _iso(occurred_at), "actor_id": actor_id,
                  "actor_role": actor_role, "action": str(action),
                  "subject_type": subject_type, "subject_id": subject_id, "site_id": site_id,
                  "detail": detail, "request_id": request_id, "client_addr": client_addr}
        digest = fast_event_hash(self.prev, fields)
        self.writer.add((self.next_id, self.writer.moment(occurred_at), actor_id, actor_role,
                         fields["action"], subject_type, subject_id, site_id, json.dumps(detail),
                         request_id, client_addr, self.prev, digest))
        self.prev = digest
        self.next_id += 1
        self.last = occurred_at


def _web_origin(rng: random.Random) -> tuple[str, str]:
    request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return request_id, f"10.{rng.randrange(8)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def seed_activity(person_ids: list[int], seed: int, *, leads: Mapping[int, User],
                  now: datetime, history: TrialHistory | None = None) -> tuple[int, int]:
    """Notes and contacts for ``person_ids`` (and their referrals), with the
    audit events of their creation and of the views and notes, in time order,
    none later than ``now``. Most notes are written by the person's
    caseworker, the rest by the lead of the person's site (``leads``, by
    site id). No note or contact is dated before the person's first
    referral, nor written before the person's record was made.

    The trial's ``history`` (triage, decisions, pathway moves) is made
    through the services in the same pass, each step at its moment. A
    person randomised to the control arm has no programme contact from the
    day they were randomised (the notes written about them are case notes of
    what other services report), but for a few contacts made in error
    (the first such person's, and DEVIATION_SHARE of the others',
    MOST_DEVIATIONS at most), recorded
    through the notes service as any contact is, which records each as a
    protocol deviation (DESIGN.md):
    the seed wrote contacts with control-arm people that no deviation
    recorded (found by review).

    Returns (notes, audit events) written in bulk.
    """
    rng = random.Random(seed * 7919 + 17)  # noqa: S311 (synthetic data, reproducible by seed)
    if not person_ids:
        return 0, 0
    wanted = set(person_ids)
    people = {row.id: row for row in db.session.execute(
        select(Person.id, Person.site_id, Person.caseworker_id).where(Person.id >= min(wanted)))
        if row.id in wanted}
    referrals = [row for row in db.session.execute(
        select(Referral.id, Referral.person_id, Referral.site_id, Referral.referral_date,
               Referral.source, Referral.risk_indicators)
        .where(Referral.person_id >= min(wanted)).order_by(Referral.id))
        if row.person_id in people]
    roles = {row.id: str(row.role) for row in db.session.execute(
        select(User.id, User.role).where(User.id.in_(
            select(Person.caseworker_id).where(Person.id >= min(wanted)).distinct())))}
    anchor = anchor_day(now)
    first_referral = {}
    for referral in referrals:
        first_referral.setdefault(referral.person_id, referral.referral_date)

    # The intake history: each person imported with their referrals (by the
    # system, as their rows say: created_by_id is empty).
    intake_events = []
    created_at: dict[int, datetime] = {}  # when each person's record was made
    for referral in referrals:
        at = min(working_moment(rng, referral.referral_date), now)
        intake_events.append((at, 0, referral.id, referral))
        created_at[referral.person_id] = min(at, created_at.get(referral.person_id, at))
    intake_events.sort(key=lambda event: (event[0], event[2]))

    # The casework: for each note, the author opens the person's page, then writes.
    plans = []
    kinds, kind_weights = list(KIND_WEIGHTS), list(KIND_WEIGHTS.values())
    contact_types, contact_weights = list(CONTACT_WEIGHTS), list(CONTACT_WEIGHTS.values())
    for person_id in sorted(people):
        start = first_referral.get(person_id)
        if start is None:
            continue
        count = (rng.randint(150, 300) if rng.random() < HEAVY_SHARE
                 else rng.randint(0, 17))
        span = max(0, (anchor - start).days)
        # the person's page is opened a minute or more after their record was made
        earliest = created_at[person_id] + timedelta(seconds=60 + rng.randrange(3600))
        for _ in range(count):
            day = start + timedelta(days=rng.randint(0, span))
            at = max(working_moment(rng, day) + timedelta(minutes=1), earliest)
            kind = rng.choices(kinds, kind_weights)[0]
            roll, contact_type = rng.random(), rng.choices(contact_types, contact_weights)[0]
            if at <= now:  # (not later today)
                plans.append((at, 1, person_id, kind, roll, contact_type))
    plans.sort(key=lambda plan: (plan[0], plan[2]))

    background = _Background()
    log = _Chain(background)
    note_id = next_id(db.session, Note.__table__)
    revision_id = next_id(db.session, NoteRevision.__table__)
    notes = _Writer("notes", NOTE_COLUMNS, background)
    revisions = _Writer("note_revisions", REVISION_COLUMNS, background)
    import_origin = f"cli-seed-demo-{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    steps = [(at, 2, order, run) for at, order, run in history.steps] if history else []
    control_since = history.control_since if history else {}
    decided_at = history.decided_at if history else {}
    deviations_drawn: set[int] = set()
    deviations = 0

    def through_services(run, request_id: str, client_addr: str) -> tuple[int, int]:
        """Run a step through the services, the rows so far written first (its
        audit events then follow them in the chain); the ids to carry on from."""
        notes.flush()
        revisions.flush()
        log.writer.flush()
        background.wait()
        reset_id_sequences(db.session, "notes", "note_revisions", "audit_events")
        token = set_origin(Origin(request_id, client_addr))
        try:
            run()
            db.session.flush()
        finally:
            reset_origin(token)
        log.resume()
        return next_id(db.session, Note.__table__), next_id(db.session, NoteRevision.__table__)

    events: Iterator = heapq.merge(intake_events, plans, steps,
                                   key=lambda item: (item[0], item[1]))
    seen_people: set[int] = set()
    written_notes = 0
    for item in events:
        if item[1] == 2:
            note_id, revision_id = through_services(item[3], *_web_origin(rng))
            continue
        if item[1] == 0:
            at, _, referral_id, referral = item
            person = people[referral.person_id]
            if referral.person_id not in seen_people:
                seen_people.add(referral.person_id)
                log.add(at, Action.PERSON_CREATED, actor_id=None, actor_role=SYSTEM_ROLE,
                        subject_type="person", subject_id=str(referral.person_id),
                        site_id=person.site_id,
                        detail={"fields": ["date_of_birth", "ethnicity", "first_name",
                                           "gender", "last_name", "local_authority",
                                           "postcode"]},
                        request_id=import_origin, client_addr="cli")
            log.add(at, Action.REFERRAL_CREATED, actor_id=None, actor_role=SYSTEM_ROLE,
                    subject_type="referral", subject_id=str(referral_id),
                    site_id=referral.site_id,
                    detail={"person_id": referral.person_id, "status": "received",
                            "source": referral.source,
                            "risk_indicators": list(referral.risk_indicators or [])},
                    request_id=import_origin, client_addr="cli")
            continue
        at, _, person_id, kind, roll, contact_type = item
        person = people[person_id]
        # recorded up to two days after the contact, which was not before
        # the person's first referral
        contact_date = max(at.date() - timedelta(days=int(roll * 3)), first_referral[person_id])
        since, bodies = control_since.get(person_id), None
        deviation = False
        if since is not None and (contact_date if kind == NoteKind.CONTACT
                                  else local_date(at)) >= since:
            # in the control arm: no programme contact, but now and then one in error
            if kind == NoteKind.CONTACT and person_id not in deviations_drawn:
                deviations_drawn.add(person_id)
                # the first always (every demo shows one), then now and then
                drawn = rng.random() < DEVIATION_SHARE
                deviation = deviations < MOST_DEVIATIONS and (drawn or not deviations)
                deviations += deviation
            if not deviation:
                kind = NoteKind.DECISION if kind == NoteKind.DECISION else NoteKind.CASE_NOTE
                bodies = CONTROL_NOTE_BODIES[kind]
        elif (kind == NoteKind.CONTACT and person_id in decided_at and at < decided_at[person_id]
              and contact_date >= local_date(decided_at[person_id])):
            # that morning, the person was randomised that afternoon (perhaps to control)
            kind = NoteKind.CASE_NOTE
        if person.caseworker_id is not None and (roll > 0.15 or deviation):
            author_id, author_role = person.caseworker_id, roles[person.caseworker_id]
        else:
            lead = leads[person.site_id]
            author_id, author_role = lead.id, str(lead.role)
        restricted = roll > 0.97 and not deviation
        request_id, client_addr = _web_origin(rng)
        # the page opened before the note was written, and after the events
        # before it (another's note written less than a minute earlier)
        log.add(max(at - timedelta(seconds=50), log.last), Action.PERSON_VIEWED,
                actor_id=author_id,
                actor_role=author_role, subject_type="person", subject_id=str(person_id),
                site_id=person.site_id, detail={}, request_id=request_id,
                client_addr=client_addr)
        contact = kind == NoteKind.CONTACT
        contact_date = contact_date if contact else None
        attended = (roll < 0.85) if contact else None
        if bodies is None:
            bodies = CONTACT_BODIES[contact_type, attended] if contact else NOTE_BODIES[kind]
        if deviation:
            content = NoteContent(bodies[int(roll * 1000) % len(bodies)], contact_date,
                                  contact_type, attended)
            note_id, revision_id = through_services(partial(
                note_services.add_note, db.session.get(Person, person_id), str(kind), content,
                restricted=False, actor=db.session.get(User, author_id), now=at),
                str(uuid.UUID(int=rng.getrandbits(128), version=4)), client_addr)
            written_notes += 1
            continue
        content = {"body": bodies[int(roll * 1000) % len(bodies)],
                   "contact_date": contact_date,
                   "contact_type": contact_type if contact else None, "attended": attended}
        stamp, on = notes.moment(at), notes.day(contact_date)
        notes.add((note_id, person_id, person.site_id, str(kind), restricted, author_id, stamp,
                   content["body"], on, content["contact_type"], attended, 1, stamp, None))
        revisions.add((revision_id, note_id, 1, content["body"], on, content["contact_type"],
                       attended, None, author_id, stamp))
        request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))  # the POST
        log.add(at, Action.NOTE_CREATED, actor_id=author_id, actor_role=author_role,
                subject_type="note", subject_id=str(note_id), site_id=person.site_id,
                detail={"person_id": person_id, "kind": str(kind), "restricted": restricted,
                        "contact_date": contact_date.isoformat() if contact_date else None,
                        "contact_type": content["contact_type"], "attended": attended,
                        "protocol_deviation_id": None},
                request_id=request_id, client_addr=client_addr)
        note_id += 1
        revision_id += 1
        written_notes += 1
    # notes before their revisions (foreign key), both before the events' last batch
    notes.flush()
    revisions.flush()
    log.writer.flush()
    background.close()
    reset_id_sequences(db.session, "notes", "note_revisions", "audit_events")
    return written_notes, log.writer.written
