"""Hypothesis against every form the service renders: random text, unicode,
very long values, impossible dates, choices that are not on offer and
missing fields. Never a 500; and a submission that is refused (anything but
the redirect that follows a successful POST) writes nothing but audit events.

The forms are read from the pages each role may open (tests/web/forms.py),
so a new form is fuzzed without being listed here."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from casework.extensions import db
from tests.conftest import csrf_token, sign_in
from tests.web.conftest import fingerprint
from tests.web.forms import FormField, PageForm, forms_for

# Text a person could type or paste, surrogates aside (no browser sends them).
TYPED = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
LONG = st.builds(lambda ch, n: ch * n, st.sampled_from("a7 é€\U0001f600<'\""),
                 st.integers(1_000, 40_000))
NUMBERS = st.one_of(st.integers(-10, 100_000).map(str),
                    st.integers(13, 2_000).map(lambda digits: "9" * digits))


def values_for(form_field: FormField) -> st.SearchStrategy[list[str]]:
    """Values for one field: what the page offers, or anything else."""
    anything = st.one_of(TYPED, LONG, NUMBERS)
    if form_field.kind == "date":
        part = st.one_of(st.integers(0, 40).map(str), st.integers(1800, 2200).map(str), TYPED)
        return st.one_of(st.lists(part, min_size=3, max_size=3), st.lists(part, max_size=4))
    if form_field.options:
        offered = st.sampled_from(form_field.options)
        if form_field.kind == "checkbox":
            return st.lists(st.one_of(offered, anything), max_size=len(form_field.options) + 1)
        return st.lists(st.one_of(offered, offered, anything), min_size=1, max_size=2)
    return st.lists(st.one_of(anything, st.sampled_from(form_field.values or [""])),
                    min_size=1, max_size=2)


@st.composite
def submissions(draw, forms: list[PageForm]):
    form = draw(st.sampled_from(forms))
    data = []
    for form_field in form.fields.values():
        if form_field.name == "csrf_token" or form_field.kind == "file":
            continue
        if draw(st.integers(0, 9)) == 0:
            continue  # left out altogether
        data += [(form_field.name, value) for value in draw(values_for(form_field))]
    return form, data


@pytest.fixture
def reference_data_kept(app):
    """Offences and outcome codes survive between tests: put back any a
    fuzzed admin form managed to change."""
    from casework.diversion.models import Offence, OutcomeCode

    columns = {model: [c for c in model.__table__.columns if c.name != "id"]
               for model in (Offence, OutcomeCode)}
    saved = {model: db.session.execute(select(model.__table__)).mappings().all()
             for model in columns}
    db.session.commit()
    yield
    db.session.rollback()
    for model, rows in saved.items():
        key = model.__table__.primary_key.columns.values()[0]
        for row in rows:
            db.session.execute(update(model.__table__).where(key == row[key.name])
                               .values({c.name: row[c.name] for c in columns[model]}))
    db.session.commit()


def fuzz(app, world, role: str, examples: int) -> None:
    client = app.test_client()
    sign_in(client, world.users[role].email)
    token = csrf_token(client)
    forms = [f for f in forms_for(client, role, world.ids("inside")) if f.action != "/sign-out"]
    assert len(forms) >= 2, forms

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(submissions(forms))
    def check(submission):
        form, data = submission
        if form.method == "GET":
            response = client.get(form.action.split("?")[0], query_string=MultiDict(data))
            assert response.status_code in (200, 302, 422), (form.action, data)
            response.close()
            return
        before = fingerprint()
        response = client.post(form.action, data=MultiDict([*data, ("csrf_token", token)]))
        status = response.status_code
        response.close()
        assert status < 500, (form.action, data)
        # (the password page's wrong current passwords count against its
        # limit, with the form's other errors too: 429 once it is reached)
        assert status in (200, 302, 400, 404, 422) or (
            status == 429 and form.action == "/account/password"), (form.action, status, data)
        if status != 302:
            assert fingerprint() == before, ("refused, yet written", form.action, data)

    check()


@pytest.mark.parametrize(("role", "examples"), [
    ("caseworker", 120), ("lead", 90), ("admin", 90), ("evaluator", 25),
])
def test_no_form_fails_or_half_writes(app, world, reference_data_kept, role, examples):
    fuzz(app, world, role, examples)


def test_the_sign_in_form(app, client):
    from casework.accounts.views import SIGN_IN_FAILED

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(email=st.one_of(TYPED, LONG), password=st.one_of(TYPED, LONG),
           drop=st.sampled_from(["", "email", "password"]))
    def check(email, password, drop):
        data = {"email": email, "password": password, "csrf_token": csrf_token(client, "/sign-in")}
        data.pop(drop, None)
        response = client.post("/sign-in", data=data)
        assert response.status_code in (422, 429), response.status_code
        if response.status_code != 429:
            body = response.get_data(as_text=True)
            assert "govuk-error-summary" in body
            assert SIGN_IN_FAILED in body or "Enter your" in body or "characters or fewer" in body

    check()
