"""Notes and contacts on a real database: nothing lost, restricted notes
kept from those who may not read them, search, overdue contacts, the
timeline, and the control-arm deviation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.notes import services
from casework.notes.models import Note, NoteRevision
from casework.notes.services import NoteContent
from casework.notes.timeline import person_timeline
from casework.pathways import services as pathways
from casework.pathways.models import ProtocolDeviation
from tests.conftest import count_queries, load_migration, run_migration_step

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
THRESHOLDS = {"engaged": 14, "at_risk_monitoring": 28}


@pytest.fixture
def people(make_referral):
    return make_referral("coventry").person, make_referral("wolverhampton").person


@pytest.fixture
def users(make_user):
    return {
        "author": make_user("caseworker", ("coventry",), email="author@example.org"),
        "colleague": make_user("caseworker", ("coventry",), email="colleague@example.org"),
        "outsider": make_user("caseworker", ("wolverhampton",), email="outsider@example.org"),
        "lead": make_user("lead", ("coventry",), email="lead@example.org"),
        "other_lead": make_user("lead", ("wolverhampton",), email="wlead@example.org"),
    }


def add(person, actor, body="Met at the youth centre.", kind="case_note", restricted=False,
        **contact):
    note = services.add_note(person, kind, NoteContent(body, **contact), restricted=restricted,
                             actor=actor, now=NOW)
    db.session.commit()
    return note


def contact(person, actor, on, attended=True, **kwargs):
    return add(person, actor, "Contact.", "contact", contact_date=on, contact_type="phone",
               attended=attended, **kwargs)


def test_contacts_need_their_details(people, users):
    person, _ = people
    with pytest.raises(services.NoteError) as refused:
        services.add_note(person, "contact", NoteContent("Called"), restricted=False,
                          actor=users["author"], now=NOW)
    assert set(refused.value.problems) == {"contact_date", "contact_type", "attended"}
    with pytest.raises(services.NoteError, match="cannot be in the future"):
        services.add_note(person, "contact", NoteContent("x", date(2026, 11, 22), "phone", True),
                          restricted=False, actor=users["author"], now=NOW)
    with pytest.raises(services.NoteError) as refused:
        services.add_note(person, "case_note", NoteContent("x" * 10_001), restricted=False,
                          actor=users["author"], now=NOW)
    assert refused.value.problems["body"] == (
        "The note must be 10,000 characters or fewer; it is 10,001")
    db.session.rollback()
    note = add(person, users["author"], "  A case note  ", contact_date=date(2026, 1, 1),
               contact_type="phone", attended=True)
    assert note.body == "A case note" and note.contact_date is None and note.attended is None


def test_a_contact_is_not_dated_before_the_person_was_born(people, users):
    """A contact dated 1 January 0001 was kept, and fed the overdue signal
    and the extracts' day offsets (found by review): a contact is not
    before the person's date of birth, nor before 1900 if it is not known;
    an amendment is held to the same."""
    person, _ = people  # born 1 January 2008
    for on, message in ((date(1, 1, 1), "before the person's date of birth"),
                        (date(2007, 12, 31), "before the person's date of birth")):
        with pytest.raises(services.NoteError, match=message):
            services.add_note(person, "contact", NoteContent("x", on, "phone", True),
                              restricted=False, actor=users["author"], now=NOW)
        db.session.rollback()
    note = contact(person, users["author"], date(2008, 1, 1))
    with pytest.raises(services.NoteError, match="before the person's date of birth"):
        services.amend_note(note, NoteContent("x", date(1999, 1, 1), "phone", True), "typo",
                            actor=users["author"], now=NOW)
    db.session.rollback()
    person.date_of_birth = None
    db.session.commit()
    with pytest.raises(services.NoteError, match="1900 or later"):
        services.add_note(person, "contact", NoteContent("x", date(1899, 12, 31), "phone", True),
                          restricted=False, actor=users["author"], now=NOW)


def test_an_amendment_keeps_every_version(people, users):
    person, _ = people
    note = add(person, users["author"], "Met Jordan on Tuesday.")
    with pytest.raises(services.NoteError) as refused:
        services.amend_note(note, NoteContent("Met Jordan on Wednesday."), "",
                            actor=users["author"], now=NOW)
    assert "reason" in refused.value.problems
    with pytest.raises(services.NoteError, match="Nothing has changed"):
        services.amend_note(note, NoteContent("Met Jordan on Tuesday."), "Typo",
                            actor=users["author"], now=NOW)
    with pytest.raises(services.NoteError, match="Only the note's author or a lead"):
        services.amend_note(note, NoteContent("Changed"), "Mine now",
                            actor=users["colleague"], now=NOW)
    db.session.rollback()
    services.amend_note(note, NoteContent("Met Jordan on Wednesday."), "Wrong day",
                        actor=users["author"], now=NOW + timedelta(hours=1))
    services.amend_note(note, NoteContent("Met Jordan on Wednesday at school."), "Place",
                        actor=users["lead"], now=NOW + timedelta(hours=2))
    db.session.commit()
    versions = services.revisions(note)
    assert [(r.number, r.body, r.reason) for r in versions] == [
        (3, "Met Jordan on Wednesday at school.", "Place"),
        (2, "Met Jordan on Wednesday.", "Wrong day"),
        (1, "Met Jordan on Tuesday.", None),
    ]
    assert note.body == versions[0].body and note.revision_count == 3
    details = json.dumps([e.detail for e in db.session.scalars(select(AuditEvent))])
    for secret in ("Jordan", "Wrong day", "Place"):
        assert secret not in details
    note_actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.like("note:%")).order_by(AuditEvent.id)).all()
    assert note_actions == ["note:created", "note:amended", "note:amended"]


bodies = st.text(min_size=1, max_size=80).filter(lambda s: s.replace("\x00", "").strip())


class NoteMachine(RuleBasedStateMachine):
    """No sequence of adds and amendments loses or alters a stored version."""

    notes = Bundle("notes")

    def __init__(self, person, author):
        super().__init__()
        self.person, self.author = person, author
        self.expected: dict[int, list[tuple[str, str | None]]] = {}

    @rule(target=notes, body=bodies, restricted=st.booleans())
    def add(self, body, restricted):
        note = services.add_note(self.person, "case_note", NoteContent(body),
                                 restricted=restricted, actor=self.author, now=NOW)
        db.session.commit()
        self.expected[note.id] = [(body.replace("\x00", "").strip(), None)]
        return note.id

    @rule(note_id=notes, body=bodies, reason=st.text(max_size=40))
    def amend(self, note_id, body, reason):
        note = db.session.get(Note, note_id)
        try:
            services.amend_note(note, NoteContent(body), reason, actor=self.author, now=NOW)
            db.session.commit()
        except services.NoteError:
            db.session.rollback()
            return
        self.expected[note_id].append((body.replace("\x00", "").strip(),
                                       reason.replace("\x00", "").strip()))

    @invariant()
    def every_version_is_stored_unchanged(self):
        db.session.expire_all()
        for note_id, versions in self.expected.items():
            stored = db.session.execute(
                select(NoteRevision.body, NoteRevision.reason)
                .where(NoteRevision.note_id == note_id).order_by(NoteRevision.number)).all()
            assert [tuple(row) for row in stored] == versions
            assert db.session.get(Note, note_id).body == versions[-1][0]


def test_no_sequence_of_adds_and_amendments_loses_a_version(people, users):
    person, author = people[0], users["author"]
    run_state_machine_as_test(
        lambda: NoteMachine(person, author),
        settings=settings(max_examples=12, stateful_step_count=12, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )


def _readers(note) -> dict[str, bool]:
    return {name: db.session.scalar(
        services.visible_notes(user).where(Note.id == note.id)) is not None
        for name, user in USERS.items()}


USERS: dict = {}


def test_restricted_notes_by_role(people, users, make_user):
    person, _ = people
    USERS.clear()
    USERS.update(users)
    USERS["admin"] = make_user("admin", (), email="admin@example.org")
    USERS["evaluator"] = make_user("evaluator", (), email="evaluator@example.org")
    open_note = add(person, users["author"], "Ordinary note")
    secret = add(person, users["author"], "Safeguarding disclosure", restricted=True)
    assert _readers(open_note) == {
        "author": True, "colleague": True, "outsider": False, "lead": True,
        "other_lead": False, "admin": True, "evaluator": True}  # the last two have no pages
    assert _readers(secret) == {
        "author": True, "colleague": False, "outsider": False, "lead": True,
        "other_lead": False, "admin": False, "evaluator": False}
    colleague_search = services.search_notes("Safeguarding", actor=users["colleague"])
    assert colleague_search.total == 0 and colleague_search.notes == []
    assert services.search_notes("Safeguarding", actor=users["lead"]).total == 1
    # The timeline's statements are built once per view of the notes and
    # shared: each reader still gets their own view, in any order.
    for reader, notes in (("colleague", [open_note.id]), ("author", [secret.id, open_note.id]),
                          ("lead", [secret.id, open_note.id]), ("colleague", [open_note.id])):
        timeline = person_timeline(person.id, actor=users[reader])
        assert [i.record.id for i in timeline.items if i.kind == "note"] == notes, reader
        assert timeline.total == len(notes)  # a restricted note is not even counted
    for page in (1, 2):
        timeline = person_timeline(person.id, actor=users["author"], page=page, per_page=1)
        assert [i.record.id for i in timeline.items] == [[secret.id], [open_note.id]][page - 1]


def test_search_is_scoped(people, users):
    coventry, wolverhampton = people
    add(coventry, users["author"], "Arrested near the station")
    add(wolverhampton, users["outsider"], "Arrested near the market")
    found = services.search_notes("arrested", actor=users["author"])
    assert [n.body for n in found.notes] == ["Arrested near the station"]
    assert services.search_notes("", actor=users["author"]).total == 0
    assert services.search_notes("100%_", actor=users["author"]).total == 0


def test_search_stems_words_on_both_databases(people, users):
    add(people[0], users["author"], "He was arrested for robbery")
    add(people[0], users["author"], "Arrest warrant")
    assert services.search_notes("arrest robberies", actor=users["author"]).total == 1
    assert services.search_notes("ARRESTING", actor=users["author"]).total == 2
    assert services.search_notes("rob", actor=users["author"]).total == 0  # words, not parts


def test_search_ignores_accents_on_both_databases(people, users):
    """SQLite's index ignores accents and PostgreSQL's English configuration
    did not: "Zoe" found a note about Zoë on one database only (found by
    review; migration 0020)."""
    add(people[0], users["author"], "Met Zoë and her café friends")
    add(people[0], users["author"], "Zoe called back")
    assert services.search_notes("zoe", actor=users["author"]).total == 2
    assert services.search_notes("Zoë", actor=users["author"]).total == 2
    assert services.search_notes("cafe", actor=users["author"]).total == 1


@pytest.mark.postgres
def test_migration_0020_goes_down_and_up_again(app):
    migration = load_migration("0020")
    for step in (migration.downgrade, migration.upgrade):
        run_migration_step(step)
    index = db.session.scalar(text("SELECT indexdef FROM pg_indexes "
                                   "WHERE indexname = 'ix_notes_body_fts'"))
    assert "casework_english" in index


@pytest.mark.parametrize(("text", "found"), [
    ("NEAR(arrested robbery)", 0), ("body:arrested", 0), ("arrest*", 1), ('"', 0),
    ('"arrested', 1), ("%_", 0), ("-arrested", 1), ("(", 0), ("^arrested", 1),
    ("arrested)", 1), ("robbery:", 1),
])
def test_search_syntax_is_only_text(people, users, text, found):
    """FTS5's and PostgreSQL's query syntax in a search is taken as words."""
    add(people[0], users["author"], "He was arrested for robbery")
    assert services.search_notes(text, actor=users["author"]).total == found


def test_a_nul_in_a_search_is_dropped(people, users):
    add(people[0], users["author"], "He was arrested for robbery")
    assert services.search_notes("arre\x00sted", actor=users["author"]).total == 1
    assert services.search_notes("\x00", actor=users["author"]).total == 0


def test_an_amended_note_is_found_by_its_new_words_only(people, users):
    note = add(people[0], users["author"], "Seen at the bus station")
    services.amend_note(note, NoteContent("Seen at the railway station"), "Wrong place",
                        actor=users["author"], now=NOW)
    db.session.commit()
    assert services.search_notes("railway", actor=users["author"]).total == 1
    assert services.search_notes("bus", actor=users["author"]).total == 0


def test_search_counts_up_to_a_cap_and_shows_the_newest_first(people, users, monkeypatch):
    monkeypatch.setattr(services, "SEARCH_COUNT_CAP", 3)
    notes = [add(people[0], users["author"], f"Football practice {n}") for n in range(5)]
    newest_first = [n.id for n in reversed(notes)]
    many = services.search_notes("football", actor=users["author"], per_page=2)
    assert (many.total, many.capped, many.pages) == (3, True, 2)
    assert [n.id for n in many.notes] == newest_first[:2]
    assert [n.id for n in services.search_notes("football", actor=users["author"], per_page=2,
                                                page=2).notes] == newest_first[2:4]
    few = services.search_notes("practice 3", actor=users["author"])
    assert (few.total, few.capped, [n.id for n in few.notes]) == (1, False, [notes[3].id])
    monkeypatch.setattr(services, "SEARCH_COUNT_CAP", 10)
    every = services.search_notes("football", actor=users["author"])
    assert (every.total, every.capped) == (5, False)
    assert [n.id for n in every.notes] == newest_first


def test_overdue_contacts(randomised, users, make_user):
    worker = make_user("caseworker", ("coventry",), email="mover@example.org")
    engaged = randomised("treatment", on=datetime(2026, 9, 1, tzinfo=UTC))
    pathways.move(engaged, pathways.MoveRequest("engaged", date(2026, 9, 2)), actor=worker,
                  now=NOW)
    seen = randomised("treatment", on=datetime(2026, 9, 1, tzinfo=UTC))
    pathways.move(seen, pathways.MoveRequest("engaged", date(2026, 9, 2)), actor=worker, now=NOW)
    db.session.commit()
    contact(engaged, users["author"], date(2026, 11, 1), attended=False)  # missed: no count
    contact(engaged, users["author"], date(2026, 11, 2))
    contact(seen, users["author"], date(2026, 11, 10))

    today = date(2026, 11, 21)
    rows = services.overdue_contacts(users["author"], today=today, thresholds=THRESHOLDS,
                                     site_ids=frozenset({engaged.site_id}))
    assert [(r.person.id, r.overdue.days_over) for r in rows] == [(engaged.id, 5)]
    assert services.person_overdue(seen.id, actor=users["author"], today=today,
                                   thresholds=THRESHOLDS) is None

    contact(engaged, users["author"], date(2026, 11, 20), restricted=True)
    assert services.overdue_contacts(users["author"], today=today, thresholds=THRESHOLDS,
                                     site_ids=None) == []
    # the colleague cannot see the restricted contact, so for them it is still overdue
    assert len(services.overdue_contacts(users["colleague"], today=today,
                                         thresholds=THRESHOLDS, site_ids=None)) == 1


def test_a_contact_with_a_control_person_is_a_deviation(randomised, users):
    person = randomised("control")
    note = contact(person, users["author"], date(2026, 10, 1))
    deviation = db.session.scalars(select(ProtocolDeviation)).one()
    assert note.protocol_deviation_id == deviation.id
    assert deviation.occurred_on == date(2026, 10, 1) and "Contact." not in deviation.description
    add(person, users["author"], "A case note is not a contact")
    assert db.session.scalar(select(func.count()).select_from(ProtocolDeviation)) == 1


def test_a_deviation_from_a_restricted_contact_is_on_its_readers_timeline_only(randomised,
                                                                              users):
    person = randomised("control")
    secret = contact(person, users["author"], date(2026, 10, 1), restricted=True)
    open_note = contact(person, users["colleague"], date(2026, 10, 2))
    for reader, deviations in (("colleague", [open_note.protocol_deviation_id]),
                               ("author", [open_note.protocol_deviation_id,
                                           secret.protocol_deviation_id]),
                               ("lead", [open_note.protocol_deviation_id,
                                         secret.protocol_deviation_id])):
        timeline = person_timeline(person.id, actor=users[reader])
        assert [i.record.id for i in timeline.items if i.kind == "deviation"] == deviations
        assert timeline.total == len(timeline.items), reader  # nor counted
    # the deviation, trial data, is recorded and stays
    assert db.session.scalar(select(func.count()).select_from(ProtocolDeviation)) == 2


def test_a_contact_before_the_randomisation_is_no_deviation(randomised, users):
    # randomised on 1 June 2026: a contact at triage, before, was with a
    # person in no arm; corrected to a date after, it is one
    person = randomised("control")
    note = contact(person, users["author"], date(2026, 5, 1))
    assert note.protocol_deviation_id is None
    assert db.session.scalar(select(func.count()).select_from(ProtocolDeviation)) == 0
    services.amend_note(note, NoteContent("Contact.", date(2026, 6, 2), "phone", True),
                        "Wrong date", actor=users["author"], now=NOW)
    db.session.commit()
    deviation = db.session.scalars(select(ProtocolDeviation)).one()
    assert note.protocol_deviation_id == deviation.id
    assert deviation.occurred_on == date(2026, 6, 2)


def test_the_timeline_merges_everything_in_date_order(randomised, users, make_user):
    person = randomised("treatment", on=datetime(2026, 6, 1, 9, tzinfo=UTC))
    pathways.move(person, pathways.MoveRequest("engaged", date(2026, 6, 15)),
                  actor=make_user("caseworker", ("coventry",), email="m@example.org"), now=NOW)
    db.session.commit()
    contact(person, users["author"], date(2026, 6, 10))
    contact(person, users["author"], date(2026, 7, 1))
    timeline = person_timeline(person.id, actor=users["author"], per_page=50)
    kinds = [(item.kind, item.on) for item in timeline.items]
    assert [k for k in kinds if k[0] in ("note", "pathway") and k[1] >= date(2026, 6, 10)] == [
        ("note", date(2026, 7, 1)), ("pathway", date(2026, 6, 15)), ("note", date(2026, 6, 10))]
    assert {k for k, _ in kinds} >= {"note", "pathway", "allocation", "triage_submitted",
                                     "triage_decided"}
    assert [on for _, on in kinds] == sorted((on for _, on in kinds), reverse=True)
    page2 = person_timeline(person.id, actor=users["author"], page=2, per_page=3)
    assert [i.record.id for i in page2.items] == [i.record.id for i in timeline.items[3:6]]


def test_the_timeline_runs_a_bounded_number_of_queries(randomised, users):
    """A count, a page of ids, and one query per kind of event on the page."""
    person = randomised("treatment")
    actor, person_id = users["author"], person.id

    def timeline_queries() -> int:
        db.session.expire_all()
        actor.site_ids  # noqa: B018 (load the actor first: not the timeline's queries)
        return count_queries(lambda: person_timeline(person_id, actor=actor, per_page=200))

    for day in range(4):
        contact(person, actor, date(2026, 7, 1) + timedelta(days=day))
    small = timeline_queries()
    for day in range(40):
        contact(person, actor, date(2026, 8, 1) + timedelta(days=day))
    large = timeline_queries()
    # a count, a page of ids, one query per kind on the page (notes, both triage
    # events, allocation, pathway), and the authors' sites (selectin)
    assert small == large <= 12


@pytest.mark.postgres
@pytest.mark.parametrize("statement", [
    "UPDATE note_revisions SET body = 'x'", "DELETE FROM note_revisions", "DELETE FROM notes"])
def test_postgres_refuses_to_lose_notes(people, users, statement):
    add(people[0], users["author"], "Kept")
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(statement))
    assert db.session.scalar(select(func.count()).select_from(NoteRevision)) == 1
