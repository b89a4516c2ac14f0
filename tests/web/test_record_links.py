"""A page's links to its many records (casework.web.record_links) are the
links ``url_for`` builds, built once a page."""

from __future__ import annotations

import re

import pytest
from flask import url_for

from casework.database import MAX_ID
from casework.web import record_links


@pytest.mark.parametrize(("endpoint", "name"), [("intake.person", "person_id"),
                                                ("notes.show", "note_id"),
                                                ("triage.show", "triage_id")])
def test_the_links_are_url_fors(app, endpoint, name):
    for script_root in ("", "/casework"):
        with app.test_request_context("/", base_url=f"http://localhost{script_root}/"):
            link = record_links(endpoint, name)
            for ident in (0, 1, 7, 42, 2147, 8262, 99999, MAX_ID - 1, MAX_ID):
                assert link(ident) == url_for(endpoint, **{name: ident})
            assert link(8262).startswith(script_root + "/")


def test_an_id_no_record_has_goes_to_url_for(app):
    from werkzeug.routing import BuildError

    with app.test_request_context("/"):
        link = record_links("intake.person", "person_id")
        for odd in (-1, MAX_ID + 1, "12", True):
            try:
                expected = url_for("intake.person", person_id=odd)
            except (BuildError, ValueError) as error:
                with pytest.raises(type(error)):
                    link(odd)
            else:
                assert link(odd) == expected


def test_an_id_in_the_query_string_is_as_url_for_puts_it(app):
    with app.test_request_context("/"):
        link = record_links("intake.referrals", "page")
        assert link(3) == url_for("intake.referrals", page=3) == "/referrals?page=3"


def test_a_link_that_would_not_hold_the_id_once_is_built_by_url_for(app):
    """Mounted under a path holding the marker's digits, every link is
    url_for's own (before, a page of such links answered 500)."""
    from werkzeug.routing import BuildError

    with app.test_request_context("/"), pytest.raises(BuildError):
        record_links("intake.person", "person_id_typo")
    for root in (f"/{MAX_ID}", f"/x{MAX_ID}y"):
        with app.test_request_context("/", base_url=f"http://localhost{root}/"):
            link = record_links("intake.person", "person_id")
            for ident in (1, 42, MAX_ID):
                assert link(ident) == url_for("intake.person", person_id=ident)
                assert link(ident) == f"{root}/people/{ident}"


def test_the_referrals_list_and_the_timeline_link_their_records(app, client, login_as,
                                                               make_referral):
    login_as("lead")
    referral = make_referral("coventry")
    page = client.get("/referrals").get_data(as_text=True)
    assert f'href="/people/{referral.person_id}"' in page
    record = client.get(f"/people/{referral.person_id}").get_data(as_text=True)
    notes = re.findall(r'href="(/notes/[^"]+)"', record)
    assert notes, "the person's timeline holds a note with its link"
    assert all(client.get(href).status_code == 200 for href in notes)


def test_the_other_lists_link_their_records(app, client, login_as, post, make_referral):
    """The case list, the notes search and the users list: every link to a
    record opens that record."""
    referral = make_referral("coventry")
    login_as("lead", ("coventry",))
    post(f"/people/{referral.person_id}/notes/new",
         {"kind": "case_note", "body": "Talked about football"})
    pages = {"/caseload/cases": r'href="(/people/\d+)"',
             "/notes/search?q=football": r'href="(/notes/\d+)"'}
    for path, pattern in pages.items():
        links = re.findall(pattern, client.get(path).get_data(as_text=True))
        assert links, path
        assert all(client.get(href).status_code == 200 for href in links), path
    assert f'href="/people/{referral.person_id}"' in client.get("/caseload/cases").get_data(
        as_text=True)


def test_the_users_list_links_its_users(app, client, login_as, make_user):
    make_user("caseworker", ("coventry",), email="listed@example.org")
    login_as("admin", ())
    links = re.findall(r'href="(/admin/users/\d+)"', client.get("/admin/users").get_data(
        as_text=True))
    assert len(links) >= 2
    assert all(client.get(href).status_code == 200 for href in links)


@pytest.mark.parametrize("fixed", [{}, {"site": None}, {"site": "coventry"},
                                   {"site": "coventry", "signal": "overdue"},
                                   {"signal": "overdue", "site": "a&b=c"}])
def test_links_with_the_same_arguments_for_each_record_are_url_fors(app, fixed):
    """A caseworker's cases: the id a query argument, beside others the same
    for every row (the chosen site, the signal), which may need escaping."""
    from urllib.parse import parse_qs, urlsplit

    with app.test_request_context("/"):
        link = record_links("caseload.cases", "caseworker", **fixed)
        for ident in (0, 1, 42, 8262, MAX_ID):
            built = link(ident)
            assert built == url_for("caseload.cases", **fixed, caseworker=ident)
            assert parse_qs(urlsplit(built).query)["caseworker"] == [str(ident)]
