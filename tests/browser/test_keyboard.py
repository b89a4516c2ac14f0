"""A referral recorded with the keyboard alone: Tab from field to field, type,
arrow keys in radio groups, Space for checkboxes, Enter to send. Every field
must be reachable by Tab, in order, and an error must move focus to the
summary so a keyboard user can follow its link to the field."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from casework.database import local_today, utcnow
from casework.demo import seed_demo_users
from casework.extensions import db

pytestmark = pytest.mark.browser


@pytest.fixture
def caseworker(app):
    logins = {role.value: (email, pw) for email, role, pw in seed_demo_users(utcnow())}
    db.session.commit()  # and touch nothing after: the live server needs the write lock
    return logins["caseworker"]


def focused(page) -> str:
    return page.evaluate(
        "() => (document.activeElement.id || document.activeElement.textContent || '').trim()")


def tab_to(page, target: str, *, limit: int = 60) -> None:
    """Press Tab until the element with id ``target`` has focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page) == target:
            return
    raise AssertionError(f"#{target} is not reachable with Tab (stuck at {focused(page)!r})")


def type_into(page, target: str, text: str) -> None:
    tab_to(page, target)
    page.keyboard.type(text)


def test_a_referral_with_the_keyboard_only(live_server, page, caseworker):
    email, password = caseworker
    page.goto(f"{live_server}/sign-in")
    type_into(page, "email", email)
    type_into(page, "password", password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/")

    page.goto(f"{live_server}/referrals/new")
    today = local_today()
    type_into(page, "first_name", "Jayden")
    type_into(page, "last_name", "Whitlock")
    type_into(page, "date_of_birth-day", "14")
    type_into(page, "date_of_birth-month", "2")
    type_into(page, "date_of_birth-year", "2008")
    tab_to(page, "gender")  # the first radio: arrow keys choose within the group
    page.keyboard.press("ArrowDown")  # female -> male
    expect(page.get_by_label("Male", exact=True)).to_be_checked()
    tab_to(page, "ethnicity")
    page.keyboard.type("White British")
    tab_to(page, "local_authority")
    page.keyboard.type("Coventry")
    type_into(page, "referral_date-day", str(today.day))
    type_into(page, "referral_date-month", str(today.month))
    type_into(page, "referral_date-year", str(today.year))
    tab_to(page, "source")
    page.keyboard.type("Police")
    type_into(page, "referrer_name", "PC Keyboard")
    # The reason is left out on purpose: the error must be reachable too.
    tab_to(page, "risk_indicators")
    page.keyboard.press("Space")
    expect(page.locator("#risk_indicators")).to_be_checked()
    tab_to(page, "submit")
    page.keyboard.press("Enter")

    page.wait_for_selector(".govuk-error-summary")
    assert "govuk-error-summary" in (page.evaluate(
        "() => document.activeElement.className") or "")
    assert page.locator(".govuk-error-summary").inner_text().splitlines()[-1] == \
        "Enter the reason for the referral"  # only the field left out
    tab_to(page, "Enter the reason for the referral", limit=3)
    page.keyboard.press("Enter")
    assert focused(page) == "reason"
    page.keyboard.type("Threatened another pupil with a knife outside school.")
    tab_to(page, "submit")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Jayden Whitlock")).to_be_visible()
    expect(page.get_by_text(
        "Threatened another pupil with a knife outside school.")).to_be_visible()
    expect(page.get_by_text("14 February 2008").first).to_be_visible()
