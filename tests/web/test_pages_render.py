"""Every page without parameters renders for every role on the demo data:
no 500s anywhere (a first net; the full route-by-role matrix is issue #11)."""

from __future__ import annotations

import pytest

from casework.extensions import db
from tests.conftest import demo_seeded_app


@pytest.fixture(scope="module")
def seeded_app(migrated):
    """One demo seed for the module's tests, which only read it (and sign
    in, each as a user of its own: the seed, and so the users, stay from
    test to test)."""
    with demo_seeded_app(migrated, 120, 5) as app:
        yield app


@pytest.fixture
def app(seeded_app):
    with seeded_app.app_context():
        yield seeded_app


@pytest.mark.parametrize("role", ["caseworker", "lead", "evaluator", "admin"])
def test_every_page_renders_for_every_role(app, client, login_as, role):
    login_as(role, ("coventry", "wolverhampton") if role in ("caseworker", "lead") else (),
             email=f"{role}-every-page@example.org")
    paths = sorted(
        rule.rule for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments
        and rule.endpoint not in {"static", "assets.asset", "auth.logout"}
    )
    assert len(paths) > 15
    for path in paths:
        response = client.get(path)
        assert response.status_code in (200, 302, 403), (path, response.status_code)


def test_a_lead_opens_every_demo_record(client, login_as):
    from sqlalchemy import select

    from casework.diversion.models import Assessment
    from casework.notes.models import Note
    from casework.pathways.models import PathwayProposal
    from casework.triage.models import Triage
    from casework.trial.models import Allocation

    login_as("lead", ("coventry", "wolverhampton"), email="lead-every-record@example.org")
    people = set(db.session.scalars(select(Allocation.person_id)))
    people |= set(db.session.scalars(select(Assessment.person_id)))
    paths = [f"/people/{p}" for p in sorted(people)]
    paths += [f"/triage/{t}" for t in db.session.scalars(select(Triage.id))]
    paths += [f"/assessments/{a}" for a in db.session.scalars(select(Assessment.id))]
    paths += [f"/pathways/proposals/{p}" for p in db.session.scalars(select(PathwayProposal.id))]
    paths += [f"/people/{p}/pathway" for p in sorted(people)]
    # the demo's notes on those people (seed-demo writes notes at every site)
    paths += [f"/notes/{n}" for n in db.session.scalars(
        select(Note.id).where(Note.person_id.in_(people)))]
    assert len(paths) > 30
    for path in paths:
        assert client.get(path).status_code == 200, path
