"""Role checks and site scope, through real endpoints."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.extensions import db

# Every page guarded by a role, and which roles may open it.
ROLE_PAGES = {
    "/admin/users": {"admin"},
    "/admin/users/new": {"admin"},
    "/audit/": {"admin", "lead"},
}


@pytest.mark.parametrize("role", ["caseworker", "lead", "evaluator", "admin"])
@pytest.mark.parametrize("path", sorted(ROLE_PAGES))
def test_role_pages(client, login_as, role, path):
    login_as(role, ("coventry",) if role in {"caseworker", "lead"} else ())
    response = client.get(path)
    if role in ROLE_PAGES[path]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        denied = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "access:denied")
        ).all()
        assert len(denied) == 1 and denied[0].detail["reason"] == "role"


@pytest.mark.parametrize("role", ["caseworker", "lead", "evaluator", "admin"])
def test_navigation_matches_the_role(client, login_as, role):
    login_as(role, ("coventry",) if role in {"caseworker", "lead"} else ())
    page = client.get("/").get_data(as_text=True)
    assert ('href="/admin/users"' in page) is (role == "admin")
    assert ('href="/audit/"' in page) is (role in {"admin", "lead"})


@pytest.fixture
def probe_app(make_app):
    """An app with one extra page that loads a site-owned record through
    ``get_in_scope_or_404`` (audit events carry a site)."""
    from casework.access import get_in_scope_or_404
    from casework.accounts.roles import Permission

    app = make_app(own_app=True)  # a route of its own

    @app.route("/probe/<int:ident>")
    def probe(ident):
        from flask_login import current_user

        assert current_user.can(Permission.CASE_READ)
        return get_in_scope_or_404(AuditEvent, ident, subject_type="audit_event").action

    with app.app_context():
        yield app


def test_record_outside_the_users_sites_is_a_404_and_audited(probe_app, now):
    from casework.accounts import services
    from casework.audit import services as audit
    from casework.audit.actions import Action
    from tests.conftest import PASSWORD, sign_in

    coventry, wolverhampton = services.sites_by_keys(["coventry"])[0], \
        services.sites_by_keys(["wolverhampton"])[0]
    inside = audit.record(Action.USER_UPDATED, actor=None, now=now, site_id=coventry.id)
    outside = audit.record(Action.USER_UPDATED, actor=None, now=now, site_id=wolverhampton.id)
    services.create_user(email="cw@example.org", display_name="CW", role="caseworker",
                         sites=[coventry], password=PASSWORD, actor=None, now=now)
    inside_id, outside_id, wolverhampton_id = inside.id, outside.id, wolverhampton.id
    db.session.commit()

    client = probe_app.test_client()
    sign_in(client, "cw@example.org")
    assert client.get(f"/probe/{inside_id}").status_code == 200
    hidden = client.get(f"/probe/{outside_id}")
    missing = client.get("/probe/999999")
    assert hidden.status_code == missing.status_code == 404
    def without_nonce(response):
        # Nonces differ per request, and CSRF tokens carry the second they were signed.
        body = re.sub(r'nonce="[^"]+"', "", response.get_data(as_text=True))
        return re.sub(r'name="csrf_token"[^>]*?value="[^"]+"', "", body)

    assert without_nonce(hidden) == without_nonce(missing)

    denials = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "access:denied").order_by(AuditEvent.id)
    ).all()
    assert [(d.detail["reason"], d.subject_id, d.site_id) for d in denials] == [
        ("outside_scope", str(outside_id), wolverhampton_id),
        ("not_found", "999999", None),
    ]
