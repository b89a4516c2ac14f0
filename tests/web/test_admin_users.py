"""Admin pages: add users, change role and sites, deactivate."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from casework.accounts.models import User
from casework.audit.models import AuditEvent
from casework.extensions import db
from tests.conftest import PASSWORD, sign_in

GOOD = {
    "email": "New.Person@Example.org",
    "display_name": "New Person",
    "role": "caseworker",
    "sites": ["coventry", "walsall"],
    "password": "a sufficiently long passphrase",
    "confirm": "a sufficiently long passphrase",
}


def last_event(action):
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
    ).first()


def test_admin_adds_a_user_who_can_then_sign_in(client, login_as, post):
    admin = login_as("admin", ())
    response = post("/admin/users/new", GOOD)
    assert response.status_code == 302
    user = db.session.scalars(select(User).where(User.email == "new.person@example.org")).one()
    assert sorted(s.key for s in user.sites) == ["coventry", "walsall"]
    event = last_event("user:created")
    assert event.actor_id == admin.id and event.subject_id == str(user.id)
    assert event.detail["role"] == {"before": None, "after": "caseworker"}
    assert GOOD["password"] not in str(event.detail) and "argon2" not in str(event.detail)
    # the admin typed the password, so it is temporary: changed at first sign-in
    assert event.detail["must_change_password"] == {"before": None, "after": True}
    other = client.application.test_client()
    signed_in = sign_in(other, "new.person@example.org", GOOD["password"])
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/account/password?next=/"


def test_bad_input_is_explained_beside_the_field_and_kept(client, login_as, post):
    login_as("admin", ())
    response = post("/admin/users/new", {**GOOD, "password": "password1234",
                                         "confirm": "password1234", "sites": []})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "There is a problem" in page
    assert "too common" in page
    assert 'value="New.Person@Example.org"' in page
    assert 'value="New Person"' in page
    assert db.session.scalar(select(User).where(User.email == "new.person@example.org")) is None


def test_a_malformed_email_is_explained_beside_the_field(client, login_as, post):
    login_as("admin", ())
    response = post("/admin/users/new", {**GOOD, "email": "new person@example"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'href="#email">Enter an email address in the correct format' in page
    assert 'value="new person@example"' in page
    assert db.session.scalar(select(func.count()).select_from(User)) == 1  # the admin


def test_caseworker_needs_a_site(client, login_as, post):
    login_as("admin", ())
    response = post("/admin/users/new", {**GOOD, "sites": []})
    assert response.status_code == 422
    assert "needs at least one site" in response.get_data(as_text=True)


def test_duplicate_email_regardless_of_case(client, login_as, post, make_user):
    make_user(email="new.person@example.org")
    login_as("admin", ())
    response = post("/admin/users/new", GOOD)
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_add_user_sent_twice_adds_them_once_and_lands_on_them(client, login_as, post):
    # a double click: the second said "already exists" of the user the first
    # had just added (on PostgreSQL, at the same moment, a 500)
    login_as("admin", ())
    page = client.get("/admin/users/new").get_data(as_text=True)
    key = re.search(r'name="submission" type="hidden" value="([^"]+)"', page).group(1)
    refused = post("/admin/users/new", {**GOOD, "confirm": "", "submission": key})
    assert refused.status_code == 422
    assert f'value="{key}"' in refused.get_data(as_text=True)  # kept through the errors
    first = post("/admin/users/new", {**GOOD, "submission": key})
    assert first.status_code == 302
    again = post("/admin/users/new", {**GOOD, "submission": key})
    user = db.session.scalars(select(User).where(User.email == "new.person@example.org")).one()
    assert again.status_code == 302 and again.headers["Location"] == f"/admin/users/{user.id}"
    shown = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "User new.person@example.org was already added: they are added once" in shown
    assert "already exists" not in shown
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "user:created", AuditEvent.subject_id == str(user.id))) == 1
    # a new form is a new user: the email is then taken
    fresh = re.search(r'name="submission" type="hidden" value="([^"]+)"',
                      client.get("/admin/users/new").get_data(as_text=True)).group(1)
    assert fresh != key
    assert "already exists" in post("/admin/users/new",
                                    {**GOOD, "submission": fresh}).get_data(as_text=True)


def test_the_add_form_sent_again_with_another_email_says_it_added_nobody(client, login_as,
                                                                          post):
    # back, then another person's details over the first's: it added nobody,
    # and said the first was already added (found by review)
    login_as("admin", ())
    page = client.get("/admin/users/new").get_data(as_text=True)
    key = re.search(r'name="submission" type="hidden" value="([^"]+)"', page).group(1)
    assert post("/admin/users/new", {**GOOD, "submission": key}).status_code == 302
    other = {**GOOD, "email": "Other.Person@Example.org", "display_name": "Other Person",
             "submission": key}
    again = post("/admin/users/new", other)
    page = again.get_data(as_text=True)
    assert again.status_code == 422
    assert ('new.person@example.org was added from this form; other.person@example.org has '
            'not been added: check and add again') in page
    assert 'href="#email"' in page  # in the summary, beside the email
    assert 'value="Other.Person@Example.org"' in page and 'value="Other Person"' in page
    assert GOOD["password"] not in page
    fresh = re.search(r'name="submission" type="hidden" value="([^"]+)"', page).group(1)
    assert fresh != key
    assert db.session.scalar(select(User).where(User.email == "other.person@example.org")) is None
    # added from the form drawn again, once
    assert post("/admin/users/new", {**other, "submission": fresh}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(User).where(
        User.email == "other.person@example.org")) == 1


def test_a_display_name_with_a_right_to_left_override_is_refused(client, login_as, post,
                                                                   make_user):
    # "Kim\u202eredro" shows as "Kimordre", and reverses what follows it on its
    # line (found by review)
    target = make_user("caseworker", ("coventry",))
    login_as("admin", ())
    message = "The display name must not contain invisible formatting characters"
    added = post("/admin/users/new", {**GOOD, "display_name": "New\u202ePerson"})
    assert added.status_code == 422 and message in added.get_data(as_text=True)
    changed = post(f"/admin/users/{target.id}", {
        "display_name": "Kim\u202eredro", "role": "caseworker", "sites": ["coventry"]})
    assert changed.status_code == 422 and message in changed.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, target.id).display_name == target.display_name
    assert db.session.scalar(select(User).where(User.email == "new.person@example.org")) is None


def test_mismatched_confirmation(client, login_as, post):
    login_as("admin", ())
    response = post("/admin/users/new", {**GOOD, "confirm": "something else entirely"})
    assert "Passwords do not match" in response.get_data(as_text=True)


def test_change_role_and_sites_is_audited_with_before_and_after(client, login_as, post,
                                                                 make_user):
    target = make_user("caseworker", ("coventry",))
    login_as("admin", ())
    response = post(f"/admin/users/{target.id}", {
        "display_name": target.display_name, "role": "lead",
        "sites": ["coventry", "wolverhampton"],
    })
    assert response.status_code == 302
    event = last_event("user:updated")
    assert event.detail == {
        "role": {"before": "caseworker", "after": "lead"},
        "sites": {"before": ["coventry"], "after": ["coventry", "wolverhampton"]},
    }


def test_edit_form_shows_current_values(client, login_as, make_user):
    target = make_user("lead", ("dudley",))
    login_as("admin", ())
    page = client.get(f"/admin/users/{target.id}").get_data(as_text=True)
    checked = set(re.findall(r'value="([a-z]+)"\s+checked', page))
    assert checked == {"dudley", "lead"}


def test_deactivate_ends_the_users_sessions(client, login_as, post, make_user):
    target = make_user("caseworker", ("coventry",))
    victim_client = client.application.test_client()
    sign_in(victim_client, target.email, PASSWORD)
    assert victim_client.get("/").status_code == 200

    login_as("admin", ())
    assert post(f"/admin/users/{target.id}/deactivate").status_code == 302
    assert victim_client.get("/").status_code == 302
    assert last_event("user:deactivated").subject_id == str(target.id)
    assert sign_in(victim_client, target.email, PASSWORD).status_code == 422  # refused

    assert post(f"/admin/users/{target.id}/reactivate").status_code == 302
    assert sign_in(victim_client, target.email, PASSWORD).status_code == 302


def test_admin_cannot_deactivate_themselves(client, login_as, post):
    admin = login_as("admin", ())
    post(f"/admin/users/{admin.id}/deactivate")
    assert client.get("/admin/users").status_code == 200
    db.session.refresh(admin)
    assert admin.active


def test_unknown_user_is_404(client, login_as):
    login_as("admin", ())
    assert client.get("/admin/users/999999").status_code == 404


def test_users_come_a_page_at_a_time_by_email(client, login_as, make_user, monkeypatch):
    from casework.accounts import services

    for name in ("ann", "bob", "cat", "dan"):
        make_user("caseworker", ("coventry",), email=f"{name}@paged.example")
    login_as("admin", ())
    monkeypatch.setattr(services, "USERS_PER_PAGE", 2)
    total = db.session.scalar(select(func.count()).select_from(User))
    pages = -(-total // 2)
    seen = []
    for n in range(1, pages + 1):
        html = client.get(f"/admin/users?page={n}").get_data(as_text=True)
        assert f"{total} users, page {n} of {pages}" in html
        seen += re.findall(r'href="/admin/users/\d+">([^<]+)</a>', html)
        assert ('rel="next"' in html) == (n < pages) and ('rel="prev"' in html) == (n > 1)
    # every user once, in the database's order of emails
    assert seen == db.session.scalars(select(User.email).order_by(User.email)).all()
    assert f"page {pages} of {pages}" in client.get("/admin/users?page=99").get_data(as_text=True)
    assert client.get("/admin/users?page=-1").status_code == 200


def error_summary(response) -> list[str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return [item.get_text(" ", strip=True)
            for item in soup.select(".govuk-error-summary__list li")]


def test_the_new_user_form_lists_every_problem_at_once(client, login_as, post):
    """A malformed email, a guessable password, a caseworker with no site
    were said only once the form's own errors (no display name, the
    confirmation not matching) were put right (found by review)."""
    login_as("admin", ())
    response = post("/admin/users/new", {**GOOD, "email": "foo@bar", "display_name": "",
                                         "sites": [], "password": "password1234",
                                         "confirm": "something else"})
    assert response.status_code == 422
    problems = error_summary(response)
    assert problems[:2] == ["Enter a display name", "A caseworker needs at least one site"]
    assert problems[2:] == [
        "Enter an email address in the correct format, like name@example.org",
        "Password is too common: choose one that is harder to guess",
        "Passwords do not match"]
    # alone, the email is said as before
    response = post("/admin/users/new", {**GOOD, "email": "foo@bar"})
    assert error_summary(response) == [
        "Enter an email address in the correct format, like name@example.org"]
    assert db.session.scalar(select(func.count()).select_from(User)) == 1  # the admin


def test_the_edit_user_form_lists_every_problem_at_once(client, login_as, post, make_user):
    target = make_user("caseworker", email="ann@example.org")
    login_as("admin", ())
    response = post(f"/admin/users/{target.id}", {"display_name": "Ann\tOther", "role": "",
                                                  "sites": []})
    assert response.status_code == 422
    assert error_summary(response) == [
        "The display name must not contain control characters (tabs, line breaks)",
        "Select a role"]
    db.session.refresh(target)
    assert target.display_name != "Ann\tOther"
