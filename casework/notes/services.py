"""Notes and contacts: writing, amending, reading with restriction, search,
and overdue contacts. Services flush, never commit; note bodies and
amendment reasons never go into the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Select,
    and_,
    case,
    column,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.orm import joinedload

from casework import submissions
from casework.accounts.models import User
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import Paged, check_unchanged, count_up_to, lock_row, row_version
from casework.dates import local_date
from casework.extensions import db
from casework.intake import services as intake
from casework.intake.models import Person
from casework.notes.models import Note, NoteRevision
from casework.notes.reference import (
    CONTACT_TYPES,
    MAX_BODY_LENGTH,
    MAX_REASON_LENGTH,
    NoteKind,
    Overdue,
    overdue,
)
from casework.pathways import services as pathways
from casework.pathways.models import PathwayEpisode
from casework.trial.sequence import Arm


class NoteError(Exception):
    """A note request whose meaning is wrong; ``problems`` maps fields to messages."""

    def __init__(self, problems: dict[str | None, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


@dataclass(frozen=True)
class NoteContent:
    body: str
    contact_date: date | None = None
    contact_type: str | None = None
    attended: bool | None = None

    def fields(self) -> dict:
        return {"body": self.body, "contact_date": self.contact_date,
                "contact_type": self.contact_type, "attended": self.attended}


def check_content(kind: str, content: NoteContent, *, today: date,
                  born: date | None = None) -> NoteContent:
    """Validate a note's content; NoteError names every bad field."""
    try:
        kind = NoteKind(kind)
    except ValueError:
        raise NoteError({"kind": "Select what you are recording"}) from None
    return _check(kind, content, today=today, born=born)


# No contact is older than this, whoever it is with (the person's date of
# birth, where it is known, is the nearer bound): a date of 1 January 0001
# was kept, and fed the overdue signal and the extracts' day offsets.
EARLIEST_CONTACT = date(1900, 1, 1)


def _check(kind: NoteKind, content: NoteContent, *, today: date,
           born: date | None = None) -> NoteContent:
    """Plain text within the length limit; contacts need a date (not in the
    future, nor before the person was born), a type, and whether it was
    attended; other kinds have none."""
    problems: dict[str | None, str] = {}
    # NUL is not text (PostgreSQL refuses it); everything else is kept as typed.
    body = (content.body or "").replace("\x00", "").strip()
    if not body:
        problems["body"] = "Enter the note"
    elif len(body) > MAX_BODY_LENGTH:
        problems["body"] = (f"The note must be {MAX_BODY_LENGTH:,} characters or fewer; "
                            f"it is {len(body):,}")
    if kind == NoteKind.CONTACT:
        if content.contact_date is None:
            problems["contact_date"] = "Enter the date of the contact"
        elif content.contact_date > today:
            problems["contact_date"] = "The date of the contact cannot be in the future"
        elif born is not None and content.contact_date < born:
            problems["contact_date"] = ("The date of the contact cannot be before the person's "
                                        "date of birth")
        elif content.contact_date < EARLIEST_CONTACT:
            problems["contact_date"] = "The date of the contact must be 1900 or later"
        if content.contact_type not in CONTACT_TYPES:
            problems["contact_type"] = "Select the type of contact"
        if content.attended is None:
            problems["attended"] = "Select whether the person attended"
    if problems:
        raise NoteError(problems)
    if kind != NoteKind.CONTACT:
        return NoteContent(body)
    return NoteContent(body, content.contact_date, content.contact_type, content.attended)


def can_read_restricted(actor: User) -> bool:
    return actor.can(Permission.RESTRICTED_NOTE_READ)


def can_read(note: Note, actor: User) -> bool:
    """Restricted notes are for their author and for leads only."""
    return not note.restricted or note.author_id == actor.id or can_read_restricted(actor)


def readable(actor: User):
    """A condition on Note: what ``actor`` may read of restricted notes."""
    if can_read_restricted(actor):
        return true()
    return readable_by(actor.id)


def readable_by(author_id):
    """A condition on Note: unrestricted, or written by ``author_id`` (a
    value, or a bound parameter in a statement built once)."""
    return or_(Note.restricted.is_(False), Note.author_id == author_id)


def visible_notes(actor: User) -> Select:
    """Notes on people the actor may see, without restricted notes they may
    not read: the one query every list, count and search starts from."""
    people = intake.visible_people(actor).with_only_columns(Person.id)
    return select(Note).where(Note.person_id.in_(people), readable(actor))


def can_see_history(note: Note, actor: User) -> bool:
    """Every earlier version is visible to leads (and to the note's author)."""
    return note.author_id == actor.id or actor.can(Permission.CASELOAD_REVIEW)


def can_amend(note: Note, actor: User) -> bool:
    return actor.can(Permission.NOTE_WRITE) and (
        note.author_id == actor.id or actor.can(Permission.CASELOAD_REVIEW))


def _audit_fields(note: Note) -> dict:
    return {"kind": str(note.kind), "restricted": note.restricted,
            "contact_date": note.contact_date.isoformat() if note.contact_date else None,
            "contact_type": note.contact_type, "attended": note.attended}


def add_note(person: Person, kind: str, content: NoteContent, *, restricted: bool,
             actor: User, now: datetime, submission: str | None = None) -> Note:
    """Write a note, a contact or a decision on a person's case.

    A contact with a person in the control arm is kept, and flagged as a
    protocol deviation in the same transaction. A form sent again (its
    ``submission`` key claimed) raises submissions.AlreadySubmitted.
    """
    try:
        kind = NoteKind(kind)
    except ValueError:
        raise NoteError({"kind": "Select what you are recording"}) from None
    content = _check(kind, content, today=local_date(now), born=person.date_of_birth)
    submissions.claim(submission, "note", actor=actor, now=now)
    note = Note(person_id=person.id, site_id=intake.working_site(person, actor), kind=kind,
                restricted=bool(restricted), author_id=actor.id, created_at=now,
                updated_at=now, revision_count=1, **content.fields())
    db.session.add(note)
    db.session.flush()
    db.session.add(NoteRevision(note_id=note.id, number=1, author_id=actor.id, created_at=now,
                                reason=None, **content.fields()))
    _flag_deviation(note, actor=actor, now=now)
    db.session.flush()
    submissions.settle(submission, note.id)
    audit.record(Action.NOTE_CREATED, actor=actor, now=now, subject_type="note",
                 subject_id=note.id, site_id=note.site_id,
                 detail={"person_id": person.id, **_audit_fields(note),
                         "protocol_deviation_id": note.protocol_deviation_id})
    return note


def _flag_deviation(note: Note, *, actor: User, now: datetime) -> None:
    """A contact with a person in the control arm, on or after the day they
    were randomised, is a protocol deviation, recorded in the same
    transaction (once a note). Before that day they were in no arm, so a
    contact then (at triage, say) is none."""
    if note.kind != NoteKind.CONTACT or note.protocol_deviation_id is not None:
        return
    allocation = pathways.allocation_of(note.person_id)
    if (allocation is None or allocation.arm != Arm.CONTROL
            or note.contact_date < local_date(allocation.allocated_at)):
        return
    # Neutral words: the note itself may be restricted.
    deviation = pathways.record_deviation(
        note.person, note.contact_date, "Programme contact recorded in the case notes.",
        actor=actor, now=now)
    note.protocol_deviation_id = deviation.id


def note_version(note: Note) -> str:
    """The version of a note its amend form is drawn from: its revision."""
    return row_version({"revision": note.revision_count})


def amend_note(note: Note, content: NoteContent, reason: str | None, *, actor: User,
               now: datetime, based_on: str | None = None) -> NoteRevision:
    """Correct a note: a new revision with a reason; every earlier one stays.
    Refused (ChangedMeanwhile) if it was amended since the revision
    ``based_on`` the form was drawn from: that amendment is not undone unseen."""
    if not can_amend(note, actor):
        raise NoteError({None: "Only the note's author or a lead can amend it"})
    problems: dict[str | None, str] = {}
    reason = (reason or "").replace("\x00", "").strip()
    if not reason:
        problems["reason"] = "Say why the note is being amended"
    elif len(reason) > MAX_REASON_LENGTH:
        problems["reason"] = f"The reason must be {MAX_REASON_LENGTH:,} characters or fewer"
    try:
        content = _check(note.kind, content, today=local_date(now),
                         born=note.person.date_of_birth)
    except NoteError as error:
        problems = {**error.problems, **problems}
    if problems:
        raise NoteError(problems)
    lock_row(db.session, note)
    check_unchanged(based_on, {"revision": note.revision_count})
    before = _audit_fields(note)
    body_changed = content.body != note.body
    if content.fields() == {k: getattr(note, k) for k in content.fields()}:
        raise NoteError({"body": "Nothing has changed: amend the note or cancel"})
    number = note.revision_count + 1
    revision = NoteRevision(note_id=note.id, number=number, author_id=actor.id,
                            created_at=now, reason=reason, **content.fields())
    db.session.add(revision)
    for name, value in content.fields().items():
        setattr(note, name, value)
    note.revision_count, note.updated_at = number, now
    # a contact's date corrected to after the randomisation: a deviation now
    # (one recorded for an earlier date stays: deviations are append-only)
    _flag_deviation(note, actor=actor, now=now)
    db.session.flush()
    audit.record(Action.NOTE_AMENDED, actor=actor, now=now, subject_type="note",
                 subject_id=note.id, site_id=note.site_id,
                 detail={"revision": number, "body_changed": body_changed,
                         **audit.changes(before, _audit_fields(note))})
    return revision


def record_view(note: Note, *, actor: User, now: datetime) -> None:
    """Reading a note is audited (``note:viewed``), restricted ones flagged."""
    audit.record(Action.NOTE_VIEWED, actor=actor, now=now, subject_type="note",
                 subject_id=note.id, site_id=note.site_id,
                 detail={"restricted": note.restricted})


def current_revision(note: Note) -> NoteRevision:
    """The version of ``note`` shown: its author and time say who wrote the
    words on the page (a lead's amendment of someone else's note was shown
    as written by the note's author)."""
    return db.session.scalars(select(NoteRevision).where(
        NoteRevision.note_id == note.id, NoteRevision.number == note.revision_count)).one()


def revisions(note: Note) -> list[NoteRevision]:
    return list(db.session.scalars(select(NoteRevision).where(
        NoteRevision.note_id == note.id).order_by(NoteRevision.number.desc())).unique())


# search

@dataclass(frozen=True)
class NotePage(Paged):
    notes: list[Note]
    total: int
    page: int
    per_page: int
    capped: bool = False  # more than ``total`` match


# Matches counted up to this many; past it the page says "more than".
SEARCH_COUNT_CAP = 1_000
# SQLite's FTS5 index of the notes' bodies (migration 0010).
_NOTES_FTS = table("notes_fts", column("rowid"))


def _fts_match(words: list[str]):
    """SQLite: the notes whose body has every word (stemmed, as PostgreSQL's
    English configuration stems them), from the FTS5 index. Each word is
    quoted, so FTS5's own syntax (AND, NEAR, *, column filters) is only text."""
    phrases = " ".join('"' + word.replace('"', '""') + '"' for word in words)
    return Note.id.in_(select(_NOTES_FTS.c.rowid)
                       .where(literal_column("notes_fts").op("MATCH")(phrases)))


# casework's text search configuration, English without accents (migration
# 0020), written into the statement: the index is on this expression, which
# a parameter in its place would not match once PostgreSQL plans generically
SEARCH_CONFIGURATION = literal_column("'casework_english'::regconfig")


def search_notes(text: str, *, actor: User, page: int = 1, per_page: int = 20) -> NotePage:
    """Notes within the actor's scope with every word of ``text``, from a
    full-text index: PostgreSQL's (English stemming) or SQLite's FTS5
    (Porter stemming), most recently recorded first. Restricted notes the
    actor may not read are never matched, counted or previewed. Matches are
    counted up to SEARCH_COUNT_CAP. Two queries."""
    # NUL ends a string for SQLite's FTS5 (the form already drops it)
    words = (text or "").replace("\x00", "").split()[:20]
    if not words:
        return NotePage([], 0, 1, per_page)
    # Each match's person checked in turn (one seek), rather than listing
    # every person the actor may see first (all of them, for a lead of
    # every site) for a search whose matches are few.
    stmt = select(Note).where(intake.person_visible(Note.person_id, actor), readable(actor))
    if db.session.get_bind().dialect.name == "postgresql":
        # casework's configuration: English without accents (migration 0020)
        query = func.plainto_tsquery(SEARCH_CONFIGURATION, " ".join(words))
        stmt = stmt.where(func.to_tsvector(SEARCH_CONFIGURATION, Note.body).op("@@")(query))
    else:
        stmt = stmt.where(_fts_match(words))
    total, capped, page = count_up_to(db.session, stmt.with_only_columns(Note.id),
                                      SEARCH_COUNT_CAP, page, per_page)
    if capped:  # only the pages the count reaches (the page links go no further)
        page = max(1, min(page, -(-total // per_page)))
    else:
        # Few matches: take them all from the index first (the LIMIT keeps
        # PostgreSQL from walking every note newest first, looking for them).
        stmt = select(Note).where(Note.id.in_(
            stmt.with_only_columns(Note.id).limit(SEARCH_COUNT_CAP + 1)))
    notes = db.session.scalars(
        # Most recently recorded first, on both databases: the order of the
        # notes' key, so a common word reads only as many of its matches as
        # the page needs (ranking by relevance read and ranked all of them).
        stmt.options(joinedload(Note.person)).order_by(Note.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).unique().all()
    return NotePage(list(notes), total, page, per_page, capped)


# overdue contacts

@dataclass(frozen=True)
class OverdueContact:
    person: Person
    episode: PathwayEpisode
    overdue: Overdue


def overdue_people(actor: User, *, today: date, thresholds: dict[str, int]) -> Select:
    """(person_id, site_id, started, last_contact) of every treated person
    whose contact is overdue, ``started`` being when the clock began: the
    rule of reference.overdue in SQL, for listing, counting and grouping."""
    return overdue_before(readable(actor), {pathway: today - timedelta(days=days)
                                            for pathway, days in thresholds.items()})


def last_contact_of(person_id, reads) -> Select:
    """The date of the last attended contact with ``person_id`` (a value, or
    a column to correlate with) in the notes ``reads`` lets the reader see
    (``readable``): one seek in the (person, kind, attended, contact date)
    index."""
    return select(func.max(Note.contact_date)).where(
        Note.person_id == person_id, Note.kind == NoteKind.CONTACT, Note.attended.is_(True),
        reads)


def overdue_before(reads, cutoffs: dict) -> Select:
    """``overdue_people``, for a reader's view of notes (``readable``) and,
    for each pathway, the day before which a clock started is overdue
    (values, or bound parameters in a statement built once)."""
    # Per open episode, its person's last attended contact (one seek),
    # rather than grouping every note of every person (a million of them
    # nationally) first.
    last_contact = (last_contact_of(PathwayEpisode.person_id, reads)
                    .correlate(PathwayEpisode).scalar_subquery())
    started = case((last_contact > PathwayEpisode.effective_date, last_contact),
                   else_=PathwayEpisode.effective_date)
    conditions = [and_(PathwayEpisode.pathway == pathway, started < cutoff)
                  for pathway, cutoff in cutoffs.items()]
    return (select(PathwayEpisode.person_id, PathwayEpisode.site_id, started.label("started"),
                   last_contact.label("last_contact"))
            .where(PathwayEpisode.end_date.is_(None), or_(*conditions) if conditions else false()))


def overdue_contacts(actor: User, *, today: date, thresholds: dict[str, int],
                     site_ids: frozenset[int] | None, limit: int = 500) -> list[OverdueContact]:
    """Treated people whose contact is overdue, most overdue first: one
    query (``overdue_people`` with the episodes and their people). The
    people of ``site_ids`` by the rule the dashboard counts them by
    (``intake.services.at_sites``: their own site or a referral's), not
    by their episode's site, which left a person living at one site and
    randomised at another off their own site's list."""
    stmt = (overdue_people(actor, today=today, thresholds=thresholds)
            .add_columns(PathwayEpisode).options(joinedload(PathwayEpisode.person))
            .order_by("started").limit(limit))
    if site_ids is not None:
        stmt = (stmt.join(Person, Person.id == PathwayEpisode.person_id)
                .where(intake.at_sites(sorted(site_ids))))
    rows = []
    for row in db.session.execute(stmt).unique():
        episode = row.PathwayEpisode
        found = overdue(str(episode.pathway), episode.effective_date, row.last_contact, today,
                        thresholds)
        if found is not None:  # always, by the same rule; the numbers come from here
            rows.append(OverdueContact(episode.person, episode, found))
    return sorted(rows, key=lambda r: -r.overdue.days_over)


def person_overdue(person_id: int, *, actor: User, today: date,
                   thresholds: dict[str, int],
                   pathway: pathways.PersonPathway | None = None) -> Overdue | None:
    """Whether the person's contact is overdue; ``pathway``, when the caller
    has loaded it, gives the current episode without another query."""
    episode = pathway.current if pathway is not None else pathways.current_episode(person_id)
    if episode is None:
        return None
    last = db.session.scalar(last_contact_of(person_id, readable(actor)))
    return overdue(str(episode.pathway), episode.effective_date, last, today, thresholds)
