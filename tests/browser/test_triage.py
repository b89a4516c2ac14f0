"""A caseworker triages a referral; a lead decides eligible and sees the
allocation, in a real browser."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from casework.accounts.services import find_user_by_email, sites_by_keys
from casework.database import utcnow
from casework.demo import seed_demo_users
from casework.demo.trial import seed_trial
from casework.extensions import db
from casework.intake import services

pytestmark = pytest.mark.browser


@pytest.fixture
def referral_and_logins(app):
    logins = {role.value: (email, pw) for email, role, pw in seed_demo_users(utcnow())}
    seed_trial(now=utcnow())
    coventry = sites_by_keys(["coventry"])[0]
    referral = services.record_referral(
        services.PersonDetails("Tariq", "Mahmood", date(2007, 2, 3), "male", "asian_pakistani",
                               "coventry"),
        services.ReferralDetails(coventry.id, date(2026, 11, 2), "police", "PC One",
                                 "Arrested after a group fight"),
        existing_person_id=None, actor=find_user_by_email(logins["caseworker"][0]), now=utcnow(),
    )
    person_id = referral.person_id
    db.session.commit()  # and touch nothing after: the live server needs the write lock
    return person_id, logins


def sign_in(page, live_server, email, password):
    page.goto(f"{live_server}/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/")


def test_caseworker_triages_and_lead_decides_eligible(live_server, page, referral_and_logins):
    person_id, logins = referral_and_logins
    sign_in(page, live_server, *logins["caseworker"])
    page.goto(f"{live_server}/people/{person_id}")
    page.get_by_role("link", name="Triage this referral").click()
    page.get_by_label("Recent violence offence or arrest").check()
    page.get_by_label("Intelligence of group affiliation").check()
    page.get_by_label("Yes, the panel confirmed it").check()
    page.get_by_label("Eligible", exact=True).check()
    page.get_by_role("button", name="Save triage").click()
    expect(page.get_by_role("heading", name="The rules give: Eligible")).to_be_visible()
    expect(page.get_by_text("Waiting for a lead's decision")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server, *logins["lead"])
    page.get_by_role("link", name="Triage queue").first.click()
    page.get_by_role("link", name="Tariq Mahmood").click()
    expect(page.get_by_role("heading", name="The rules give: Eligible")).to_be_visible()
    page.get_by_label("Eligible: randomise now").check()
    page.get_by_role("button", name="Record decision").click()

    expect(page.get_by_text("Decision recorded")).to_be_visible()
    expect(page.get_by_role("heading", name="Allocation")).to_be_visible()
    arm = page.locator(".govuk-summary-list__row", has_text="Arm").inner_text()
    assert "Treatment" in arm or "Control" in arm
    # the stratum without the slot (with the arms a lead sees, slots tell where blocks start)
    stratum = page.locator(".govuk-summary-list__row", has_text="Stratum").inner_text()
    assert "coventry" in stratum and "slot" not in stratum
    page.get_by_role("link", name="Allocations").first.click()
    expect(page.get_by_role("cell", name="1").first).to_be_visible()
