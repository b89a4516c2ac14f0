"""Odd input in query strings and forms gets a page or a clear message,
never a 500."""

from __future__ import annotations

import pytest

from casework.extensions import db
from casework.forms import whole_number


def test_whole_numbers_are_ascii_digits_only():
    assert whole_number("12") == 12 and whole_number(" 7 ") == 7
    for text in ("²", "١٢", "-1", "1.5", "", None, "9" * 13, "99999999"):
        assert whole_number(text) is None


@pytest.mark.parametrize("path", [
    "/referrals?page=²", "/referrals?page=99999999999999999999", "/referrals?q=R²",
    "/notes/search?q=a&page=²", "/notes/search?q=a&page=99999999999999999999",
    "/caseload/cases?caseworker=²&site=²&page=99999999999999999999",
    "/dashboard?site=²", "/caseload?site=%00", "/audit/?actor=²",
    # numbers past PostgreSQL's INTEGER ids: a reference searched for, a site
    "/referrals?q=R99999999999", "/referrals?site=99999999999",
    "/caseload/cases?caseworker=99999999999&site=99999999999",
])
def test_query_strings(client, login_as, make_referral, path):
    person = make_referral("coventry").person
    login_as("lead", ("coventry",))
    assert client.get(path).status_code in (200, 400)
    assert client.get(f"/people/{person.id}?page=²").status_code == 200


@pytest.mark.parametrize("path", [
    "/people/{big}", "/people/{big}/edit", "/referrals/{big}/close", "/notes/{big}",
    "/triage/{big}",
])
def test_ids_too_large_for_a_record_are_not_found(client, login_as, make_referral, path):
    make_referral("coventry")
    login_as("lead", ("coventry",))
    # above 2**31 - 1: more than PostgreSQL's INTEGER ids hold, and past
    # 2**63 more than SQLite's (each a 500 before)
    for big in (2**31, 2**63, "9" * 40):
        assert client.get(path.format(big=big)).status_code == 404
    assert client.get(path.format(big=2**31 - 1)).status_code == 404


def test_a_trial_without_block_sizes_is_explained(client, login_as, post):
    login_as("admin", ())
    response = post("/admin/trials/new", {
        "name": "CIRV", "key": "cirv", "sites": ["coventry"], "ratio_treatment": "1",
        "ratio_control": "1", "method": "permuted_blocks", "block_sizes": "",
        "status": "open"})
    assert response.status_code == 422
    assert "Enter block sizes as whole numbers" in response.get_data(as_text=True)


def test_a_blank_outcome_title_is_explained(client, login_as, post):
    login_as("admin", ())
    response = post("/admin/outcome-codes/22", {"title": "   "})
    assert response.status_code == 422
    assert "Enter the" in response.get_data(as_text=True)


def test_reassigning_with_odd_ids(client, login_as, post, make_referral, make_user):
    person = make_referral("coventry").person
    make_user("caseworker", ("coventry",))
    login_as("lead", ("coventry",))
    response = post("/caseload/reassign", {"people": ["²", str(person.id)], "to_user": "²",
                                           "reason": "x"})
    assert response.status_code == 422


@pytest.mark.parametrize("number", ["7" * 40, "7" * 1000, "-3", "1.5", "١٢"])
def test_huge_or_odd_numbers_are_explained(client, login_as, post, make_trial, number):
    trial = make_trial()
    login_as("admin", ())
    response = post(f"/admin/trials/{trial.id}/in-error", {
        "stratum": "coventry", "slot": number, "reason": "Entered twice"})
    assert response.status_code == 422
    assert "Enter a slot number from 1 to 10,000,000" in response.get_data(as_text=True)
    response = post("/admin/trials/new", {"name": "T", "key": "t", "sites": ["birmingham"],
                                          "ratio_treatment": "1", "ratio_control": number,
                                          "method": "permuted_blocks", "block_sizes": "2",
                                          "status": "open"})
    assert response.status_code == 422
    assert "Enter a whole number from 1 to 10" in response.get_data(as_text=True)
    response = post("/admin/offences/bladed_article_s139", {
        "title": "Bladed article", "legislation": "s139", "category": "weapon",
        "gravity": number})
    assert response.status_code == 422
    assert "Gravity must be from 1 to 5" in response.get_data(as_text=True)


def test_an_overlong_sign_in_is_explained(client):
    from tests.conftest import csrf_token

    response = client.post("/sign-in", data={"email": "a" * 300 + "@example.org",
                                             "password": "x" * 300,
                                             "csrf_token": csrf_token(client, "/sign-in")})
    body = response.get_data(as_text=True)
    assert "Email address must be 254 characters or fewer" in body
    assert "Password must be 256 characters or fewer" in body


BIG = "9" * 20  # past a C long: Python's date() overflowed rather than refusing


def test_a_date_with_a_huge_day_or_month_is_explained(client, login_as, post, make_referral):
    person = make_referral("coventry").person
    login_as("lead", ("coventry",))
    for parts in ([BIG, "1", "2026"], ["1", BIG, "2026"]):
        response = post(f"/people/{person.id}/edit", {
            "first_name": "Ada", "last_name": "Lovelace", "date_of_birth": parts,
            "gender": "female", "ethnicity": "white_british", "local_authority": "coventry"})
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert "Date of birth must be a real date" in page and BIG in page  # kept as typed
        assert client.get(f"/referrals?date_from={parts[0]}&date_from={parts[1]}"
                          f"&date_from={parts[2]}").status_code == 200


def test_a_required_choice_sent_only_a_nul_is_missing(client, login_as, post):
    login_as("caseworker", ("coventry",))
    response = post("/referrals/new", {
        "first_name": "Ada", "last_name": "Lovelace", "date_of_birth": ["1", "2", "2009"],
        "gender": "female", "ethnicity": "white_british", "local_authority": "coventry",
        "site": "\x00", "referral_date": ["1", "11", "2026"], "source": "police",
        "referrer_name": "PC Ada", "reason": "Concern"})
    assert response.status_code == 422  # a 500 before: the NUL passed as a choice
    page = response.get_data(as_text=True)
    assert "Select a site" in page and "Lovelace" in page


def test_reassigning_more_cases_than_allowed_at_once(client, login_as, post, make_referral,
                                                     make_user):
    from casework.caseload.services import MAX_CASES_AT_ONCE

    person = make_referral("coventry").person
    to = make_user("caseworker", ("coventry",))
    login_as("lead", ("coventry",))
    many = [str(n) for n in range(1, 70_001)]  # past PostgreSQL's 65,535 parameters
    # each person counts once: 201 different people, sent 206 times
    for people in (many, [str(person.id)] * 6 + many[1000:1000 + MAX_CASES_AT_ONCE]):
        response = post("/caseload/reassign", {"people": people, "to_user": str(to.id),
                                               "reason": "x"})
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        # in the summary, linked to the first case's box, and beside the boxes
        assert page.count(f"Reassign at most {MAX_CASES_AT_ONCE} cases at a time") == 2
        assert 'href="#people"' in page and 'id="people"' in page
        # above the boxes it is about, which it describes (an accessibility review
        # found it under the table, tied to nothing)
        assert page.index('id="people-error"') < page.index('id="people"')
        assert 'aria-describedby="people-error"' in page
    response = post("/caseload/reassign", {"people": [str(person.id)] * 6, "reason": "x",
                                           "to_user": str(to.id)})
    assert response.status_code == 302  # six times one person is one case


def test_an_upload_named_with_a_nul_is_stored_without_it(client, login_as, post, make_trial):
    import io

    from casework.trial.models import Trial

    trial = make_trial(sites=("coventry",), method="allocation_list", status="closed")
    login_as("admin", ())
    response = post(f"/admin/trials/{trial.id}/allocation-list",
                    {"allocation_list": (io.BytesIO(b"stratum,slot,arm\ncoventry,1,control\n"),
                                         "list\x00.csv")},
                    content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Trial, trial.id).allocation_list_filename == "list.csv"


def test_throttled_sign_in_with_a_nul_in_the_email(make_app):
    from tests.conftest import csrf_token

    app = make_app(LOGIN_RATE_LIMIT="2 per 15 minutes")
    with app.app_context():
        client = app.test_client()
        token = csrf_token(client, "/sign-in")
        codes = [client.post("/sign-in", data={"email": "lead\x00@example.org",
                                               "password": "wrong guess here",
                                               "csrf_token": token}).status_code
                 for _ in range(4)]
    assert codes == [422, 422, 429, 429]


@pytest.mark.parametrize("site", ["%20", "%09", "%00", "+"])
def test_a_site_filter_of_spaces_is_no_site(client, login_as, make_referral, site):
    """WTForms' Optional took a choice of spaces as none but left the spaces
    in the field, which the list read as a site's id: a 500 (found by review)."""
    make_referral("coventry", last_name="Listedhere")
    login_as("caseworker", ("coventry",))
    response = client.get(f"/referrals?site={site}")
    assert response.status_code == 200 and "Listedhere" in response.get_data(as_text=True)


def test_the_librarys_messages_name_their_field(client, login_as):
    """WTForms' own messages named no field ("Field cannot be longer than
    100 characters.", "Not a valid choice."), in the error summary far from
    the field (found by an accessibility review)."""
    login_as("caseworker", ("coventry",))
    page = client.get("/notes/search?q=" + "x" * 201).get_data(as_text=True)
    assert "Field cannot" not in page and "Search notes must be 200 characters or fewer" in page
    page = client.get("/referrals?status=nonsense&sort=sideways").get_data(as_text=True)
    assert "Not a valid choice" not in page
    assert "Status must be one of the options" in page


def test_a_fields_name_in_a_message_leaves_out_optional(client, login_as, post):
    """"Referrer's organisation (optional) must be 120 characters or fewer"
    (found by review)."""
    login_as("caseworker", ("coventry",))
    import html

    page = html.unescape(post("/referrals/new", {"referrer_organisation": "x" * 121})
                         .get_data(as_text=True))
    assert "Referrer's organisation must be 120 characters or fewer" in page


@pytest.mark.parametrize(("name", "message"), [
    ("A\x0bB", "The trial's name must not contain control characters"),
    ("A\x1bB", "The trial's name must not contain control characters"),
    ("A\ufffeB", "The trial's name must not contain characters that are not text"),
    ("A\uffffB", "The trial's name must not contain characters that are not text"),
])
def test_a_trial_or_site_name_the_consort_svg_cannot_hold_is_refused(client, login_as, post,
                                                                      name, message):
    """Found by review: a trial named with a vertical tab, an escape or
    U+FFFE was saved, and made the CONSORT diagram's SVG invalid XML. The
    trial's name and a site's are refused with one, as display names are."""
    import html

    from sqlalchemy import func, select

    from casework.accounts.models import Site
    from casework.trial.models import Trial

    login_as("admin", ())
    response = post("/admin/trials/new", {
        "name": name, "key": "cirv", "sites": ["coventry"], "ratio_treatment": "1",
        "ratio_control": "1", "method": "permuted_blocks", "block_sizes": "2, 4",
        "status": "open"})
    assert response.status_code == 422
    assert message in html.unescape(response.get_data(as_text=True))
    assert db.session.scalar(select(func.count()).select_from(Trial)) == 0
    response = post("/admin/sites/new", {"key": "leeds", "name": name})
    stored = db.session.scalar(select(Site.name).where(Site.key == "leeds"))
    if name.split() != [name]:  # a site's name has its spaces, a vertical tab among them, made one
        assert response.status_code == 302 and stored == "A B"
        return
    assert response.status_code == 422 and stored is None
    assert message.replace("trial's", "site's") in html.unescape(response.get_data(as_text=True))
