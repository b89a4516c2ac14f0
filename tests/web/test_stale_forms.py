"""An edit form opened before someone else saved the same record is not
saved over their change unseen (database.ChangedMeanwhile): it comes back,
422, with what was typed, saying what is saved now; saved again from there,
it replaces theirs knowingly. (From a review's reproductions: a date of
birth, which decides C1 and the age stratum, put back by a postcode edit; an
offence's gravity reverted; a note's correction undone; a pathway move
chosen from a pathway the person had left.)"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime

from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.intake.models import Person
from tests.conftest import PASSWORD, csrf_token, sign_in

STALE = "Someone else saved changes here since you opened this page."


def version_in(response) -> str:
    return re.search(r'name="version" type="hidden" value="([^"]*)"',
                     response.get_data(as_text=True)).group(1)


def two_signed_in(app, make_user, role, sites=("coventry",)):
    clients = []
    for n in (1, 2):
        user = make_user(role, sites, email=f"{role}{n}@example.org")
        client = app.test_client()
        assert sign_in(client, user.email, PASSWORD).status_code == 302
        clients.append(client)
    return clients


def test_a_person_edit_from_a_page_opened_before_anothers_save(app, make_referral, make_user):
    person = make_referral("coventry", dob=date(2008, 1, 1)).person
    a, b = two_signed_in(app, make_user, "caseworker")
    path = f"/people/{person.id}/edit"
    va, vb = version_in(a.get(path)), version_in(b.get(path))
    base = {"first_name": person.first_name, "last_name": person.last_name,
            "date_of_birth": ["1", "1", "2008"], "gender": "male",
            "ethnicity": "white_british", "local_authority": "coventry"}
    assert a.post(path, data={**base, "date_of_birth": ["1", "1", "2006"], "version": va,
                              "csrf_token": csrf_token(a, path)}).status_code == 302
    stale = b.post(path, data={**base, "postcode": "CV1 5FB", "version": vb,
                               "csrf_token": csrf_token(b, path)})
    assert stale.status_code == 422
    page = html.unescape(stale.get_data(as_text=True))
    assert STALE in page and "different from this form: date of birth, postcode" in page
    assert 'value="CV1 5FB"' in page  # what was typed is kept
    db.session.expire_all()
    assert db.session.get(Person, person.id).date_of_birth == date(2006, 1, 1)
    assert db.session.get(Person, person.id).postcode is None
    # saved again from the page drawn now: replaces the other change knowingly
    again = b.post(path, data={**base, "date_of_birth": ["1", "1", "2006"],
                               "postcode": "CV1 5FB", "version": version_in(stale),
                               "csrf_token": csrf_token(b, path)})
    assert again.status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, person.id).postcode == "CV1 5FB"


def test_an_offence_edit_from_a_page_opened_before_anothers_save(app, make_user):
    from casework.diversion.models import Offence

    offence = db.session.scalars(select(Offence).order_by(Offence.key)).first()
    a, b = two_signed_in(app, make_user, "admin", sites=())
    path = f"/admin/offences/{offence.key}"
    va, vb = version_in(a.get(path)), version_in(b.get(path))
    form = {"title": offence.title, "legislation": offence.legislation,
            "category": offence.category, "gravity": str(offence.gravity)}
    if offence.outcome22_permitted:
        form["outcome22_permitted"] = "y"
    new_gravity = 5 if offence.gravity != 5 else 4
    assert a.post(path, data={**form, "gravity": str(new_gravity), "version": va,
                              "csrf_token": csrf_token(a, path)}).status_code == 302
    stale = b.post(path, data={**form, "title": offence.title + " (corrected)", "version": vb,
                               "csrf_token": csrf_token(b, path)})
    assert stale.status_code == 422 and STALE in html.unescape(stale.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(Offence, offence.id).gravity == new_gravity


def test_a_note_amended_meanwhile_is_not_undone(app, make_referral, make_user):
    from casework.notes import services as notes
    from casework.notes.models import Note

    person = make_referral("coventry").person
    author = make_user("caseworker", ("coventry",), email="author@example.org")
    lead = make_user("lead", ("coventry",), email="lead@example.org")
    note = notes.add_note(person, "case_note", notes.NoteContent(body="Met at school."),
                          restricted=False, actor=author, now=datetime.now(UTC))
    db.session.commit()
    path = f"/notes/{note.id}/amend"
    ca, cl = app.test_client(), app.test_client()
    sign_in(ca, author.email, PASSWORD), sign_in(cl, lead.email, PASSWORD)
    va, vl = version_in(ca.get(path)), version_in(cl.get(path))
    assert ca.post(path, data={"body": "Met at the youth centre, not school.",
                               "reason": "Wrong place", "version": va,
                               "csrf_token": csrf_token(ca, path)}).status_code == 302
    stale = cl.post(path, data={"body": "Met at school. Mother present.",
                                "reason": "Who was there", "version": vl,
                                "csrf_token": csrf_token(cl, path)})
    assert stale.status_code == 422
    assert "Mother present" in stale.get_data(as_text=True)
    db.session.expire_all()
    current = db.session.get(Note, note.id)
    assert (current.revision_count, current.body) == (2, "Met at the youth centre, not school.")


def test_a_pathway_move_chosen_from_a_pathway_since_left(app, randomised, make_user):
    from casework.pathways.models import PathwayEpisode

    person = randomised("treatment")
    a, b = two_signed_in(app, make_user, "caseworker")
    path = f"/people/{person.id}/pathway"
    va, vb = version_in(a.get(path)), version_in(b.get(path))
    day = ["3", "11", "2026"]
    assert a.post(path, data={"target": "engaged", "effective_date": day, "version": va,
                              "csrf_token": csrf_token(a, path)}).status_code == 302
    stale = b.post(path, data={"target": "at_risk_monitoring", "effective_date": day,
                               "version": vb, "csrf_token": csrf_token(b, path)})
    assert stale.status_code == 422
    page = stale.get_data(as_text=True)
    assert STALE in html.unescape(page) and "<strong>Engaged</strong>" in page
    episodes = db.session.scalars(select(PathwayEpisode.pathway).where(
        PathwayEpisode.person_id == person.id).order_by(PathwayEpisode.id)).all()
    assert [str(e) for e in episodes][-1] == "engaged"
    changes = db.session.scalars(select(AuditEvent.id).where(
        AuditEvent.action == "pathway:changed", AuditEvent.subject_id == str(person.id))).all()
    assert len(changes) == len(episodes)  # one a move made, none for the refused one
