"""Before the idle timeout signs someone out, the page warns them and lets
them stay (WCAG 2.2.1): typing sends nothing, and a note typed for longer
than the timeout was lost without a word (found by an accessibility review)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from casework.database import utcnow
from casework.demo import seed_demo_users
from tests.browser.test_triage import sign_in

pytestmark = pytest.mark.browser


def test_the_page_warns_before_signing_out_and_staying_keeps_the_session(app, live_server,
                                                                         page, monkeypatch):
    logins = {role.value: (email, pw) for email, role, pw in seed_demo_users(utcnow())}
    from casework.extensions import db

    db.session.commit()
    # a timeout of a minute, warned of 30 seconds before (at most half of it)
    app.config.update(IDLE_TIMEOUT_MINUTES=1, TIMEOUT_WARNING_SECONDS=58)
    from casework import main

    monkeypatch.setattr(main, "warning_seconds", lambda idle, configured: idle - 1)
    sign_in(page, live_server, *logins["caseworker"])
    page.goto(f"{live_server}/referrals/new")
    page.get_by_label("First name").fill("Typed but not sent")
    warning = page.get_by_role("dialog", name="You will be signed out soon")
    expect(warning).to_be_visible(timeout=5_000)
    expect(page.get_by_role("button", name="Stay signed in")).to_be_focused()
    with page.expect_response(lambda response: response.url.endswith("/session")) as asked:
        page.get_by_role("button", name="Stay signed in").click()
    assert asked.value.status == 200
    expect(warning).to_be_hidden()
    expect(page.get_by_label("First name")).to_have_value("Typed but not sent")
    # it warns again the next time, and the session is still the user's
    expect(warning).to_be_visible(timeout=5_000)
    page.keyboard.press("Escape")
    page.goto(f"{live_server}/referrals")
    expect(page.get_by_role("heading", name="Referrals", level=1)).to_be_visible()
