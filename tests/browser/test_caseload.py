"""A lead opens the dashboard and reassigns a case, in a real browser."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from casework.accounts import services as accounts
from casework.accounts.services import find_user_by_email, sites_by_keys
from casework.database import utcnow
from casework.demo import seed_demo_users
from casework.extensions import db
from casework.intake import services
from tests.browser.test_triage import sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def team_and_case(app):
    logins = {role.value: (email, pw) for email, role, pw in seed_demo_users(utcnow())}
    accounts.create_user(email="robin@casework.example", display_name="Robin Newcomer",
                         role="caseworker", sites=sites_by_keys(["coventry"]),
                         password=PASSWORD, actor=None, now=utcnow())
    services.record_referral(
        services.PersonDetails("Leah", "Okafor", date(2008, 8, 8), "female", "black_african",
                               "coventry"),
        services.ReferralDetails(sites_by_keys(["coventry"])[0].id, date(2026, 11, 2),
                                 "police", "PC One", "Robbery of a phone"),
        existing_person_id=None, actor=find_user_by_email(logins["caseworker"][0]),
        now=utcnow(),
    )
    db.session.commit()  # and touch nothing after: the live server needs the write lock
    return logins


def test_lead_opens_the_dashboard_and_reassigns_a_case(live_server, page, team_and_case):
    sign_in(page, live_server, *team_and_case["lead"])
    page.get_by_role("link", name="Dashboard").first.click()
    expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()
    expect(page.locator('svg[role="img"]').first).to_be_visible()
    page.get_by_role("link", name="Caseloads by caseworker").click()
    page.get_by_role("link", name="Casey Worker").click()
    expect(page.get_by_role("link", name="Okafor, Leah")).to_be_visible()
    page.get_by_label("Select Leah Okafor").check()
    page.get_by_label("Reassign the selected cases to").select_option(label="Robin Newcomer "
                                                                            "(caseworker)")
    page.get_by_label("Reason").fill("Casey is on leave for a month")
    page.get_by_role("button", name="Reassign").click()
    expect(page.get_by_text("1 case reassigned")).to_be_visible()
    assert page.get_by_role("link", name="Okafor, Leah").count() == 0  # no longer Casey's
    page.get_by_role("link", name="Caseloads").first.click()
    page.get_by_role("link", name="Robin Newcomer").click()
    page.get_by_role("link", name="Okafor, Leah").click()
    expect(page.get_by_text("Robin Newcomer")).to_be_visible()
