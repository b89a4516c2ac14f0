"""Notes and contacts through the pages: adding, validation, escaping,
amending, history, restriction by role, search and overdue contacts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.notes import services
from casework.notes.models import Note, NoteRevision
from casework.notes.services import NoteContent
from tests.conftest import sign_in


def text_of(response) -> str:
    return response.get_data(as_text=True)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def person(make_referral):
    return make_referral("coventry").person


def test_a_caseworker_records_a_contact(client, login_as, post, person):
    author = login_as("caseworker", ("coventry",))
    form = text_of(client.get(f"/people/{person.id}/notes/new?kind=contact"))
    assert 'value="contact" checked' in form

    response = post(f"/people/{person.id}/notes/new",
                    {"kind": "contact", "body": "Phoned mum <b>about</b> school",
                     "contact_date": ["31", "2", "2026"]})
    assert response.status_code == 422
    page = text_of(response)
    assert "must be a real date" in page and "Select the type of contact" in page
    assert "Select whether the person attended" in page
    assert "Phoned mum &lt;b&gt;about&lt;/b&gt; school" in page  # kept, and escaped
    assert count(Note) == 0

    response = post(f"/people/{person.id}/notes/new",
                    {"kind": "contact", "body": "Phoned mum <b>about</b> school\nSecond line",
                     "contact_date": ["3", "11", "2026"], "contact_type": "family",
                     "attended": "yes"})
    assert response.status_code == 302
    note = db.session.scalars(select(Note)).one()
    assert (note.contact_type, note.attended, note.contact_date) == ("family", True,
                                                                     date(2026, 11, 3))
    page = text_of(client.get(f"/people/{person.id}"))
    assert "Contact saved" in page
    assert "Phoned mum &lt;b&gt;about&lt;/b&gt; school<br>" in page
    assert "<b>about</b>" not in page
    assert "<strong>Contact</strong>: family, attended" in page
    assert f"by {author.display_name}." in page and "Amended</strong>" not in page


def test_a_too_long_note_says_so_and_keeps_the_text(client, login_as, post, person):
    login_as("caseworker", ("coventry",))
    response = post(f"/people/{person.id}/notes/new", {"kind": "case_note", "body": "x" * 10_001})
    assert response.status_code == 422
    assert "The note must be 10,000 characters or fewer; it is 10,001" in text_of(response)
    assert "x" * 10_001 in text_of(response)
    assert count(Note) == 0


def test_amending_keeps_the_history_for_leads(client, login_as, post, person, make_user):
    author = login_as("caseworker", ("coventry",))
    post(f"/people/{person.id}/notes/new", {"kind": "case_note", "body": "Met on Tuesday"})
    note = db.session.scalars(select(Note)).one()
    response = post(f"/notes/{note.id}/amend", {"body": "Met on Wednesday", "reason": ""})
    assert response.status_code == 422 and "Say why the note is being amended" in text_of(response)
    response = post(f"/notes/{note.id}/amend", {"body": "Met on Wednesday", "reason": "Wrong day"})
    assert response.status_code == 302
    page = text_of(client.get(f"/notes/{note.id}"))
    assert "Met on Wednesday" in page and "Every version" in page and "Met on Tuesday" in page
    assert count(NoteRevision) == 2 and author.id == note.author_id
    # the person's record: the note's heading line, its author, the Amended tag
    record = text_of(client.get(f"/people/{person.id}"))
    assert "<strong>Case note</strong>" in record and f"by {author.display_name}." in record
    assert 'govuk-tag--grey">Amended</strong>' in record and "Met on Wednesday" in record

    make_user("caseworker", ("coventry",), email="colleague@example.org")
    post("/sign-out")
    sign_in(client, "colleague@example.org")
    page = text_of(client.get(f"/notes/{note.id}"))
    assert "Met on Wednesday" in page and "Met on Tuesday" not in page
    assert "Amended 1 time" in page
    assert client.get(f"/notes/{note.id}/amend").status_code == 403

    make_user("lead", ("coventry",), email="lead@example.org")
    post("/sign-out")
    sign_in(client, "lead@example.org")
    page = text_of(client.get(f"/notes/{note.id}"))
    assert "Met on Tuesday" in page and "Wrong day" in page


@pytest.mark.parametrize(("role", "sites", "status"), [
    ("caseworker", ("coventry",), 404),      # a colleague at the same site
    ("caseworker", ("wolverhampton",), 404),
    ("lead", ("coventry",), 200),
    ("lead", ("wolverhampton",), 404),
    ("evaluator", (), 403),
    ("admin", (), 403),
])
def test_restricted_notes_by_role(client, login_as, person, make_user, role, sites, status):
    author = make_user("caseworker", ("coventry",), email="author@example.org")
    note = services.add_note(person, "case_note", NoteContent("Disclosed abuse at home"),
                             restricted=True, actor=author, now=datetime.now(UTC))
    db.session.commit()
    login_as(role, sites)
    assert client.get(f"/notes/{note.id}").status_code == status
    if role in ("caseworker", "lead"):
        shown = [client.get(f"/people/{person.id}"), client.get("/notes/search?q=abuse")]
        for response in shown:
            assert ("Disclosed abuse" in text_of(response)) == (status == 200)
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert ("note:viewed" in actions) == (status == 200)
    if status == 404:
        assert "access:denied" in actions


def test_the_person_pages_event_names_the_notes_it_showed(client, login_as, person,
                                                          make_user):
    """The person page shows each note's words (up to 400 characters): its
    view event names them, the restricted ones apart, as a search's does."""
    author = make_user("caseworker", ("coventry",), email="author@example.org")
    notes = [services.add_note(person, "case_note", NoteContent(body), restricted=restricted,
                               actor=author, now=datetime.now(UTC))
             for body, restricted in (("Went to school", False),
                                      ("Disclosed abuse at home", True))]
    db.session.commit()
    login_as("lead", ("coventry",))
    assert "Disclosed abuse" in text_of(client.get(f"/people/{person.id}"))
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person:viewed")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.subject_id == str(person.id)
    assert sorted(event.detail["notes"]) == sorted(note.id for note in notes)
    assert event.detail["restricted_notes"] == [notes[1].id]
    assert "Disclosed" not in str(event.detail)


def test_the_author_reads_their_restricted_note(client, login_as, post, person):
    login_as("caseworker", ("coventry",))
    post(f"/people/{person.id}/notes/new",
         {"kind": "case_note", "body": "Private worry", "restricted": "y"})
    note = db.session.scalars(select(Note)).one()
    assert note.restricted
    page = text_of(client.get(f"/notes/{note.id}"))
    assert "Private worry" in page and "Restricted" in page


def test_search_page(client, login_as, post, person):
    login_as("caseworker", ("coventry",))
    post(f"/people/{person.id}/notes/new", {"kind": "case_note", "body": "Talked about football"})
    page = text_of(client.get("/notes/search?q=football"))
    assert "1 note found" in page and person.full_name in page
    assert "0 notes found" in text_of(client.get("/notes/search?q=cricket"))


def test_the_search_gives_a_notes_day_in_england(client, login_as, person, make_user):
    """A case note written at 23:30 UTC on 30 June was on 1 July in England,
    as its page and the timeline say; the search said 30 June (found by
    review)."""
    from datetime import UTC, datetime

    from casework.notes import services

    services.add_note(person, "case_note", services.NoteContent("Talked about football"),
                      restricted=False, actor=make_user("caseworker", ("coventry",)),
                      now=datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    db.session.commit()
    login_as("caseworker", ("coventry",))
    page = text_of(client.get("/notes/search?q=football"))
    assert f"{person.full_name}, 1 July 2026" in page and "30 June" not in page


def test_search_page_says_more_than_past_its_cap(client, login_as, post, person, monkeypatch):
    from casework.notes import services

    monkeypatch.setattr(services, "SEARCH_COUNT_CAP", 2)
    login_as("caseworker", ("coventry",))
    for n in range(3):
        post(f"/people/{person.id}/notes/new", {"kind": "case_note", "body": f"Football {n}"})
    page = text_of(client.get("/notes/search?q=football"))
    assert "More than 2 notes found. Add words to narrow the search." in page
    assert page.index("Football 2") < page.index("Football 1") < page.index("Football 0")
    assert "1 note found" in text_of(client.get("/notes/search?q=football+1"))
    from sqlalchemy import select

    from casework.audit.models import AuditEvent
    from casework.extensions import db
    from casework.notes.models import Note

    ids = {n.body: n.id for n in db.session.scalars(select(Note))}
    searches = db.session.scalars(select(AuditEvent.detail).where(
        AuditEvent.action == "note:searched").order_by(AuditEvent.id)).all()
    # which notes (and whose) each search showed, never the words searched for
    assert searches[-2:] == [
        {"found": 2, "more": True, "page": 1, "notes": [ids[f"Football {n}"] for n in (2, 1, 0)],
         "people": [person.id]},
        {"found": 1, "more": False, "page": 1, "notes": [ids["Football 1"]],
         "people": [person.id]}]


def test_overdue_page(client, login_as, randomised, make_user):
    from casework.pathways import services as pathways

    person = randomised("treatment", on=datetime(2026, 1, 5, tzinfo=UTC))
    pathways.move(person, pathways.MoveRequest("engaged", date(2026, 1, 6)),
                  actor=make_user("caseworker", ("coventry",)), now=datetime.now(UTC))
    db.session.commit()
    login_as("caseworker", ("coventry",))
    page = text_of(client.get("/contacts/overdue"))
    assert person.full_name in page and "every 14 days" in page
    assert "Contact overdue by" in text_of(client.get(f"/people/{person.id}"))


def test_a_deviation_from_a_restricted_contact_is_shown_only_to_its_readers(
        client, login_as, post, randomised, make_user):
    """A restricted contact with a control-arm person flags a protocol
    deviation; shown on the person page to everyone who could see the
    person, it told them a restricted note existed, and its date (found by
    review). It is still recorded, and counted."""
    from casework.pathways import services as pathways
    from casework.pathways.models import ProtocolDeviation

    person = randomised("control")
    author = make_user("caseworker", ("coventry",), email="author@example.org")
    services.add_note(person, "contact", NoteContent("Disclosure.", date(2026, 8, 9), "phone",
                                                     True),
                      restricted=True, actor=author, now=datetime(2026, 8, 9, 12, tzinfo=UTC))
    services.add_note(person, "contact", NoteContent("Met.", date(2026, 8, 20), "phone", True),
                      restricted=False, actor=author, now=datetime(2026, 8, 20, 12, tzinfo=UTC))
    db.session.commit()
    assert count(ProtocolDeviation) == 2

    def person_page() -> str:
        return text_of(client.get(f"/people/{person.id}"))

    login_as("caseworker", ("coventry",))
    page = person_page()
    assert "9 August 2026" not in page, "a colleague"
    assert "1 protocol deviation recorded" in page and "20 August 2026" in page
    for reader in (author, make_user("lead", ("coventry",), email="lead@example.org")):
        post("/sign-out")
        sign_in(client, reader.email)
        page = person_page()
        assert "2 protocol deviations recorded" in page and "9 August 2026" in page, reader.email
    # counted for the trial, whoever may read the note
    summary = pathways.summary(None, date_from=date(2026, 1, 1), date_to=date(2026, 12, 31))
    assert sum(site.deviations for site in summary.sites) == 2


def test_a_leads_amendment_says_who_made_it(client, login_as, post, person, make_user):
    """A lead's amendment of someone else's note was shown to other
    caseworkers under "Written by <author>", in the lead's words (found by
    review): who made the version shown is said to whoever sees the note."""
    author = make_user("caseworker", ("coventry",), email="author@example.org",
                       display_name="Ann Author")
    note = services.add_note(person, "case_note", NoteContent("Met on Tuesday"),
                             restricted=False, actor=author,
                             now=datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    lead = make_user("lead", ("coventry",), email="lead@example.org", display_name="Lee Lead")
    services.amend_note(note, NoteContent("Met on Wednesday with his mother"), "Wrong day",
                        actor=lead, now=datetime(2026, 11, 3, 9, 30, tzinfo=UTC))
    db.session.commit()
    for reader in (None, author, lead):
        if reader is None:
            login_as("caseworker", ("coventry",))
        else:
            post("/sign-out")
            sign_in(client, reader.email)
        page = text_of(client.get(f"/notes/{note.id}"))
        assert "Met on Wednesday with his mother" in page
        written = page.split("Written by")[1].split("</dl>")[0]
        assert "Ann Author" in written and "Amended by" in written
        assert "Lee Lead, 3 November 2026" in written.split("Amended by")[1], reader


def test_a_caseworker_amending_someone_elses_note_is_told_who_may(client, login_as, post,
                                                                  person, make_user):
    """Their role includes amending, so "Your role does not include this"
    was wrong (found by review): the refusal, still 403 and audited, says
    only the author or a lead may amend the note."""
    author = make_user("caseworker", ("coventry",), email="author@example.org")
    note = services.add_note(person, "contact", NoteContent("Met.", date(2026, 11, 2), "phone",
                                                            True),
                             restricted=False, actor=author, now=datetime.now(UTC))
    db.session.commit()
    login_as("caseworker", ("coventry",))
    for response in (client.get(f"/notes/{note.id}/amend"),
                     post(f"/notes/{note.id}/amend", {"body": "Changed", "reason": "Mine"})):
        page = text_of(response)
        assert response.status_code == 403
        assert "Only its author or a lead can amend this contact" in page
        assert "Your role does not include this" not in page
        assert f'href="/notes/{note.id}"' in page
    refusals = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "access:denied")).all()
    assert [(e.subject_id, e.detail["reason"]) for e in refusals] == [(str(note.id),
                                                                       "not_author")] * 2
    assert count(NoteRevision) == 1
