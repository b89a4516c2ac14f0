"""Every state-changing request without a valid CSRF token is refused (400)
and changes nothing in the database, not even the audit log.

Each POST route of the security matrix is sent the form its page renders
(as a browser would submit it) with the token left out, and again with a
token from another session."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from tests.conftest import csrf_token, sign_in
from tests.web.conftest import ROLES, fingerprint, last_audit_id, row_counts
from tests.web.forms import forms_for
from tests.web.test_route_matrix import ANONYMOUS, POST, TABLE

NO_TABLES_EXCLUDED = frozenset()


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_posts_without_a_valid_token_change_nothing(app, world, role):
    client, stranger = app.test_client(), app.test_client()
    if role != ANONYMOUS:
        sign_in(client, world.users[role].email)
    foreign_token = csrf_token(stranger, "/sign-in")
    ids = world.ids("inside")
    forms = {form.action: form for form in forms_for(client, role, ids)
             if form.method == POST}
    refused = []
    start = fingerprint(exclude=NO_TABLES_EXCLUDED)
    for (endpoint, method), row in TABLE.items():
        if method != POST or (role != ANONYMOUS and role not in row.roles):
            continue
        path = row.path.format(**ids)
        form = forms.get(path)
        data = [(k, v) for k, v in form.submitted() if k != "csrf_token"] if form else []
        for token in (None, foreign_token):
            before = row_counts(), last_audit_id()
            sent = data + ([("csrf_token", token)] if token else [])
            response = client.post(path, data=MultiDict(sent))
            assert response.status_code == 400, (endpoint, token, response.status_code)
            assert "page had expired" in response.get_data(as_text=True)
            assert (row_counts(), last_audit_id()) == before, (endpoint, token)
        refused.append((endpoint, form is not None))
    assert fingerprint(exclude=NO_TABLES_EXCLUDED) == start  # nothing updated either
    assert refused, "no POST route for this role"
    if role == "caseworker":  # the forms were found, not just the routes
        assert sum(found for _endpoint, found in refused) >= 10, refused


def test_a_refused_post_still_carries_its_request_id(client):
    """The id is set before Flask-WTF's check answers 400 (it was blank), so
    a user reporting the error page can be matched with the server's log."""
    import uuid

    response = client.post("/sign-in", data={"email": "a@example.org", "password": "x"})
    assert response.status_code == 400
    assert uuid.UUID(response.headers["X-Request-Id"]).version == 4
