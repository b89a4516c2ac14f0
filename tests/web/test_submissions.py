"""A form that creates a record is acted on once, however often it is sent
(casework.submissions): a double click, a resend, the duplicates page's
choice sent twice. Once each in turn here, on both databases; at the same
moment on PostgreSQL (tests/integration/test_concurrent_writes.py)."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from casework.audit.models import AuditEvent
from casework.database import local_today
from casework.extensions import db
from casework.intake.models import Person, Referral
from casework.notes.models import Note
from casework.pathways.models import ProtocolDeviation
from casework.submissions import FormSubmission
from tests.conftest import PASSWORD, csrf_token, day, sign_in


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def key_in(page: str) -> str:
    return re.search(r'name="submission" type="hidden" value="([^"]+)"', page).group(1)


def version_in(page: str) -> str:
    return re.search(r'name="version" type="hidden" value="([^"]+)"', page).group(1)


def referral_form(site_id: int, **overrides) -> dict:
    return {
        "first_name": "Jordan", "last_name": "Doublesubmit", "date_of_birth": ["14", "3", "2008"],
        "gender": "male", "ethnicity": "white_british", "local_authority": "coventry",
        "referral_date": day(local_today()),
        "source": "police", "referrer_name": "PC Ada", "site": str(site_id),
        "reason": "Stab wound.", **overrides,
    }


@pytest.fixture
def coventry_id(app):
    from casework.accounts.services import sites_by_keys

    return sites_by_keys(["coventry"])[0].id


def test_a_referral_sent_twice_is_recorded_once(client, login_as, post, coventry_id):
    login_as("caseworker", ("coventry",))
    key = key_in(client.get("/referrals/new").get_data(as_text=True))
    form = referral_form(coventry_id, submission=key)
    first = post("/referrals/new", form)
    assert first.status_code == 302
    again = post("/referrals/new", form)
    # not the duplicates page offering the person the first made: their record
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "was already recorded: it is recorded once" in page
    assert count(Person) == 1 and count(Referral) == 1
    assert count(AuditEvent, AuditEvent.action == "referral:created") == 1
    # a new form is a new referral (the duplicate check then asks about Jordan)
    fresh = key_in(client.get("/referrals/new").get_data(as_text=True))
    assert fresh != key
    assert "Is this someone already known?" in post(
        "/referrals/new", referral_form(coventry_id, submission=fresh)).get_data(as_text=True)


def test_the_duplicates_pages_choice_sent_twice_makes_one_person(client, login_as, post,
                                                                  coventry_id):
    login_as("caseworker", ("coventry",))
    assert post("/referrals/new", referral_form(coventry_id)).status_code == 302
    key = key_in(client.get("/referrals/new").get_data(as_text=True))
    page = post("/referrals/new", referral_form(coventry_id, submission=key))
    text = page.get_data(as_text=True)
    assert "Is this someone already known?" in text
    assert f'name="submission" value="{key}"' in text  # carried, with what was typed
    for _ in range(2):
        response = post("/referrals/new", referral_form(coventry_id, submission=key,
                                                        person_choice="new"))
        assert response.status_code == 302
    assert count(Person) == 2 and count(Referral) == 2


def test_a_contact_sent_twice_is_one_contact_and_one_deviation(client, login_as, post,
                                                               randomised):
    person = randomised("control")
    login_as("caseworker", ("coventry",))
    path = f"/people/{person.id}/notes/new?kind=contact"
    key = key_in(client.get(path).get_data(as_text=True))
    form = {"kind": "contact", "body": "Met at the gym.", "contact_type": "face_to_face",
            "attended": "yes", "contact_date": ["3", "11", "2026"], "submission": key}
    codes = [post(f"/people/{person.id}/notes/new", form).status_code for _ in range(2)]
    assert codes == [302, 302]
    assert count(Note, Note.person_id == person.id) == 1
    assert count(ProtocolDeviation, ProtocolDeviation.person_id == person.id) == 1
    # the form sent back with its errors keeps its key
    page = post(f"/people/{person.id}/notes/new", {**form, "submission": key_in(
        client.get(path).get_data(as_text=True)), "body": ""}).get_data(as_text=True)
    assert key_in(page) != key and count(Note, Note.person_id == person.id) == 1


def test_a_persons_details_saved_twice_are_saved_once_and_said_so(client, login_as, post,
                                                                make_referral):
    """A double-clicked "Save changes" answered 422 "Someone else saved
    changes here", the change being the user's own first click's."""
    person = make_referral("coventry").person
    login_as("caseworker", ("coventry",))
    page = client.get(f"/people/{person.id}/edit").get_data(as_text=True)
    form = {"first_name": person.first_name, "last_name": person.last_name,
            "date_of_birth": ["1", "1", "2008"], "gender": "male", "ethnicity": "white_british",
            "local_authority": "coventry", "postcode": "cv2 2dx", "version": version_in(page),
            "submission": key_in(page)}
    first, again = (post(f"/people/{person.id}/edit", form) for _ in range(2))
    assert (first.status_code, again.status_code) == (302, 302)
    assert again.headers["Location"] == f"/people/{person.id}"
    shown = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "This was already saved" in shown and "Someone else" not in shown
    assert db.session.get(Person, person.id).postcode == "CV2 2DX"
    assert count(AuditEvent, AuditEvent.action == "person:updated") == 1
    # refused, the form keeps its key, and sent again put right it is saved
    page = client.get(f"/people/{person.id}/edit").get_data(as_text=True)
    form.update(version=version_in(page), submission=key_in(page))
    wrong = post(f"/people/{person.id}/edit", {**form, "postcode": "nope"})
    assert wrong.status_code == 422 and key_in(wrong.get_data(as_text=True)) == key_in(page)
    assert post(f"/people/{person.id}/edit", {**form, "postcode": "cv3 3aa"}).status_code == 302
    assert db.session.get(Person, person.id).postcode == "CV3 3AA"


def test_someone_elses_key_tells_nothing_of_their_record(client, login_as, post, make_user,
                                                         coventry_id):
    other = make_user("caseworker", ("coventry",), email="other@example.org")
    sign_in(client, other.email, PASSWORD)
    key = key_in(client.get("/referrals/new").get_data(as_text=True))
    assert post("/referrals/new", referral_form(coventry_id, submission=key)).status_code == 302
    post("/sign-out")
    login_as("caseworker", ("coventry",))
    response = post("/referrals/new", referral_form(coventry_id, first_name="Kim",
                                                    submission=key))
    assert response.status_code == 302 and response.headers["Location"] == "/referrals"
    assert count(Referral) == 1


def test_a_key_claimed_by_another_kind_of_form_tells_nothing(client, login_as, post, make_user,
                                                             make_referral, coventry_id):
    elsewhere = make_referral("wolverhampton")
    login_as("caseworker", ("coventry",))
    person = make_referral("coventry").person
    key = key_in(client.get(f"/people/{person.id}/notes/new").get_data(as_text=True))
    assert post(f"/people/{person.id}/notes/new",
                {"kind": "case_note", "body": "Met.", "submission": key}).status_code == 302
    # the note's key, copied by hand into the referral form
    response = post("/referrals/new", referral_form(coventry_id, submission=key))
    assert response.status_code == 302 and response.headers["Location"] == "/referrals"
    page = client.get("/referrals").get_data(as_text=True)
    assert "This form was already sent" in page and elsewhere.reference not in page
    assert count(Referral) == 2  # (the referral typed is not recorded)


def test_a_key_not_of_ours_is_no_key(client, login_as, post, coventry_id):
    login_as("caseworker", ("coventry",))
    for n, key in enumerate(("x" * 33, "not a key", "")):
        form = referral_form(coventry_id, first_name=("Ann", "Bea", "Cal")[n],
                             last_name=("Ash", "Birch", "Cole")[n],
                             date_of_birth=["1", str(n + 1), "2007"], submission=key)
        assert post("/referrals/new", form).status_code == 302
    assert count(Referral) == 3 and count(FormSubmission) == 0


def test_claims_are_kept_a_day(app, make_user):
    from casework import submissions

    user = make_user("caseworker", ("coventry",))
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    old, recent = submissions.new_key(), submissions.new_key()
    submissions.claim(old, "note", actor=user, now=now - timedelta(days=1, seconds=1))
    submissions.claim(recent, "note", actor=user, now=now - timedelta(hours=23))
    submissions.claim(submissions.new_key(), "note", actor=user, now=now)
    db.session.commit()
    assert set(db.session.scalars(select(FormSubmission.key))) >= {recent}
    assert db.session.get(FormSubmission, old) is None


@pytest.mark.postgres
def test_a_double_clicked_referral_at_the_same_moment_is_one_person(app, make_user,
                                                                    coventry_id):
    """Both requests run the duplicate check before either commits (neither
    sees the other's person); the second's claim waits for the first."""
    worker = make_user("caseworker", ("coventry",), email="dbl@example.org")
    client = app.test_client()
    assert sign_in(client, worker.email, PASSWORD).status_code == 302
    token = csrf_token(client, "/referrals/new")
    key = key_in(client.get("/referrals/new").get_data(as_text=True))
    db.session.commit()
    barrier, codes = threading.Barrier(2), []

    def send():
        with app.app_context():
            barrier.wait()
            codes.append(client.post("/referrals/new", data={
                **referral_form(coventry_id, submission=key), "csrf_token": token}).status_code)
            db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert codes == [302, 302]
    assert count(Person) == 1 and count(Referral) == 1
