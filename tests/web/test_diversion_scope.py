"""Who may open an assessment or a diversion case: whoever may see the person
it is about (their own site, and every site they were referred at), as the
person's page and timeline do; anyone else gets 404, audited. The
diversion list and the dashboard's due and overdue figures count a case at
the same sites. (From a review: a person living at Wolverhampton and
referred at Coventry had their Coventry assessment on their timeline at
Wolverhampton, whose lead met 404 and an access:denied on following it.)"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.database import local_today
from casework.diversion import services
from casework.extensions import db
from tests.conftest import day

SETTINGS = services.Settings({"checkpoint": 16, "outcome22": 12}, 22,
                             {1: "light", 2: "light", 3: "structured", 4: "intensive", 5: None})



@pytest.fixture
def visiting(make_referral, make_user):
    """A child living at Wolverhampton and referred at Coventry, assessed,
    decided and offered a diversion at Coventry: the records are
    Coventry's, the person both sites'. Started so that it is due in a week."""
    from casework.accounts.services import sites_by_keys

    born = date(local_today().year - 15, 3, 1)  # a child whenever the tests run
    child = make_referral("wolverhampton", dob=born).person
    make_referral("coventry", person=child)
    worker = make_user("caseworker", ("coventry",), email="cov-worker@example.org")
    lead = make_user("lead", ("coventry",), email="cov-lead@example.org")
    today = local_today()
    started = today - timedelta(weeks=16) + timedelta(days=7)
    offered = datetime.combine(started, datetime.min.time(), tzinfo=UTC)
    assessment = services.assess_data(child, "checkpoint", {
        "date_of_birth": born.isoformat(),
        "offence_date": (started - timedelta(days=30)).isoformat(),
        "offence": "bladed_article_s139", "aggravating_factors": [], "previous_outcomes": [],
        "admits_offence": True, "sufficient_evidence": True,
    }, actor=worker, now=offered, settings=SETTINGS)
    services.decide(assessment, "eligible", None, actor=lead, now=offered)
    case = services.offer(assessment, actor=worker, now=offered)
    services.advance(case, services.Step("active", started), actor=worker,
                     now=datetime.now(UTC), settings=SETTINGS)
    db.session.commit()
    coventry, wolverhampton = (s.id for s in sites_by_keys(["coventry", "wolverhampton"]))
    assert (assessment.site_id, case.site_id, child.site_id) == (coventry, coventry,
                                                                  wolverhampton)
    return child, assessment, case, wolverhampton


def test_the_home_sites_lead_opens_and_works_the_visiting_persons_diversion(
        client, login_as, post, visiting):
    child, assessment, case, _ = visiting
    login_as("lead", ("wolverhampton",))
    timeline = client.get(f"/people/{child.id}").get_data(as_text=True)
    assert f"/assessments/{assessment.id}" in timeline  # "View assessment"
    page = client.get(f"/assessments/{assessment.id}")
    assert page.status_code == 200 and child.full_name in page.get_data(as_text=True)
    response = post(f"/diversion/{case.id}/step",
                    {"target": "completed", "on": day(local_today())})
    assert response.status_code == 302
    assert db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action == "access:denied")).all() == []


def test_the_home_sites_list_and_figures_count_the_visiting_persons_case(
        client, login_as, visiting):
    child, _, _, wolverhampton = visiting
    login_as("lead", ("wolverhampton",))
    for path in ("/diversion", "/diversion?show=due", f"/diversion?show=due&site={wolverhampton}",
                 "/diversion?show=active"):
        assert child.full_name in client.get(path).get_data(as_text=True), path
    assert child.full_name not in client.get("/diversion?show=overdue").get_data(as_text=True)
    page = client.get(f"/dashboard?site={wolverhampton}").get_data(as_text=True)
    due = re.search(r'>(\d+)<span class="govuk-visually-hidden"> diversions due in the next 14 '
                    r'days', page)
    assert due and due.group(1) == "1"
    # and the referring site's, as before
    login_as("lead", ("coventry",), email="cov-lead-2@example.org")
    assert child.full_name in client.get("/diversion?show=due").get_data(as_text=True)


def test_a_site_the_person_has_nothing_to_do_with_gets_404_audited(
        client, login_as, post, visiting):
    child, assessment, case, _ = visiting
    login_as("lead", ("walsall",))
    assert client.get(f"/people/{child.id}").status_code == 404
    asked = [client.get(f"/assessments/{assessment.id}"),
             post(f"/assessments/{assessment.id}/decision", {"decision": "eligible"}),
             post(f"/assessments/{assessment.id}/case", {}),
             post(f"/diversion/{case.id}/step", {"target": "completed",
                                                  "on": day(local_today())}),
             post(f"/diversion/{case.id}/later-outcome", {"code": "1"})]
    assert [r.status_code for r in asked] == [404] * 5
    denied = db.session.execute(select(AuditEvent.subject_type, AuditEvent.detail).where(
        AuditEvent.action == "access:denied", AuditEvent.subject_type != "person")
        .order_by(AuditEvent.id)).all()
    assert [(kind, detail["reason"]) for kind, detail in denied] == [
        ("assessment", "outside_scope")] * 3 + [("diversion_case", "outside_scope")] * 2
    assert child.full_name not in client.get("/diversion?show=due").get_data(as_text=True)


def test_an_unknown_assessment_or_case_is_404_not_found(client, login_as):
    login_as("lead", ("coventry",))
    assert client.get("/assessments/999999").status_code == 404
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "access:denied")).one()
    assert event.detail["reason"] == "not_found"
