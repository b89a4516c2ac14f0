"""A diversion step sent from a page drawn before the case moved on (another
tab, another lead, a double click) is refused saying so, before its choice
is checked against the steps offered now. (From a review: a lead's stale
"Started" said "What happened? must be one of the options"; a caseworker's
said "A lead records how this diversion ends"; and two leads ending a case at
once were told "A case that is failed cannot be completed" on PostgreSQL
but "This diversion has ended (failed)" on SQLite: see
tests/integration/test_diversion.py for the race.)"""

from __future__ import annotations

import re
from datetime import date

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from casework.audit.models import AuditEvent
from casework.database import local_today
from casework.diversion.models import Assessment, DiversionCase
from casework.extensions import db
from tests.conftest import PASSWORD, csrf_token, day, sign_in

CHECKPOINT_FORM = {
    "offence_date": ["1", "10", "2026"], "offence": "bladed_article_s139",
    "admits_offence": "yes", "sufficient_evidence": "yes",
}
CHANGED = "This diversion was changed after this page was opened: it is now {}."



def problems(response) -> list[str]:
    """The error summary's items."""
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return [" ".join(li.get_text(" ", strip=True).split())
            for li in soup.select(".govuk-error-summary__list li")]


def version_in(response) -> str:
    return re.search(r'name="version" type="hidden" value="([^"]*)"',
                     response.get_data(as_text=True)).group(1)


def events(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == action))


@pytest.fixture
def offered(app, make_referral, make_user):
    """A Checkpoint diversion offered to a child at Coventry: (client signed
    in as a caseworker, as one lead, as another, the case)."""
    child = make_referral("coventry", dob=date(2010, 3, 1)).person
    clients = {}
    for name, role in (("worker", "caseworker"), ("lead", "lead"), ("lead2", "lead")):
        user = make_user(role, ("coventry",), email=f"{name}@example.org")
        clients[name] = app.test_client()
        assert sign_in(clients[name], user.email, PASSWORD).status_code == 302

    def post(name, path, data):
        client = clients[name]
        return client.post(path, data={**data, "csrf_token": csrf_token(client)})

    post("worker", f"/people/{child.id}/assessments/new/checkpoint", CHECKPOINT_FORM)
    assessment = db.session.scalars(select(Assessment)).one()
    assert post("lead", f"/assessments/{assessment.id}/decision",
                {"decision": "eligible"}).status_code == 302
    assert post("worker", f"/assessments/{assessment.id}/case", {}).status_code == 302
    case = db.session.scalars(select(DiversionCase)).one()
    return clients, post, case


def test_a_leads_started_from_a_page_drawn_before_anothers_start(offered):
    clients, post, case = offered
    path, page = f"/diversion/{case.id}/step", f"/assessments/{case.assessment_id}"
    first, second = version_in(clients["lead"].get(page)), version_in(clients["lead2"].get(page))
    start = {"target": "active", "on": day(local_today())}
    assert post("lead", path, {**start, "version": first}).status_code == 302
    stale = post("lead2", path, {**start, "version": second})
    assert stale.status_code == 422
    assert problems(stale) == [CHANGED.format("active")]
    assert events("diversion:started") == 1
    # drawn again as the case is now: its choices and version, so a step from it is taken
    ending = {"target": "withdrawn", "on": day(local_today()), "reason": "Moved away"}
    assert post("lead2", path, {**ending, "version": version_in(stale)}).status_code == 302


def test_a_caseworkers_started_from_a_page_drawn_before_a_leads_start(offered):
    clients, post, case = offered
    path, page = f"/diversion/{case.id}/step", f"/assessments/{case.assessment_id}"
    drawn = version_in(clients["worker"].get(page))
    assert post("lead", path, {"target": "active", "on": day(local_today()),
                               "version": version_in(clients["lead"].get(page))}
                ).status_code == 302
    stale = post("worker", path, {"target": "active", "on": day(local_today()),
                                  "version": drawn})
    assert stale.status_code == 422
    assert problems(stale) == [CHANGED.format("active")]
    assert events("diversion:started") == 1


def test_a_lead_ending_a_case_another_lead_has_just_ended(offered):
    clients, post, case = offered
    path, page = f"/diversion/{case.id}/step", f"/assessments/{case.assessment_id}"
    post("lead", path, {"target": "active", "on": day(local_today()),
                        "version": version_in(clients["lead"].get(page))})
    first, second = version_in(clients["lead"].get(page)), version_in(clients["lead2"].get(page))
    today = day(local_today())
    assert post("lead", path, {"target": "failed", "on": today, "reason": "Missed sessions",
                               "version": first}).status_code == 302
    stale = post("lead2", path, {"target": "completed", "on": today, "version": second})
    assert stale.status_code == 422
    assert problems(stale) == ["This diversion has ended (failed)"]
    # a page with no version (drawn before versions were) is told the same
    stale = post("lead2", path, {"target": "completed", "on": today})
    assert problems(stale) == ["This diversion has ended (failed)"]
    db.session.expire_all()
    assert db.session.get(DiversionCase, case.id).status == "failed"


def test_a_step_from_a_page_nobody_changed_is_taken(offered):
    clients, post, case = offered
    page = clients["worker"].get(f"/assessments/{case.assessment_id}")
    response = post("worker", f"/diversion/{case.id}/step",
                    {"target": "active", "on": day(local_today()), "version": version_in(page)})
    assert response.status_code == 302
