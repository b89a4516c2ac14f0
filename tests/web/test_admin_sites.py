"""Administrators add sites and rename them; every change is audited, and a
form with errors keeps what was typed."""

from __future__ import annotations

from sqlalchemy import func, select

from casework.accounts.models import Site
from casework.audit.models import AuditEvent
from casework.extensions import db


def text_of(response) -> str:
    return response.get_data(as_text=True)


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def test_an_administrator_adds_a_site(client, login_as, post, make_user):
    admin = login_as("admin", ())
    page = text_of(client.get("/admin/sites"))
    assert "Coventry" in page and "7 sites" in page

    response = post("/admin/sites/new", {"key": "Leeds", "name": "  Leeds  "})
    assert response.status_code == 302
    site = db.session.scalars(select(Site).where(Site.key == "leeds")).one()
    assert site.name == "Leeds"
    (event,) = events("site:created")
    assert (event.actor_id, event.subject_id, event.site_id) == (admin.id, str(site.id), site.id)
    assert event.detail == {"key": {"before": None, "after": "leeds"},
                            "name": {"before": None, "after": "Leeds"}}

    # the new site is one users can work at
    make_user("caseworker", ("leeds",))
    page = text_of(client.get("/admin/sites"))
    assert "8 sites" in page and "<code>leeds</code>" in page


def test_a_bad_site_keeps_what_was_typed(client, login_as, post):
    login_as("admin", ())
    for data, message in (
            ({"key": "9lives", "name": "Nine Lives"}, "Enter a key of 2 to 40 characters"),
            ({"key": "north-leeds", "name": "North Leeds"}, "Enter a key of 2 to 40 characters"),
            ({"key": "coventry", "name": "Coventry Two"}, "A site with this key already exists"),
            ({"key": "coventry_two", "name": "coventry"}, "A site with this name already exists"),
            ({"key": "", "name": ""}, "Enter a key"),
            ({"key": "x" * 41, "name": "Long"}, "Key must be 40 characters or fewer"),
    ):
        before = db.session.scalar(select(func.count()).select_from(Site))
        response = post("/admin/sites/new", data)
        assert response.status_code == 422, data
        page = text_of(response)
        assert message in page, (data, message)
        assert f'value="{data["name"]}"' in page or not data["name"]
        assert db.session.scalar(select(func.count()).select_from(Site)) == before
    assert events("site:created") == []


def test_an_administrator_renames_a_site_but_not_its_key(client, login_as, post):
    login_as("admin", ())
    site = db.session.scalars(select(Site).where(Site.key == "dudley")).one()
    assert "cannot be changed" in text_of(client.get(f"/admin/sites/{site.id}"))
    response = post(f"/admin/sites/{site.id}", {"name": "Solihull"})
    assert response.status_code == 422
    assert "A site with this name already exists" in text_of(response)
    response = post(f"/admin/sites/{site.id}", {"name": "Dudley and Stourbridge",
                                                "key": "stourbridge"})
    assert response.status_code == 302
    db.session.expire_all()
    site = db.session.get(Site, site.id)
    assert (site.key, site.name) == ("dudley", "Dudley and Stourbridge")
    (event,) = events("site:updated")
    assert event.detail == {"name": {"before": "Dudley", "after": "Dudley and Stourbridge"}}
    post(f"/admin/sites/{site.id}", {"name": "Dudley and Stourbridge"})  # no change: no event
    assert len(events("site:updated")) == 1
    assert client.get("/admin/sites/99999").status_code == 404


def test_only_administrators_manage_sites(client, login_as, post):
    for role in ("caseworker", "lead", "evaluator"):
        login_as(role, ("coventry",) if role in ("caseworker", "lead") else ())
        assert client.get("/admin/sites").status_code == 403
        assert post("/admin/sites/new", {"key": "leeds", "name": "Leeds"}).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Site)) == 7


def test_the_new_site_form_lists_every_problem_at_once(client, login_as, post):
    """A name already taken was said only once a key was given (found by
    review)."""
    from bs4 import BeautifulSoup

    login_as("admin", ())
    response = post("/admin/sites/new", {"key": "", "name": "coventry"})
    assert response.status_code == 422
    summary = [item.get_text(" ", strip=True) for item in BeautifulSoup(
        text_of(response), "html.parser").select(".govuk-error-summary__list li")]
    assert summary == ["A site with this name already exists", "Enter a key"]
    assert events("site:created") == []
