"""Each demo role signs in through a real browser and sees its own navigation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from casework.database import utcnow
from casework.demo import seed_demo_users
from casework.extensions import db

pytestmark = pytest.mark.browser

NAVIGATION = {
    "caseworker": {"Referrals", "My caseload", "Notes", "Overdue contacts", "Diversion",
                   "Rules"},
    "lead": {"Dashboard", "Referrals", "My caseload", "Caseloads", "Notes", "Overdue contacts",
             "Diversion", "Triage queue", "Approvals", "Pathways", "Allocations", "Rules",
             "Audit log"},
    "evaluator": {"Allocations", "Extracts", "Aggregates", "Rules"},
    "admin": {"Trials", "Offences", "Exclusions", "Rules", "Users", "Sites", "Audit log"},
}


@pytest.fixture
def demo_logins(app):
    logins = {role.value: (email, password) for email, role, password in seed_demo_users(utcnow())}
    db.session.commit()
    return logins


@pytest.mark.parametrize("role", sorted(NAVIGATION))
def test_demo_role_sees_its_navigation(live_server, page, demo_logins, role):
    email, password = demo_logins[role]
    page.goto(f"{live_server}/")
    assert page.title() == "Sign in \N{EN DASH} casework"
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{live_server}/")
    assert page.get_by_test_id("signed-in-as").inner_text().endswith(f"({role})")
    links = page.locator(
        ".govuk-service-navigation__list .govuk-service-navigation__link"
    ).all_inner_texts()
    assert {text.strip() for text in links} == NAVIGATION[role]

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server}/sign-in")
    expect(page.get_by_text("You have signed out")).to_be_visible()


def test_wrong_password_shows_the_error_summary(live_server, page, demo_logins):
    email, _ = demo_logins["lead"]
    page.goto(f"{live_server}/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    assert "Enter a correct email address and password" in summary.inner_text()
    assert page.get_by_label("Email address").input_value() == email
