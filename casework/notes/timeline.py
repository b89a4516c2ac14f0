"""A person's case record in date order: notes and contacts, triage,
allocation, pathway changes, decided disruption proposals, protocol
deviations, Checkpoint and Outcome 22 assessments, and diversion steps.

One query pages the merged events (a UNION ALL of each source's dates and
ids), counts them in the same pass (a window count) and joins the page's
notes to their columns and authors; one more per other kind of event loads
that page's records: the number of queries depends on the kinds of event on
the page, never on how long the record is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

from sqlalchemy import (
    BigInteger,
    Date,
    String,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import joinedload

from casework.accounts.models import User
from casework.database import Paged, column_rows
from casework.dates import local_date
from casework.diversion.models import Assessment, DiversionCase
from casework.extensions import db
from casework.notes.models import Note
from casework.notes.reference import NoteKind
from casework.notes.services import can_read_restricted, readable_by
from casework.pathways.models import PathwayEpisode, PathwayProposal, ProtocolDeviation
from casework.triage.models import Triage
from casework.trial.models import Allocation

KINDS = ("note", "triage_submitted", "triage_decided", "allocation", "pathway",
         "proposal_decided", "deviation", "assessment", "diversion_offered",
         "diversion_started", "diversion_ended")


@dataclass(frozen=True)
class TimelineItem:
    kind: str
    on: date
    record: object


@dataclass(frozen=True, slots=True)
class TimelineNote:
    """A note on the record, read as plain values with its author's name:
    the page's notes and their authors built as Note and User objects were
    a twelfth of the person page. Has what a note's heading line
    (notes/_summary.html) and the record show."""

    id: int
    kind: NoteKind
    contact_type: str | None
    attended: bool | None
    restricted: bool
    revision_count: int
    protocol_deviation_id: int | None
    body: str
    author_name: str

    is_amended = Note.is_amended


@dataclass(frozen=True)
class TimelinePage(Paged):
    items: list[TimelineItem]
    total: int
    page: int
    per_page: int


def _kind(name: str):
    return literal(name, String(20)).label("kind")


def _events(every_note: bool):
    """(kind, id, on, at) for every event of the person ``:person_id``'s
    record; with only the restricted notes ``:actor_id`` wrote (and only
    the protocol deviations those flagged), unless ``every_note``."""
    person_id = bindparam("person_id")
    notes = true() if every_note else readable_by(bindparam("actor_id"))
    # a deviation flagged by a restricted note the reader may not read would
    # tell them the note exists, and its date
    deviations = true() if every_note else ~exists().where(
        Note.person_id == ProtocolDeviation.person_id,
        Note.protocol_deviation_id == ProtocolDeviation.id,
        ~readable_by(bindparam("actor_id")))
    # "timed": the day is a timestamp's, read in SQL as UTC's and shown as
    # England's (person_timeline); the others are dates as entered
    return union_all(
        # the union's columns take their types from this first select
        select(_kind("note"), Note.id.label("id"),
               type_coerce(func.coalesce(Note.contact_date, func.date(Note.created_at)),
                           Date).label("event_on"),
               Note.created_at.label("event_at"), Note.contact_date.is_(None).label("timed"))
        .where(Note.person_id == person_id, notes),
        select(_kind("triage_submitted"), Triage.id, func.date(Triage.submitted_at),
               Triage.submitted_at, true()).where(Triage.person_id == person_id),
        select(_kind("triage_decided"), Triage.id, func.date(Triage.decided_at),
               Triage.decided_at, true())
        .where(Triage.person_id == person_id, Triage.decided_at.is_not(None)),
        select(_kind("allocation"), Allocation.id, func.date(Allocation.allocated_at),
               Allocation.allocated_at, true()).where(Allocation.person_id == person_id),
        select(_kind("pathway"), PathwayEpisode.id, PathwayEpisode.effective_date,
               PathwayEpisode.created_at, false()).where(PathwayEpisode.person_id == person_id),
        # a disruption proposal, once a lead has decided it: a rejected one
        # moves no one, and was on no page a caseworker could open
        select(_kind("proposal_decided"), PathwayProposal.id,
               func.date(PathwayProposal.decided_at), PathwayProposal.decided_at, true())
        .where(PathwayProposal.person_id == person_id,
               PathwayProposal.decided_at.is_not(None)),
        select(_kind("deviation"), ProtocolDeviation.id, ProtocolDeviation.occurred_on,
               ProtocolDeviation.recorded_at, false())
        .where(ProtocolDeviation.person_id == person_id, deviations),
        select(_kind("assessment"), Assessment.id, func.date(Assessment.assessed_at),
               Assessment.assessed_at, true()).where(Assessment.person_id == person_id),
        select(_kind("diversion_offered"), DiversionCase.id, func.date(DiversionCase.offered_at),
               DiversionCase.offered_at, true()).where(DiversionCase.person_id == person_id),
        select(_kind("diversion_started"), DiversionCase.id, DiversionCase.started_on,
               DiversionCase.updated_at, false())
        .where(DiversionCase.person_id == person_id, DiversionCase.started_on.is_not(None)),
        select(_kind("diversion_ended"), DiversionCase.id, DiversionCase.ended_on,
               DiversionCase.updated_at, false())
        .where(DiversionCase.person_id == person_id, DiversionCase.ended_on.is_not(None)),
    ).subquery()


# A note's columns the record shows (TimelineNote's, after its id)
_NOTE_COLUMNS = (Note.kind, Note.contact_type, Note.attended, Note.restricted,
                 Note.revision_count, Note.protocol_deviation_id, Note.body, User.display_name)


@cache
def _statements(every_note: bool):
    """The page of events (counting them all in the same pass, and joining
    each note on it to its columns and author) and the bare count, built
    once for each reader's view of the notes: the record's page is the
    costliest statement a page builds, and only its parameters change."""
    events = _events(every_note)
    paged = (select(events.c.kind, events.c.id, events.c.event_on, events.c.event_at,
                    events.c.timed, func.count().over().label("total"))
             .order_by(events.c.event_on.desc(), events.c.event_at.desc(), events.c.kind,
                       events.c.id.desc())
             .offset(bindparam("skip", type_=BigInteger))
             .limit(bindparam("take", type_=BigInteger))
             .subquery("paged"))
    page = (select(paged.c.kind, paged.c.id, paged.c.event_on, paged.c.event_at, paged.c.timed,
                   paged.c.total, *_NOTE_COLUMNS)
            .select_from(paged)
            .outerjoin(Note, and_(paged.c.kind == "note", Note.id == paged.c.id))
            .outerjoin(User, User.id == Note.author_id)
            .order_by(paged.c.event_on.desc(), paged.c.event_at.desc(), paged.c.kind,
                      paged.c.id.desc()))
    return page, select(func.count()).select_from(events)


# The statements of the records of each kind other than notes (a few on any
# record, loaded as objects; the users' own sites are not shown, so not
# loaded: User.sites is eager).
LOADERS = {
    "triage_submitted": lambda ids: select(Triage).where(Triage.id.in_(ids))
    .options(joinedload(Triage.submitted_by).lazyload(User.sites)),
    "triage_decided": lambda ids: select(Triage).where(Triage.id.in_(ids))
    .options(joinedload(Triage.decided_by).lazyload(User.sites)),
    "allocation": lambda ids: select(Allocation).where(Allocation.id.in_(ids)),
    "pathway": lambda ids: select(PathwayEpisode).where(PathwayEpisode.id.in_(ids))
    .options(joinedload(PathwayEpisode.proposed_by).lazyload(User.sites),
             joinedload(PathwayEpisode.approved_by).lazyload(User.sites)),
    "proposal_decided": lambda ids: select(PathwayProposal).where(PathwayProposal.id.in_(ids))
    .options(joinedload(PathwayProposal.proposed_by).lazyload(User.sites),
             joinedload(PathwayProposal.decided_by).lazyload(User.sites)),
    "deviation": lambda ids: select(ProtocolDeviation).where(ProtocolDeviation.id.in_(ids))
    .options(joinedload(ProtocolDeviation.recorded_by).lazyload(User.sites)),
    "assessment": lambda ids: select(Assessment).where(Assessment.id.in_(ids)),
    "diversion_offered": lambda ids: select(DiversionCase).where(DiversionCase.id.in_(ids)),
    "diversion_started": lambda ids: select(DiversionCase).where(DiversionCase.id.in_(ids)),
    "diversion_ended": lambda ids: select(DiversionCase).where(DiversionCase.id.in_(ids)),
}


def _load(kind: str, ids: list[int]):
    return db.session.scalars(LOADERS[kind](ids)).unique()


def person_timeline(person_id: int, *, actor: User, page: int = 1,
                    per_page: int = 20) -> TimelinePage:
    """The person's record, newest first, paginated; restricted notes appear
    only for those who may read them."""
    every_note = can_read_restricted(actor)
    page_stmt, count_stmt = _statements(every_note)
    params = {"person_id": person_id} if every_note else {"person_id": person_id,
                                                          "actor_id": actor.id}

    def page_rows(number: int):
        return column_rows(
            page_stmt, {**params, "skip": (number - 1) * per_page, "take": per_page}).all()

    page = max(1, page)
    rows = page_rows(page)
    if rows:
        total = rows[0].total
    else:  # an empty record, or a page past the end: count, and show the last page
        total = column_rows(count_stmt, params).scalar()
        last = max(1, -(-total // per_page))
        if page > last:
            page = last
            rows = page_rows(page) if total else []
    # a note comes with its page's row; other kinds, a query for each kind
    # on the page
    loaded: dict[tuple[str, int], object] = {}
    wanted: dict[str, list[int]] = {}
    for kind, ident, _on, _at, _timed, _total, *note in rows:
        if kind == "note":
            loaded[(kind, ident)] = TimelineNote(ident, *note)
        else:
            wanted.setdefault(kind, []).append(ident)
    for kind, ids in wanted.items():
        for record in _load(kind, ids):
            loaded[(kind, record.id)] = record
    items = [TimelineItem(row.kind, local_date(row.event_at) if row.timed else row.event_on,
                          loaded[(row.kind, row.id)]) for row in rows]
    return TimelinePage(items, total, page, per_page)
