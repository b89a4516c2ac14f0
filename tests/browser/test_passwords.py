"""A user given a temporary password changes it in a real browser before
anything else, then finds the change page again beside their name; axe-core
(WCAG 2.2 AA) on the pages on the way."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from casework.accounts import services
from casework.database import utcnow
from casework.extensions import db
from tests.browser.test_journey import Accessibility

pytestmark = pytest.mark.browser

TEMPORARY = "temporary passphrase for kim"
NEW = "kim's own new passphrase"


def test_a_temporary_password_is_changed_first(live_server, page, app):
    admin = services.create_user(email="admin@casework.example", display_name="Admin",
                                 role="admin", sites=[], password="the admin's passphrase",
                                 actor=None, now=utcnow())
    kim = services.create_user(email="kim@casework.example", display_name="Kim Lead",
                               role="lead", sites=services.sites_by_keys(["coventry"]),
                               password="kim's forgotten passphrase", actor=None, now=utcnow())
    services.set_password(kim, TEMPORARY, actor=admin, now=utcnow(), temporary=True)
    db.session.commit()  # and touch nothing after: the live server needs the write lock
    a11y = Accessibility(page)

    page.goto(f"{live_server}/referrals")
    page.get_by_label("Email address").fill("kim@casework.example")
    page.get_by_label("Password", exact=True).fill(TEMPORARY)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/account/password?next=/referrals")
    expect(page.get_by_test_id("password-must-change")).to_be_visible()
    a11y.check()
    page.get_by_role("link", name="Dashboard").click()  # nothing else until it is changed
    page.wait_for_url(f"{live_server}/account/password?next=/dashboard")

    page.get_by_label("Current password").fill(TEMPORARY)
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Confirm new password").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("12 characters or more")
    a11y.check()
    page.get_by_label("Current password").fill(TEMPORARY)
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("Confirm new password").fill(NEW)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(f"{live_server}/dashboard")
    expect(page.get_by_text("Your password has been changed")).to_be_visible()

    page.get_by_role("link", name="Change password").click()
    page.wait_for_url(f"{live_server}/account/password")
    expect(page.get_by_test_id("password-must-change")).to_have_count(0)
    a11y.check()
    assert a11y.problems == []
