"""A caseworker records a contact and amends it, in a real browser."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from casework.accounts.services import find_user_by_email, sites_by_keys
from casework.database import utcnow
from casework.demo import seed_demo_users
from casework.extensions import db
from casework.intake import services
from tests.browser.test_triage import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def person_and_login(app):
    logins = {role.value: (email, pw) for email, role, pw in seed_demo_users(utcnow())}
    referral = services.record_referral(
        services.PersonDetails("Kai", "Thompson", date(2009, 4, 4), "male", "white_british",
                               "coventry"),
        services.ReferralDetails(sites_by_keys(["coventry"])[0].id, date(2026, 11, 2), "school",
                                 "Head of year", "Carrying a knife at school"),
        existing_person_id=None, actor=find_user_by_email(logins["caseworker"][0]),
        now=utcnow(),
    )
    person_id = referral.person_id
    db.session.commit()  # and touch nothing after: the live server needs the write lock
    return person_id, logins["caseworker"]


def test_caseworker_records_a_contact_and_amends_it(live_server, page, person_and_login):
    person_id, login = person_and_login
    sign_in(page, live_server, *login)
    page.goto(f"{live_server}/people/{person_id}")
    page.get_by_role("link", name="Record a contact").click()
    page.get_by_label("Note", exact=True).fill("Met Kai and his mum at home.")
    when = page.locator("#contact_date-day").locator("xpath=ancestor::fieldset")
    when.get_by_label("Day").fill("10")
    when.get_by_label("Month").fill("11")
    when.get_by_label("Year").fill("2026")
    page.get_by_label("Family").check()
    page.get_by_label("Yes", exact=True).check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Contact saved")).to_be_visible()
    expect(page.get_by_text("Met Kai and his mum at home.")).to_be_visible()

    page.get_by_role("link", name="Open contact of 10 November 2026").click()
    page.get_by_role("link", name="Amend this contact").click()
    page.get_by_label("Note", exact=True).fill("Met Kai and his dad at home.")
    page.get_by_label("Why are you amending it?").fill("It was his dad, not his mum")
    page.get_by_role("button", name="Save amendment").click()
    expect(page.get_by_text("Amendment saved; the earlier version is kept")).to_be_visible()
    expect(page.get_by_role("heading", name="Every version")).to_be_visible()
    expect(page.get_by_text("Met Kai and his mum at home.")).to_be_visible()
    expect(page.get_by_text("It was his dad, not his mum")).to_be_visible()
