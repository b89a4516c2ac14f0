"""Before the idle timeout signs someone out, the page warns them and lets
them stay (WCAG 2.2.1): typing sends nothing, and a note typed for longer
than the timeout was lost without a word (found by an accessibility review)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from casework.database import utcnow
from casework.demo import seed_demo_users
from tests.browser.test_triage import sign_in

pytestmark = pytest.mark.browser


def _signed_in_with_a_minute_to_go(app, live_server, page, monkeypatch) -> None:
    """The demo caseworker signed in, with a timeout of a minute, warned of
    from its first second (the warning is at most half the timeout: its
    bound is lifted for the test)."""
    from casework import main
    from casework.extensions import db

    logins = {role.value: (email, pw) for email, role, pw in seed_demo_users(utcnow())}
    db.session.commit()
    app.config.update(IDLE_TIMEOUT_MINUTES=1, TIMEOUT_WARNING_SECONDS=58)
    monkeypatch.setattr(main, "warning_seconds", lambda idle, configured: idle - 1)
    sign_in(page, live_server, *logins["caseworker"])


def test_the_page_warns_before_signing_out_and_staying_keeps_the_session(app, live_server,
                                                                         page, monkeypatch):
    _signed_in_with_a_minute_to_go(app, live_server, page, monkeypatch)
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


def test_when_the_time_is_up_the_page_leaves_the_record_for_the_sign_in_page(
        app, live_server, page, monkeypatch):
    """A page left open after the timeout kept showing the child's record
    behind a nearly clear backdrop (found by review)."""
    import types

    from casework import web

    _signed_in_with_a_minute_to_go(app, live_server, page, monkeypatch)
    page.goto(f"{live_server}/referrals/new#first_name")
    expect(page.get_by_role("dialog", name="You will be signed out soon")).to_be_visible(
        timeout=5_000)
    # the server's clock moves on past the timeout, as an unattended screen's would
    later = time.time() + 120
    monkeypatch.setattr(web, "time", types.SimpleNamespace(time=lambda: later))
    expect(page.get_by_role("heading", name="Sign in to casework")).to_be_visible(timeout=10_000)
    assert "/sign-in?next=/referrals/new" in page.url.replace("%2F", "/")
    expect(page.get_by_text("You were signed out because you were inactive")).to_be_visible()
    expect(page.get_by_label("First name")).to_have_count(0)
