"""At 320 CSS pixels wide (WCAG 1.4.10, reflow), the audit log's wide table
scrolls in its own box, not the whole page sideways (found by an
accessibility review: 1,068 pixels wide)."""

from __future__ import annotations

import pytest

from casework.database import utcnow
from casework.demo import seed_demo_users
from tests.browser.test_triage import sign_in

pytestmark = pytest.mark.browser


def test_the_audit_log_reflows_at_320_pixels(app, live_server, page):
    from casework.extensions import db

    logins = {role.value: (email, pw) for email, role, pw in seed_demo_users(utcnow())}
    db.session.commit()
    page.set_viewport_size({"width": 320, "height": 640})
    sign_in(page, live_server, *logins["admin"])
    page.goto(f"{live_server}/audit/")
    assert page.locator(".casework-scroll table").count() == 1
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} pixels"
    box = page.evaluate("(() => { const b = document.querySelector('.casework-scroll');"
                        " return [b.scrollWidth, b.clientWidth]; })()")
    assert box[0] > box[1]  # the table scrolls inside its box
