"""A caseworker proposes disruption for a treated person and a lead approves
it, in a real browser."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from playwright.sync_api import expect

from casework.accounts.services import find_user_by_email
from casework.database import utcnow
from casework.demo import seed_demo_users
from casework.extensions import db
from casework.pathways import services
from tests.browser.test_triage import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def engaged_person(app, randomised):
    logins = {role.value: (email, pw) for email, role, pw in seed_demo_users(utcnow())}
    db.session.commit()
    person = randomised("treatment", on=datetime(2026, 9, 1, tzinfo=UTC))
    services.move(person, services.MoveRequest("engaged", date(2026, 9, 8)),
                  actor=find_user_by_email(logins["caseworker"][0]), now=utcnow())
    person_id, name = person.id, person.full_name
    db.session.commit()  # and touch nothing after: the live server needs the write lock
    return person_id, name, logins


def test_caseworker_proposes_disruption_and_lead_approves(live_server, page, engaged_person):
    person_id, name, logins = engaged_person
    sign_in(page, live_server, *logins["caseworker"])
    page.goto(f"{live_server}/people/{person_id}")
    expect(page.get_by_text("Now: Engaged")).to_be_visible()
    page.get_by_role("link", name="Record a pathway move").click()
    page.get_by_label("Disruption").check()
    when = page.locator("#effective_date-day").locator("xpath=ancestor::fieldset")
    when.get_by_label("Day").fill("2")
    when.get_by_label("Month").fill("10")
    when.get_by_label("Year").fill("2026")
    page.get_by_label("Rationale").fill("Two arrests for robbery; refuses every contact")
    page.get_by_role("button", name="Record the move").click()
    expect(page.get_by_text("Proposal sent to a lead for approval")).to_be_visible()
    expect(page.get_by_text("waiting for a lead's approval")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server, *logins["lead"])
    page.get_by_role("link", name="Approvals").first.click()
    page.get_by_role("link", name=name).click()
    expect(page.get_by_text("Two arrests for robbery")).to_be_visible()
    page.get_by_label("Approve").check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Proposal approved")).to_be_visible()
    page.goto(f"{live_server}/people/{person_id}")
    expect(page.get_by_text("Now: Disruption since 2 October 2026")).to_be_visible()
    expect(page.get_by_role("cell", name="approved by Lee Lead", exact=False)).to_be_visible()
