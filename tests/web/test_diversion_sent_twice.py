"""Diversion forms sent twice (a double click, a resend after a slow
answer) act once: an assessment sent twice is one assessment (each could be
decided and offered its own diversion, so one offence got two cases), an
offer sent twice one case; a decision, a step and a later outcome sent
twice are recorded once. Once each in turn here, on both databases; at the
same moment on PostgreSQL (tests/integration/test_diversion.py)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from casework.audit.models import AuditEvent
from casework.database import local_today
from casework.diversion.models import Assessment, DiversionCase
from casework.extensions import db
from tests.conftest import day, sign_in
from tests.web import test_diversion


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def events(action: str) -> int:
    return count(AuditEvent, AuditEvent.action == action)


def key_in(page: str) -> str:
    return re.search(r'name="submission" type="hidden" value="([^"]+)"', page).group(1)


# the forms test_diversion.py sends; Outcome 22's with its rationale given
CHECKPOINT_FORM = test_diversion.CHECKPOINT_FORM
OUTCOME22_FORM = {**test_diversion.OUTCOME22_FORM, "public_interest_rationale": "First offence"}
child = test_diversion.child


@pytest.mark.parametrize(("scheme", "form"), [("checkpoint", CHECKPOINT_FORM),
                                               ("outcome22", OUTCOME22_FORM)])
def test_an_assessment_sent_twice_is_recorded_once(client, login_as, post, child, scheme,
                                                   form):
    """Each sending recorded an assessment: two to decide, each offered its
    own diversion, for one offence."""
    login_as("caseworker", ("coventry",))
    path = f"/people/{child.id}/assessments/new/{scheme}"
    key = key_in(client.get(path).get_data(as_text=True))
    first = post(path, {**form, "submission": key})
    assert first.status_code == 302
    again = post(path, {**form, "submission": key})
    # sent to the assessment the first made, saying so
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "This was already saved: it is recorded once" in page
    assert count(Assessment, Assessment.person_id == child.id) == 1
    assert events("assessment:recorded") == 1
    # the form sent back with its errors keeps its key; a new form is a new assessment
    fresh = key_in(client.get(path).get_data(as_text=True))
    assert fresh != key
    refused = post(path, {**form, "offence": "", "submission": fresh})
    assert refused.status_code == 422 and key_in(refused.get_data(as_text=True)) == fresh
    assert post(path, {**form, "submission": fresh}).status_code == 302
    assert count(Assessment, Assessment.person_id == child.id) == 2


def test_a_key_of_another_kind_of_form_records_nothing_and_tells_nothing(
        client, login_as, post, child):
    login_as("caseworker", ("coventry",))
    key = key_in(client.get(f"/people/{child.id}/notes/new").get_data(as_text=True))
    assert post(f"/people/{child.id}/notes/new",
                {"kind": "case_note", "body": "Met.", "submission": key}).status_code == 302
    # the note's key, copied by hand into the assessment form
    response = post(f"/people/{child.id}/assessments/new/checkpoint",
                    {**CHECKPOINT_FORM, "submission": key})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/people/{child.id}"
    assert "This form was already sent" in client.get(f"/people/{child.id}").get_data(
        as_text=True)
    assert count(Assessment) == 0


def decided(client, post, make_user, child):
    """An eligible Checkpoint assessment of ``child``; the client signed in as
    a lead."""
    post(f"/people/{child.id}/assessments/new/checkpoint", CHECKPOINT_FORM)
    assessment = db.session.scalars(select(Assessment)).one()
    lead = make_user("lead", ("coventry",), email="lead@example.org")
    post("/sign-out")
    sign_in(client, lead.email)
    assert post(f"/assessments/{assessment.id}/decision",
                {"decision": "eligible"}).status_code == 302
    return assessment


def test_an_offer_sent_twice_is_one_diversion(client, login_as, post, make_user, child):
    login_as("caseworker", ("coventry",))
    assessment = decided(client, post, make_user, child)
    page = client.get(f"/assessments/{assessment.id}").get_data(as_text=True)
    key = key_in(page)
    responses = [post(f"/assessments/{assessment.id}/case", {"submission": key})
                 for _ in range(2)]
    assert [r.status_code for r in responses] == [302, 302]
    page = client.get(responses[1].headers["Location"]).get_data(as_text=True)
    assert "This was already saved: it is recorded once" in page
    assert "already exists" not in page
    assert count(DiversionCase) == 1 and events("diversion:offered") == 1


def test_a_decision_a_step_and_a_later_outcome_sent_twice_are_recorded_once(
        client, login_as, post, make_user, child):
    """None of these makes a record: each changes one under its row's lock,
    and the second sending is refused, saying why."""
    login_as("caseworker", ("coventry",))
    assessment = decided(client, post, make_user, child)
    again = post(f"/assessments/{assessment.id}/decision", {"decision": "eligible"})
    assert again.status_code == 422
    assert "This assessment has already been decided" in again.get_data(as_text=True)
    assert events("assessment:decided") == 1
    post(f"/assessments/{assessment.id}/case", {})
    case = db.session.scalars(select(DiversionCase)).one()
    path = f"/diversion/{case.id}/step"
    for target, told in (("active", "it is now active"),
                         ("failed", "This diversion has ended (failed)")):
        other_tab, page = (client.get(f"/assessments/{assessment.id}").get_data(as_text=True)
                           for _ in range(2))
        step = {"target": target, "on": day(local_today()), "reason": "Missed sessions",
                "version": re.search(r'name="version" type="hidden" value="([^"]*)"',
                                     page).group(1)}
        assert post(path, {**step, "submission": key_in(page)}).status_code == 302
        # sent again: the first's step, said so (it said the case was
        # "changed after this page was opened", by the sender's own click)
        again = post(path, {**step, "submission": key_in(page)})
        assert again.status_code == 302
        assert again.location == f"/assessments/{assessment.id}"
        assert "This was already saved: it is recorded once" in client.get(
            again.location).get_data(as_text=True)
        # another page drawn before it is stale, said so
        stale = post(path, {**step, "submission": key_in(other_tab)})
        assert stale.status_code == 422
        assert told in stale.get_data(as_text=True)
    assert events("diversion:started") == 1 and events("diversion:failed") == 1
    assert post(f"/diversion/{case.id}/later-outcome", {"code": "1"}).status_code == 302
    again = post(f"/diversion/{case.id}/later-outcome", {"code": "8"})
    assert again.status_code == 422
    assert "The later outcome has already been recorded" in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DiversionCase, case.id).later_outcome_code == 1
    assert events("diversion:outcome_recorded") == 1
