"""A caseworker records a referral with one mistake, corrects it, and is
offered the existing person as a duplicate."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from casework.accounts.services import sites_by_keys
from casework.database import local_today, utcnow
from casework.demo import seed_demo_users
from casework.extensions import db
from casework.intake import services

pytestmark = pytest.mark.browser


@pytest.fixture
def caseworker_with_known_person(app):
    logins = {role.value: (email, pw) for email, role, pw in seed_demo_users(utcnow())}
    db.session.commit()
    email = logins["caseworker"][0]
    from casework.accounts.services import find_user_by_email

    actor = find_user_by_email(email)
    coventry = sites_by_keys(["coventry"])[0]
    services.record_referral(
        services.PersonDetails("Robert", "Kowalski", date(2009, 6, 4), "male", "white_other",
                               "coventry"),
        services.ReferralDetails(coventry.id, date(2026, 1, 10), "police", "PC One", "Earlier"),
        existing_person_id=None, actor=actor, now=utcnow(),
    )
    db.session.commit()
    return logins["caseworker"]


def test_referral_with_a_mistake_then_a_duplicate(live_server, page,
                                                  caseworker_with_known_person):
    email, password = caseworker_with_known_person
    page.goto(f"{live_server}/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Referrals").first.click()
    page.get_by_role("button", name="New referral").click()
    page.get_by_label("First name").fill("Bob")
    page.get_by_label("Last name").fill("Kowalski")
    dob = page.locator("#date_of_birth-day").locator("xpath=ancestor::fieldset")
    dob.get_by_label("Day").fill("4")
    dob.get_by_label("Month").fill("6")
    dob.get_by_label("Year").fill("2009")
    page.get_by_label("Male", exact=True).check()
    page.get_by_label("Ethnicity").select_option("white_other")
    page.get_by_label("Postcode (optional)").fill("CV1 5F")  # the mistake
    page.get_by_label("Local authority where the person lives").select_option("coventry")
    referred = page.locator("#referral_date-day").locator("xpath=ancestor::fieldset")
    today = local_today()
    referred.get_by_label("Day").fill(str(today.day))
    referred.get_by_label("Month").fill(str(today.month))
    referred.get_by_label("Year").fill(str(today.year))
    page.get_by_label("Source").select_option("school")
    page.get_by_label("Referrer's name").fill("Ms Teacher")
    page.get_by_label("Reason for referral").fill("Brought a knife to school.")
    page.get_by_label("Weapon carrying").check()
    page.get_by_role("button", name="Continue").click()

    summary = page.locator(".govuk-error-summary")
    assert "Enter a real postcode" in summary.inner_text()
    expect(page.locator("#postcode-error")).to_be_visible()
    assert page.get_by_label("First name").input_value() == "Bob"
    assert page.get_by_label("Reason for referral").input_value() == "Brought a knife to school."
    expect(page.get_by_label("Weapon carrying")).to_be_checked()

    summary.get_by_role("link", name="Enter a real postcode").click()
    page.get_by_label("Postcode (optional)").fill("CV1 5FB")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Is this someone already known?")).to_be_visible()
    reasons = page.locator(".casework-match-reasons").inner_text()
    assert "First names are forms of one name (Robert and Bob)" in reasons
    assert "Same date of birth" in reasons
    page.get_by_label("Same person as Robert Kowalski", exact=False).check()
    page.get_by_role("button", name="Record referral").click()

    expect(page.get_by_role("heading", name="Robert Kowalski")).to_be_visible()
    expect(page.get_by_text("Brought a knife to school.")).to_be_visible()
    expect(page.get_by_text("Earlier")).to_be_visible()
