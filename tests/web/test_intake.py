"""Referral intake through the pages: the form, duplicates, the list, the
person page, edits, closing, scope and audit."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from casework.accounts.models import User
from casework.audit.models import AuditEvent
from casework.database import local_today
from casework.dates import long_date
from casework.extensions import db
from casework.intake import services
from casework.intake.models import Person, Referral
from casework.intake.reference import CLOSE_REASONS
from tests.conftest import day


def form_data(**overrides) -> dict:
    today = local_today()  # England's, as the form's own checks take it
    data = {
        "first_name": "Jordan", "last_name": "O'Neill", "other_names": "",
        "date_of_birth": ["14", "3", "2008"], "gender": "male",
        "ethnicity": "mixed_white_black_caribbean", "postcode": "cv1 5fb",
        "local_authority": "coventry", "pnc_reference": "",
        "referral_date": day(today),
        "source": "hospital_navigator", "referrer_name": "Sam Navigator",
        "referrer_organisation": "UHCW", "site": "", "reason": "Stab wound; known associates.",
        "risk_indicators": ["weapon_carrying", "victim_of_violence"],
    }
    data.update(overrides)
    return data


@pytest.fixture
def coventry_id():
    from casework.accounts.services import sites_by_keys

    return sites_by_keys(["coventry"])[0].id


@pytest.fixture
def submit(post, coventry_id):
    def send(**overrides):
        data = form_data(site=str(coventry_id), **overrides)
        return post("/referrals/new", data)

    return send


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_referral_creates_a_person_and_is_audited(client, login_as, submit):
    login_as("caseworker", ("coventry",))
    response = submit()
    assert response.status_code == 302
    person = db.session.scalars(select(Person)).one()
    referral = db.session.scalars(select(Referral)).one()
    assert (person.last_name, person.postcode, person.date_of_birth) == \
        ("O'Neill", "CV1 5FB", date(2008, 3, 14))
    assert referral.status == "received" and referral.person_id == person.id
    assert referral.risk_indicators == ["weapon_carrying", "victim_of_violence"]
    assert response.headers["Location"] == f"/people/{person.id}"
    assert [a for a in actions() if not a.startswith("case:")][-2:] == [
        "person:created", "referral:created"]
    created = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral:created")).one()
    assert "Stab wound" not in str(created.detail)  # free text never in the audit log


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"first_name": ""}, "first_name", "Enter a first name"),
        ({"last_name": ""}, "last_name", "Enter a last name"),
        (lambda today: {"date_of_birth": ["1", "1", str(today.year + 1)]}, "date_of_birth",
         "Date of birth must be today or in the past"),
        (lambda today: {"date_of_birth": ["1", "1", str(today.year - 101)]}, "date_of_birth",
         "Date of birth must make the person 100 or younger"),
        ({"date_of_birth": ["31", "2", "2008"]}, "date_of_birth",
         "Date of birth must be a real date"),
        ({"date_of_birth": ["", "2", "2008"]}, "date_of_birth",
         "Date of birth must include a day"),
        ({"gender": ""}, "gender", "Select a gender"),
        ({"ethnicity": ""}, "ethnicity", "Select an ethnicity"),
        ({"ethnicity": "martian"}, "ethnicity", "Ethnicity must be one of the options"),
        ({"postcode": "CV1 5F"}, "postcode", "Enter a real postcode"),
        ({"local_authority": ""}, "local_authority", "Select the local authority"),
        ({"pnc_reference": "12-3456"}, "pnc_reference", "format 12/345678A"),
        ({"referral_date": ["", "", ""]}, "referral_date", "Enter the referral date"),
        ({"referral_date": ["1", "1", "2007"]}, "referral_date",
         "on or after the date of birth"),
        # (two days on: tomorrow would be today if England's midnight passed
        # before the form was sent)
        (lambda today: {"referral_date": day(today + timedelta(days=2))},
         "referral_date", "Referral date must be today or in the past"),
        ({"source": ""}, "source", "Select where the referral came from"),
        ({"referrer_name": ""}, "referrer_name", "Enter the referrer's name"),
        ({"reason": ""}, "reason", "Enter the reason for the referral"),
        ({"reason": "x" * 5001}, "reason", "5000 characters or fewer"),
        ({"risk_indicators": ["telepathy"]}, "risk_indicators",
         "Risk indicators must be among those listed"),
    ],
)
def test_each_bad_field_is_explained_beside_it_and_nothing_is_lost(
        client, login_as, submit, overrides, field, message):
    login_as("caseworker", ("coventry",))
    if callable(overrides):  # dates from today, taken when the test runs (not collected)
        overrides = overrides(local_today())
    response = submit(**overrides)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "There is a problem" in page
    # the summary links to the field: a date to its day box (its first, and
    # the first left empty), which takes focus, where its wrapper would not
    anchor = f"{field}-day" if field in ("date_of_birth", "referral_date") else field
    assert f'href="#{anchor}"' in page and f'id="{anchor}"' in page
    assert message.lower() in html.unescape(page).lower()
    assert count(Person) == 0 and count(Referral) == 0
    # what was typed is still there
    if field != "referrer_name":
        assert 'value="Sam Navigator"' in page
    if field != "reason":
        assert "Stab wound; known associates." in page


def test_a_person_of_exactly_100_is_recorded_and_one_over_100_is_not(
        client, login_as, submit, post):
    """DESIGN.md refuses a date of birth "making the person over 100": one
    making them 100 was refused too."""
    login_as("caseworker", ("coventry",))
    year = local_today().year
    hundred = ["1", "1", str(year - 100)]  # 100 all this year
    assert submit(date_of_birth=hundred).status_code == 302
    person = db.session.scalars(select(Person)).one()
    assert person.date_of_birth == date(year - 100, 1, 1)
    over = ["1", "1", str(year - 101)]
    response = post(f"/people/{person.id}/edit", form_data(date_of_birth=over))
    assert response.status_code == 422
    assert "Date of birth must make the person 100 or younger" in response.get_data(as_text=True)
    response = post(f"/people/{person.id}/edit",
                    form_data(date_of_birth=hundred, first_name="Jordy"))
    assert response.status_code == 302


def error_summary(page: str) -> list[str]:
    soup = BeautifulSoup(page, "html.parser")
    return [item.get_text(" ", strip=True)
            for item in soup.select(".govuk-error-summary__list li")]


def test_every_problem_of_the_referral_form_is_listed_at_once(client, login_as, submit):
    """A first name of spaces, a bad postcode and a referral date before the
    date of birth were said only once the form's own errors (an empty last
    name, no source) were put right, each in its turn (found by review)."""
    login_as("caseworker", ("coventry",))
    response = submit(first_name="  ", last_name="", postcode="nonsense", source="",
                      referral_date=["1", "1", "2007"])
    assert response.status_code == 422
    assert error_summary(response.get_data(as_text=True)) == [
        "Enter a first name", "Enter a last name", "Enter a real postcode, like B1 1AA",
        "Referral date must be on or after the date of birth",
        "Select where the referral came from"]
    assert count(Person) == 0 and count(Referral) == 0
    # and so when the form itself has none (the person's problems were said
    # before the referral's)
    response = submit(postcode="nonsense", referral_date=["1", "1", "2007"])
    assert response.status_code == 422
    assert error_summary(response.get_data(as_text=True)) == [
        "Enter a real postcode, like B1 1AA",
        "Referral date must be on or after the date of birth"]
    # a date of birth in error is not compared with the referral date
    response = submit(last_name="", date_of_birth=["1", "1", str(local_today().year + 1)])
    assert error_summary(response.get_data(as_text=True)) == [
        "Enter a last name", "Date of birth must be today or in the past"]


def test_every_problem_of_the_person_edit_form_is_listed_at_once(
        client, login_as, submit, post, make_referral):
    login_as("caseworker", ("coventry",))
    submit(pnc_reference="12/345678A")
    person = db.session.scalars(select(Person)).one()
    other = make_referral("coventry").person
    path = f"/people/{other.id}/edit"
    last = db.session.scalar(select(func.max(AuditEvent.id)))
    # the form's own error (no last name), then the service's: a first name
    # of spaces, a bad postcode, a PNC reference someone else has
    response = post(path, form_data(first_name=" ", last_name="", postcode="nonsense",
                                    pnc_reference="12/345678A"))
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert error_summary(page) == [
        "Enter a first name", "Enter a last name", "Enter a real postcode, like B1 1AA",
        f"{person.full_name} has this PNC reference. A PNC reference identifies one person: "
        "check it"]
    # the holder was shown, and so audited, as the service's refusal audits them
    since = db.session.execute(select(AuditEvent.action, AuditEvent.subject_id)
                               .where(AuditEvent.id > last).order_by(AuditEvent.id)).all()
    assert sorted(since) == sorted([("person:viewed", str(person.id)),
                                    ("person:viewed", str(other.id))])
    # a date of birth after a referral date, with a bad postcode, at once
    response = post(path, form_data(postcode="nonsense", date_of_birth=["2", "11", "2026"]))
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert len(error_summary(page)) == 2
    assert error_summary(page)[0].startswith(
        "Date of birth must be on or before the person's referral dates")
    assert error_summary(page)[1] == "Enter a real postcode, like B1 1AA"
    db.session.refresh(other)
    assert other.last_name.startswith("Person") and other.postcode is None


def test_site_outside_the_users_sites_is_refused(client, login_as, post):
    from casework.accounts.services import sites_by_keys

    login_as("caseworker", ("coventry",))
    dudley = sites_by_keys(["dudley"])[0]
    response = post("/referrals/new", form_data(site=str(dudley.id)))
    assert response.status_code == 422
    assert count(Referral) == 0


@pytest.fixture
def existing_person(client, login_as, submit):
    login_as("caseworker", ("coventry",))
    submit(pnc_reference="12/345678A")
    return db.session.scalars(select(Person)).one()


def test_possible_duplicate_is_offered_with_reasons(existing_person, submit):
    response = submit(first_name="Jordan", last_name="ONeill")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Is this someone already known?" in page
    assert f'value="{existing_person.id}"' in page
    assert "Same date of birth" in page and "ignored (O&#39;Neill and ONeill)" in page
    assert count(Person) == 1 and count(Referral) == 1  # nothing written yet
    # the candidates' details were shown: each is audited as a view of them
    shown = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (shown.action, shown.subject_id, shown.detail) == (
        "person:viewed", str(existing_person.id), {"page": "intake.new_referral"})
    # everything typed travels with the choice
    assert 'name="reason" value="Stab wound; known associates."' in page


def test_linking_to_the_existing_person(existing_person, submit):
    response = submit(first_name="Jordan", person_choice=str(existing_person.id))
    assert response.status_code == 302
    assert count(Person) == 1 and count(Referral) == 2
    linked = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "person:linked")).one()
    assert linked.subject_id == str(existing_person.id)
    assert linked.detail["candidates"] == [existing_person.id]


def test_the_duplicates_page_preselects_nothing_and_asks_for_a_choice(existing_person,
                                                                      submit):
    """"New person" was checked in advance, so sending the page unread made
    a duplicate: nothing is preselected, and sending no choice asks again."""
    page = submit(first_name="Jordan").get_data(as_text=True)
    assert "checked" not in page.split("Possible matches")[1].split("</fieldset>")[0]
    response = submit(first_name="Jordan", duplicates_shown="1")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<title>Error: Is this someone already known?" in page
    assert f'href="#person-{existing_person.id}"' in page
    assert "Select who the referral is about" in page
    assert 'name="reason" value="Stab wound; known associates."' in page
    assert page.count('name="duplicates_shown"') == 1
    assert count(Person) == 1 and count(Referral) == 1


def test_linking_says_what_typed_for_the_person_was_not_saved(client, existing_person,
                                                              submit):
    """A referral linked to someone keeps their details as they are: a new
    postcode typed with it was dropped, unsaid."""
    response = submit(first_name="Jordan", postcode="cv2 4aa", ethnicity="white_british",
                      person_choice=str(existing_person.id))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert ("What you typed for their ethnicity and postcode differs from Jordan O&#39;Neill"
            "&#39;s record and was not saved") in page
    assert db.session.get(Person, existing_person.id).postcode == "CV1 5FB"
    # the same details as held: nothing to say
    response = submit(person_choice=str(existing_person.id), pnc_reference="12/345678A")
    assert "was not saved" not in client.get(response.headers["Location"]).get_data(
        as_text=True)


def test_confirming_a_new_person_despite_candidates(existing_person, submit):
    response = submit(person_choice="new")
    assert response.status_code == 302
    assert count(Person) == 2
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "person:confirmed_new")).one()
    assert event.detail["candidates_set_aside"] == [existing_person.id]


def test_choosing_someone_who_is_not_a_candidate_is_refused(existing_person, submit):
    response = submit(first_name="Callum", person_choice=str(existing_person.id))
    assert response.status_code == 422
    assert "Choose one of the people listed" in response.get_data(as_text=True)
    assert count(Referral) == 1


def test_a_referral_dated_before_the_chosen_persons_birth_is_refused(client, existing_person,
                                                                      submit, post):
    """The referral date was checked against the date of birth typed, not
    the chosen person's: typed a digit out (2007, found as 2008), a referral
    dated between the two joined their record, and every edit of them was
    then refused for a referral before their birth."""
    response = submit(date_of_birth=["14", "3", "2007"], referral_date=["1", "1", "2008"],
                      person_choice=str(existing_person.id))
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert ("Referral date must be on or after Jordan O'Neill's date of birth, 14 March 2008"
            in page)
    assert 'href="#referral_date-day"' in page and "Stab wound; known associates." in page
    assert count(Referral) == 1
    # dated on or after it, the referral joins them, and they can still be edited
    assert submit(date_of_birth=["14", "3", "2007"], referral_date=["14", "3", "2008"],
                  person_choice=str(existing_person.id)).status_code == 302
    edit = client.get(f"/people/{existing_person.id}/edit").get_data(as_text=True)
    version = BeautifulSoup(edit, "html.parser").find("input", {"name": "version"})["value"]
    assert post(f"/people/{existing_person.id}/edit",
                form_data(postcode="cv2 2dx", version=version)).status_code == 302


def test_a_name_with_letters_of_their_own_is_found_typed_without_them(client, login_as, submit):
    """"Łukasz Wójcik" was keyed "ukasz", so "Lukasz Wojcik", the same
    child typed without the Polish letters, was no candidate (and could be
    randomised twice), and a search for "Lukasz" found nobody."""
    login_as("caseworker", ("coventry",))
    assert submit(first_name="Łukasz", last_name="Wójcik").status_code == 302
    page = submit(first_name="Lukasz", last_name="Wojcik").get_data(as_text=True)
    assert "Is this someone already known?" in page
    for words in ("Lukasz", "Łukasz", "lukasz wojcik"):
        listed = client.get("/referrals", query_string={"q": words}).get_data(as_text=True)
        assert "Wójcik" in listed
    assert submit(first_name="Søren", last_name="Ødegård").status_code == 302
    assert "Is this someone already known?" in submit(
        first_name="Soren", last_name="Odegard").get_data(as_text=True)


def test_pnc_reference_alone_finds_the_person(existing_person, submit):
    page = submit(first_name="Zed", last_name="Other", date_of_birth=["1", "1", "1999"],
                  pnc_reference="12/0345678a").get_data(as_text=True)
    assert "Same PNC reference" in page


def test_person_page_shows_details_and_referrals_and_is_audited(client, existing_person):
    page = client.get(f"/people/{existing_person.id}").get_data(as_text=True)
    assert "Jordan O&#39;Neill" in page and "14 March 2008" in page and "CV1 5FB" in page
    assert "Stab wound; known associates." in page
    assert "Weapon carrying" in page
    assert actions()[-1] == "person:viewed"


def test_person_page_names_the_sites_and_caseworker_and_lists_referrals_newest_first(
        client, login_as, make_referral):
    """The page's person, referrals and names are read as plain values in one
    statement: the person's site, their caseworker (or none), and each
    referral under its own site, newest first, a closed one with why."""
    older = make_referral("coventry", referral_date=date(2026, 10, 1), reason="Older reason")
    person = db.session.get(Person, older.person_id)
    newer = make_referral("wolverhampton", person=person, referral_date=date(2026, 11, 5),
                          reason="Newer reason")
    lead = login_as("lead", ("coventry", "wolverhampton"))
    services.close_referral(db.session.get(Referral, older.id), "moved_away", actor=lead,
                            now=datetime(2026, 11, 21, 10, 0, tzinfo=UTC))
    db.session.commit()

    def shown() -> tuple[str, str, list[tuple[str, dict[str, str]]]]:
        soup = BeautifulSoup(client.get(f"/people/{person.id}").get_data(as_text=True),
                             "html.parser")
        details = {row.dt.get_text(strip=True): row.dd.get_text(" ", strip=True)
                   for row in soup.select("dl")[0].select(".govuk-summary-list__row")}
        cards = [(card.select_one(".govuk-summary-card__title").get_text(" ", strip=True),
                  {row.dt.get_text(strip=True): row.dd.get_text(" ", strip=True)
                   for row in card.select(".govuk-summary-list__row")})
                 for card in soup.select(".govuk-summary-card")]
        return soup.select_one(".govuk-caption-l").get_text(strip=True), \
            details["Caseworker"], cards

    caption, caseworker, cards = shown()
    assigned = db.session.get(User, db.session.get(Person, person.id).caseworker_id)
    assert caption == "Coventry"
    assert assigned is not None and caseworker == assigned.display_name
    assert [title.split(",")[0] for title, _rows in cards] == [newer.reference, older.reference]
    assert [rows["Site"] for _title, rows in cards] == ["Wolverhampton", "Coventry"]
    assert [rows["Reason"] for _title, rows in cards] == ["Newer reason", "Older reason"]
    assert "Closed" not in cards[0][1]
    assert cards[1][1]["Closed"].startswith(CLOSE_REASONS["moved_away"] + ", 21 November 2026")

    db.session.get(Person, person.id).caseworker_id = None
    db.session.commit()
    assert shown()[1] == "None assigned"


def test_free_text_is_escaped(client, login_as, submit):
    login_as("caseworker", ("coventry",))
    submit(reason="<script>alert(1)</script>")
    person = db.session.scalars(select(Person)).one()
    page = client.get(f"/people/{person.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_editing_a_person_records_before_and_after(client, existing_person, post):
    data = form_data(last_name="O'Neil", postcode="cv2 2dx")
    response = post(f"/people/{existing_person.id}/edit", data)
    assert response.status_code == 302
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "person:updated")).one()
    assert event.detail == {
        "last_name": {"before": "O'Neill", "after": "O'Neil"},
        "pnc_reference": {"before": "12/345678A", "after": None},
        "postcode": {"before": "CV1 5FB", "after": "CV2 2DX"},
    }
    db.session.refresh(existing_person)
    assert existing_person.last_name_key == "oneil"


def test_editing_with_a_bad_postcode_keeps_the_typing(client, existing_person, post):
    before = actions()
    response = post(f"/people/{existing_person.id}/edit",
                    form_data(first_name="Jordy", postcode="nonsense"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter a real postcode" in page and 'value="Jordy"' in page
    db.session.refresh(existing_person)
    assert existing_person.first_name == "Jordan"
    # nothing of the refused edit is kept but the view of the page sent back, once
    last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (last.action, last.subject_id, last.detail) == (
        "person:viewed", str(existing_person.id), {"page": "intake.edit_person"})
    assert actions()[len(before):] == ["person:viewed"]


def test_closing_a_referral_needs_a_reason(client, existing_person, post):
    referral = existing_person.referrals[0]
    response = post(f"/referrals/{referral.id}/close", {})
    assert response.status_code == 422
    assert "Select why the referral is being closed" in response.get_data(as_text=True)
    response = post(f"/referrals/{referral.id}/close", {"reason": "withdrawn"})
    assert response.status_code == 302
    db.session.refresh(referral)
    assert (referral.status, referral.closed_reason) == ("closed", "withdrawn")
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral:closed")).one()
    assert event.detail["status"] == {"before": "received", "after": "closed"}


def test_triage_complete_is_a_close_reason_only_once_the_referral_is_triaged(
        client, make_referral, triage_referral, login_as, post):
    """A referral never triaged was closed as "Triage complete, no further
    action", and CONSORT counted it so (found by review)."""
    referral = make_referral("coventry")
    login_as("caseworker", ("coventry",))
    path = f"/referrals/{referral.id}/close"
    assert 'value="triage_complete"' not in client.get(path).get_data(as_text=True)
    before = actions()
    response = post(path, {"reason": "triage_complete"})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "this referral has not been triaged, so it cannot be closed as triage complete" \
        in page
    assert 'value="triage_complete"' not in page and 'value="withdrawn"' in page
    db.session.refresh(referral)
    assert (referral.status, referral.closed_reason, referral.closed_at) == \
        ("received", None, None)
    assert "referral:closed" not in actions()[len(before):]

    triage_referral(referral)
    assert 'value="triage_complete"' in client.get(path).get_data(as_text=True)
    assert post(path, {"reason": "triage_complete"}).status_code == 302
    db.session.refresh(referral)
    assert (referral.status, referral.closed_reason) == ("closed", "triage_complete")


def test_the_service_refuses_triage_complete_for_a_referral_never_triaged(
        make_referral, make_user, now):
    referral = make_referral("coventry")
    with pytest.raises(services.IntakeError) as refused:
        services.close_referral(referral, "triage_complete", actor=make_user("caseworker"),
                                now=now)
    assert refused.value.problems == {"reason": services.NOT_TRIAGED}
    assert referral.status == "received" and referral.closed_reason is None


def test_status_changes_only_along_the_workflow(existing_person, now):
    from casework.intake.reference import InvalidTransition, ReferralStatus

    referral = existing_person.referrals[0]
    with pytest.raises(InvalidTransition):
        services.change_status(referral, ReferralStatus.ELIGIBLE, actor=None, now=now)
    services.change_status(referral, ReferralStatus.IN_TRIAGE, actor=None, now=now)
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "referral:status_changed")).one()
    assert event.detail == {"status": {"before": "received", "after": "in_triage"}}


def test_other_sites_records_answer_404_and_are_audited(client, make_user, now):
    from casework.accounts.services import sites_by_keys
    from casework.intake import services
    from tests.conftest import sign_in

    wolverhampton = sites_by_keys(["wolverhampton"])[0]
    wolves_worker = make_user("caseworker", ("wolverhampton",))
    referral = services.record_referral(
        services.PersonDetails("Ava", "Hidden", date(2009, 5, 5), "female", "white_british",
                               "wolverhampton"),
        services.ReferralDetails(wolverhampton.id, now.date(), "police", "PC Plod", "Reason"),
        existing_person_id=None, actor=wolves_worker, now=now,
    )
    person_id, referral_id = referral.person_id, referral.id
    db.session.commit()

    make_user("caseworker", ("coventry",), email="cov@example.org")
    sign_in(client, "cov@example.org")
    for path in (f"/people/{person_id}", f"/people/{person_id}/edit",
                 f"/referrals/{referral_id}/close"):
        assert client.get(path).status_code == 404
    listing = client.get("/referrals?q=Hidden").get_data(as_text=True)
    assert "0 referrals" in listing and "Hidden, Ava" not in listing
    denied = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "access:denied")).all()
    assert len(denied) == 3
    assert {d.detail["reason"] for d in denied} == {"outside_scope"}
    assert {d.site_id for d in denied} == {wolverhampton.id}

    # Referred at Coventry too (by someone of both sites): Coventry's staff
    # now see the person, with both referrals.
    coventry = sites_by_keys(["coventry"])[0]
    both = make_user("caseworker", ("coventry", "wolverhampton"), email="both@example.org")
    services.record_referral(
        services.PersonDetails("Ava", "Hidden", date(2009, 5, 5), "female", "white_british",
                               "wolverhampton"),
        services.ReferralDetails(coventry.id, now.date(), "police", "PC Plod", "Reason"),
        existing_person_id=person_id, actor=both, now=now,
    )
    db.session.commit()
    page = client.get(f"/people/{person_id}")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('class="govuk-summary-card"') == 2
    sign_in(client, "both@example.org")
    assert client.get(f"/people/{person_id}").status_code == 200


@pytest.mark.parametrize("role", ["evaluator", "admin"])
def test_roles_without_casework_cannot_see_referrals(client, login_as, role):
    login_as(role, ())
    assert client.get("/referrals").status_code == 403
    assert client.get("/referrals/new").status_code == 403


def test_the_lists_page_links_carry_no_options_of_url_for(client, login_as, make_referral,
                                                         monkeypatch):
    """?_method=POST made the list's page links unbuildable (a 500), and
    ?_external and ?_anchor changed them (found by review)."""
    import re

    from casework.intake import services

    for _ in range(3):
        make_referral("coventry")
    login_as("caseworker", ("coventry",))
    original = services.search_referrals
    monkeypatch.setattr(services, "search_referrals",
                        lambda *a, **k: original(*a, **{**k, "per_page": 1}))
    response = client.get("/referrals?status=&_method=POST&_external=1&_anchor=x"
                          "&endpoint=y&page=2")
    assert response.status_code == 200
    links = re.findall(r'class="govuk-link govuk-pagination__link" href="([^"]+)"',
                       response.get_data(as_text=True))
    assert sorted(links) == ["/referrals?page=1&amp;status=", "/referrals?page=3&amp;status="]


def test_a_referrals_page_records_its_view_under_the_referrals_site(client, login_as,
                                                                    make_referral):
    """A person of one site referred at another: the close and triage pages
    of that referral are the second site's work, so the view is recorded
    under it and that site's leads see it in their audit log."""
    from casework.accounts.services import sites_by_keys

    person = make_referral("coventry").person
    referral = make_referral("wolverhampton", person=person)
    login_as("caseworker", ("wolverhampton",))
    wolverhampton = sites_by_keys(["wolverhampton"])[0].id
    for page in (f"/referrals/{referral.id}/close", f"/referrals/{referral.id}/triage"):
        assert client.get(page).status_code == 200
        shown = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (shown.action, shown.subject_id, shown.site_id) == (
            "person:viewed", str(person.id), wolverhampton), page


def test_a_date_of_birth_after_a_referral_date_is_refused_beside_it(client, login_as, submit,
                                                                    post):
    """DESIGN.md: a referral date before the date of birth is bad input. The
    edit checked the date of birth against today alone, so it could come
    after the person's referral, and C1 then read "Aged -1"."""
    login_as("caseworker", ("coventry",))
    submit(referral_date=["1", "11", "2020"])
    person = db.session.scalars(select(Person)).one()
    referral = person.referrals[0]
    response = post(f"/people/{person.id}/edit",
                    form_data(first_name="Jordy", date_of_birth=["10", "11", "2020"]))
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert 'href="#date_of_birth-day"' in page
    error = BeautifulSoup(page, "html.parser").select_one("#date_of_birth-error").get_text()
    assert f"referral {referral.reference} is dated 1 November 2020" in error
    assert 'value="Jordy"' in page and 'value="2020"' in page  # nothing typed is lost
    db.session.refresh(person)
    assert (person.first_name, person.date_of_birth) == ("Jordan", date(2008, 3, 14))
    # the day of the referral itself is a date of birth it allows
    response = post(f"/people/{person.id}/edit",
                    form_data(date_of_birth=["1", "11", "2020"]))
    assert response.status_code == 302


def test_the_referrals_next_page_keeps_a_date_filter(client, login_as, make_referral):
    """The dashboard's week links filter the list by dates; its Next link
    carried only the day of each, so page 2 listed referrals of any date
    (found by review)."""
    from datetime import date, timedelta

    monday = date(2026, 11, 2)
    for n in range(30):
        make_referral("coventry", referral_date=monday + timedelta(days=n % 7),
                      last_name=f"Inweek{n}")
    make_referral("coventry", referral_date=monday - timedelta(days=3), last_name="Outside")
    login_as("caseworker", ("coventry",))
    first = client.get("/referrals?date_from=2&date_from=11&date_from=2026"
                       "&date_to=8&date_to=11&date_to=2026").get_data(as_text=True)
    following = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    following = following.replace("&amp;", "&")
    assert "date_to=8&date_to=11&date_to=2026" in following
    second = client.get(following).get_data(as_text=True)
    assert "must include" not in second
    assert "Outside" not in second and "Inweek" in second


def test_filters_that_cannot_be_read_list_no_referrals(client, login_as, make_referral):
    """A range given the wrong way round, or a date that is not one, listed
    every referral beside the message, as if the filter had matched."""
    make_referral("coventry", last_name="Anyone")
    login_as("caseworker", ("coventry",))
    for query in ("date_from=8&date_from=11&date_from=2026&date_to=2&date_to=11&date_to=2026",
                  "date_from=31&date_from=2&date_from=2026", "status=nonsense"):
        response = client.get("/referrals?" + query)
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "Anyone" not in page and "Correct the filters to see referrals" in page
    backwards = client.get("/referrals?date_from=8&date_from=11&date_from=2026"
                           "&date_to=2&date_to=11&date_to=2026").get_data(as_text=True)
    assert "Referred to must be the same as or after Referred from" in backwards


def test_a_search_with_no_letters_or_digits_lists_no_referrals(client, login_as,
                                                              make_referral):
    """Text giving no name to look for ("?", "--", a name in another script)
    listed every referral as if each matched."""
    make_referral("coventry", last_name="Anyone")
    login_as("caseworker", ("coventry",))
    for words in ("\u0645\u062d\u0645\u062f", "?", "--", "' -"):
        response = client.get("/referrals", query_string={"q": words})
        page = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 200
        assert "Anyone" not in page and "Correct the filters to see referrals" in page
        assert "Enter a name or reference using letters (A to Z) or digits" in page
        assert f'value="{words}"' in page  # what was typed is kept
    for words in ("Anyone", "anyone ?", "R0000001", "Ø"):  # (Ø is a letter: "o")
        page = client.get("/referrals", query_string={"q": words}).get_data(as_text=True)
        assert "using letters" not in page
    assert "Anyone" in client.get("/referrals", query_string={"q": "any ?"}).get_data(
        as_text=True)


def test_the_error_summary_follows_the_page(client, login_as, post):
    """The summary listed Source before Site, which the page shows first
    (found by an accessibility review)."""
    from bs4 import BeautifulSoup

    login_as("caseworker", ("coventry", "dudley"))
    page = BeautifulSoup(post("/referrals/new", {}).get_data(as_text=True), "html.parser")
    summary = [a["href"].lstrip("#") for a in page.select(".govuk-error-summary__list a")]
    on_page = [tag.get("id") for tag in page.select("form input, form select, form textarea")]
    assert summary == sorted(summary, key=on_page.index)


@pytest.mark.parametrize(("boxes", "marked", "linked"), [
    (["1", "", "2008"], ["date_of_birth-month"], "date_of_birth-month"),
    (["", "", "2008"], ["date_of_birth-day", "date_of_birth-month"], "date_of_birth-day"),
    (["1", "2", "08"], ["date_of_birth-year"], "date_of_birth-year"),
    (["31", "2", "2008"], ["date_of_birth-day", "date_of_birth-month", "date_of_birth-year"],
     "date_of_birth-day"),
])
def test_only_the_date_boxes_in_error_are_marked(client, login_as, post, boxes, marked,
                                                 linked):
    """All three boxes were marked when only the month was missing, and
    "Year must include 4 numbers" led to the day (found by an accessibility
    review): GOV.UK marks, and the summary leads to, the boxes in error."""
    from bs4 import BeautifulSoup

    login_as("caseworker", ("coventry",))
    page = BeautifulSoup(post("/referrals/new", form_data(date_of_birth=boxes))
                         .get_data(as_text=True), "html.parser")
    assert [box["id"] for box in page.select("input[name=date_of_birth]")
            if "govuk-input--error" in box.get("class", [])] == marked
    links = [a["href"] for a in page.select(".govuk-error-summary__list a")]
    assert f"#{linked}" in links


def test_the_browser_is_asked_not_to_keep_what_identifies_a_child(client, login_as):
    """Browsers keep what is typed in a form for the next (and sync it);
    the search box, a child's date of birth and the referrer's name were
    kept (found by review)."""
    import re

    login_as("caseworker")
    page = client.get("/referrals/new").get_data(as_text=True)
    for name in ("first_name", "last_name", "other_names", "date_of_birth-day",
                 "date_of_birth-month", "date_of_birth-year", "postcode", "pnc_reference",
                 "referrer_name"):
        box = re.search(rf'<input[^>]*\sid="{name}"[^>]*>', page)
        assert box and 'autocomplete="off"' in box.group(0), name
    listed = client.get("/referrals").get_data(as_text=True)
    box = re.search(r'<input[^>]*\sid="q"[^>]*>', listed)
    assert box and 'autocomplete="off"' in box.group(0)


def test_another_sites_triage_is_not_linked_from_the_person_page(client, make_referral,
                                                                   triage_referral, login_as,
                                                                   post):
    """The person page linked to the triage of their referral at another
    site ("Triage this referral", "View triage" in the referrals and the
    case record), whose page answers 404 to the reader (and audits a
    refusal against them). A reader of the referral's site keeps them."""
    import re

    ours = make_referral("coventry")
    theirs = make_referral("wolverhampton", person=ours.person)
    waiting = make_referral("wolverhampton", person=ours.person)
    triage = triage_referral(theirs)
    login_as("caseworker", ("coventry",))
    page = client.get(f"/people/{ours.person_id}").get_data(as_text=True)
    links = set(re.findall(r'href="(/(?:referrals/\d+/triage|triage/\d+))"', page))
    assert links == {f"/referrals/{ours.id}/triage"}
    assert all(client.get(link).status_code == 200 for link in links)
    assert "Waiting for a lead's decision." in html.unescape(page)
    assert "Triage facts recorded" in page
    post("/sign-out")
    login_as("lead", ("coventry", "wolverhampton"), email="both@example.org")
    page = client.get(f"/people/{ours.person_id}").get_data(as_text=True)
    assert {f"/triage/{triage.id}", f"/referrals/{waiting.id}/triage"} <= set(
        re.findall(r'href="(/(?:referrals/\d+/triage|triage/\d+))"', page))


def test_a_referral_closed_while_its_triage_waited_says_so(client, make_referral,
                                                          triage_referral, login_as, post):
    """It said "Waiting for a lead's decision", for a decision never to come."""
    referral = make_referral("coventry")
    triage_referral(referral)
    login_as("caseworker", ("coventry",))
    assert post(f"/referrals/{referral.id}/close", {"reason": "withdrawn"}).status_code == 302
    page = client.get(f"/people/{referral.person_id}").get_data(as_text=True)
    assert "Closed before a decision." in page and "Waiting for a lead" not in page


def person_form(person, **overrides) -> dict:
    """The edit form of ``person`` as drawn, with ``overrides``."""
    dob = person.date_of_birth
    data = {"first_name": person.first_name, "last_name": person.last_name,
            "other_names": person.other_names or "",
            "date_of_birth": [str(dob.day), str(dob.month), str(dob.year)] if dob else
            ["", "", ""], "gender": person.gender, "ethnicity": person.ethnicity,
            "postcode": person.postcode or "", "local_authority": person.local_authority,
            "pnc_reference": person.pnc_reference or "",
            "version": services.person_version(person)}
    data.update(overrides)
    return data


def banners(page: str) -> list[str]:
    soup = BeautifulSoup(page, "html.parser")
    return [banner.select_one(".govuk-notification-banner__content").get_text(" ", strip=True)
            for banner in soup.select(".govuk-notification-banner")]


KEEP = ("The triage decisions already made for {} keep the facts they were decided on: the "
        "{} changed here {} not change them")


def test_an_edit_of_a_decided_persons_facts_says_the_decisions_keep_them(
        client, login_as, post, make_referral, triage_referral, make_user, now):
    """DESIGN.md "Triage": the decision locks the facts. A date of birth or
    local authority corrected after a decision changed the record silently,
    the decision left as if made on it (found by review)."""
    from casework.triage import services as triage

    referral = make_referral("coventry")
    person = referral.person
    login_as("caseworker", ("coventry",))
    path = f"/people/{person.id}/edit"
    # no decision yet (facts recorded, not decided): nothing to say
    triage_referral(referral)
    response = post(path, person_form(person, local_authority="dudley"), follow_redirects=True)
    assert banners(response.get_data(as_text=True)) == ["Changes saved"]

    triage.decide(triage.triage_for(referral), "ineligible", "Not group violence",
                  actor=make_user("lead", email="lead@example.org"), now=now,
                  key=b"test-trial-key")
    db.session.commit()
    db.session.refresh(person)
    response = post(path, person_form(person, local_authority="coventry",
                                      date_of_birth=["2", "2", "2008"]),
                    follow_redirects=True)
    assert banners(response.get_data(as_text=True)) == [
        "Changes saved", KEEP.format(person.full_name, "date of birth and local authority", "do")]
    # the audit event names both facts, before and after
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person:updated")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.detail == {
        "date_of_birth": {"before": "2008-01-01", "after": "2008-02-02"},
        "local_authority": {"before": "dudley", "after": "coventry"}}
    # another change (a name) says nothing of decisions
    db.session.refresh(person)
    response = post(path, person_form(person, other_names="Jay"), follow_redirects=True)
    assert banners(response.get_data(as_text=True)) == ["Changes saved"]


@pytest.mark.parametrize(("by_age_band", "dob", "advice"), [
    (False, ["1", "6", "2008"], None),  # 18 on the referral date all the same
    (False, ["1", "1", "2013"], "aged 13 by the date of birth now recorded, and aged 18 by "
                                "the one it replaces: C1 (aged 14 or over) would not be decided "
                                "as it was"),
    (False, ["", "", ""], "of unknown age by the date of birth now recorded, and aged 18 by "
                          "the one it replaces: C1 (aged 14 or over) would not be decided as "
                          "it was"),
    (True, ["1", "1", "2010"], "aged 16 by the date of birth now recorded, and aged 18 by the "
                               "one it replaces: age band 14-17, not the 18-24 band they were "
                               "randomised in"),
    (False, ["1", "1", "2010"], None),  # strata of sites alone: the band is no matter
])
def test_an_edit_that_changes_a_randomised_persons_age_advises_marking_it_in_error(
        client, login_as, post, make_trial, randomised, by_age_band, dob, advice):
    make_trial(stratify_by_age_band=by_age_band)
    person = randomised("treatment")  # born 1 January 2008, referred 1 November 2026
    referral = db.session.scalars(select(Referral).where(Referral.person_id == person.id)).one()
    login_as("caseworker", ("coventry",))
    response = post(f"/people/{person.id}/edit", person_form(person, date_of_birth=dob),
                    follow_redirects=True)
    shown = banners(response.get_data(as_text=True))
    expected = ["Changes saved", KEEP.format(person.full_name, "date of birth", "does")]
    if advice:
        expected.append(
            f"{person.full_name} was randomised in CIRV trial on referral {referral.reference}: "
            f"on its date, 1 November 2026, they were {advice}. An admin should consider "
            "marking the allocation \"randomised in error\"")
    assert [html.unescape(text) for text in shown] == expected


def _diversion_decided(client, login_as, post, person, scheme, decision, rationale="",
                       **facts):
    """``person`` assessed for ``scheme`` (a caseworker) and the assessment
    decided (a lead, who is left signed in): the diversion forms' facts,
    with ``facts``."""
    from casework.diversion.models import Assessment
    from tests.web.test_diversion import CHECKPOINT_FORM, OUTCOME22_FORM

    login_as("caseworker", ("coventry",))
    form = {**(CHECKPOINT_FORM if scheme == "checkpoint" else OUTCOME22_FORM), **facts}
    assert post(f"/people/{person.id}/assessments/new/{scheme}", form).status_code == 302
    assessment = db.session.scalars(select(Assessment)).one()
    post("/sign-out")
    login_as("lead", ("coventry",), email="lead@example.org")
    response = post(f"/assessments/{assessment.id}/decision",
                    {"decision": decision, "rationale": rationale})
    assert response.status_code == 302
    db.session.refresh(assessment)
    db.session.refresh(person)
    assert assessment.decided_at is not None
    return assessment


@pytest.mark.parametrize(("dob", "advice"), [
    (["1", "3", "2007"], "found K1 (age) met; by the date of birth now recorded it is not met: "
                         "Aged 19 on the offence date; Checkpoint is for ages 10 to 17."),
    (["", "", ""], "found K1 (age) met; by the date of birth now recorded it is not known: "
                   "Date of birth not known, so age on the offence date cannot be checked; "
                   "Checkpoint is for ages 10 to 17."),
    (["1", "3", "2011"], None),  # 15 on the offence date: K1 met all the same
])
def test_a_date_of_birth_corrected_after_a_checkpoint_decision_says_so(
        client, login_as, post, make_referral, dob, advice):
    """A Checkpoint assessment was decided on the date of birth then
    recorded (K1: aged 10 to 17 on the offence date, never overridden); a
    child decided eligible, their date of birth then corrected to one 19 on
    the offence date, was told only "Changes saved" (found by review)."""
    person = make_referral("coventry", dob=date(2010, 3, 1)).person
    _diversion_decided(client, login_as, post, person, "checkpoint", "eligible")
    response = post(f"/people/{person.id}/edit", person_form(person, date_of_birth=dob),
                    follow_redirects=True)
    expected = ["Changes saved", KEEP.replace("triage", "diversion").format(
        person.full_name, "date of birth", "does")]
    if advice:
        expected.append(f"{person.full_name}'s Checkpoint assessment for the offence of "
                        f"1 October 2026, decided eligible, {advice} The lead should review "
                        "the diversion: the assessment is not changed")
    assert [html.unescape(text) for text in banners(response.get_data(as_text=True))] \
        == expected
    # the assessment keeps the facts it was made on
    from casework.diversion.models import Assessment

    assessment = db.session.scalars(select(Assessment)).one()
    assert assessment.facts["date_of_birth"] == "2010-03-01"
    assert [c["outcome"] for c in assessment.criteria if c["id"] == "K1"] == ["pass"]


def test_an_outcome22_decision_keeps_its_date_of_birth_not_its_local_authority(
        client, login_as, post, make_referral, triage_referral, make_user, now):
    """A decided Outcome 22 assessment read the date of birth (O5: a parent
    or carer's agreement under 16): its correction names the diversion
    decision; a local authority, which no assessment reads, does not. With a
    triage decided too, both are named."""
    from casework.triage import services as triage

    referral = make_referral("coventry", dob=date(2010, 3, 1))
    person = referral.person
    _diversion_decided(client, login_as, post, person, "outcome22", "ineligible", "Not now")
    path = f"/people/{person.id}/edit"
    response = post(path, person_form(person, local_authority="dudley"), follow_redirects=True)
    assert banners(response.get_data(as_text=True)) == ["Changes saved"]
    db.session.refresh(person)
    response = post(path, person_form(person, date_of_birth=["1", "3", "2009"]),
                    follow_redirects=True)
    assert [html.unescape(text) for text in banners(response.get_data(as_text=True))] == [
        "Changes saved", KEEP.replace("triage", "diversion").format(
            person.full_name, "date of birth", "does")]

    triage_referral(referral)
    triage.decide(triage.triage_for(referral), "ineligible", "Not group violence",
                  actor=make_user("lead", email="lead2@example.org"), now=now,
                  key=b"test-trial-key")
    db.session.commit()
    db.session.refresh(person)
    response = post(path, person_form(person, local_authority="coventry",
                                      date_of_birth=["1", "3", "2010"]),
                    follow_redirects=True)
    assert [html.unescape(text) for text in banners(response.get_data(as_text=True))] == [
        "Changes saved", KEEP.replace("triage", "triage and diversion").format(
            person.full_name, "date of birth and local authority", "do")]


def _notices(response) -> list[str]:
    return [html.unescape(text) for text in banners(response.get_data(as_text=True))]


DIVERSION_KEEP = KEEP.replace("triage", "diversion")


@pytest.mark.parametrize(("agrees", "dob", "advice"), [
    ("no", ["1", "3", "2011"],
     "found O5 (agreement) met; by the date of birth now recorded it is not met: The person "
     "aged 15, so a parent or carer must agree, and they do not."),
    ("not_known", ["", "", ""],
     "found O5 (agreement) met; by the date of birth now recorded it is not known: Not yet "
     "known: the parent or carer's agreement (age not known, so a parent or carer's agreement "
     "may be needed)."),
    ("no", ["1", "3", "2009"], None),  # 17: no parent or carer's agreement needed all the same
    # a parent or carer who agreed: O5 met at any age (the notice said "review"
    # whenever the agreement became needed, found by review)
    ("yes", ["1", "3", "2011"], None),
])
def test_a_date_of_birth_corrected_after_an_outcome22_decision_says_if_o5_would_differ(
        client, login_as, post, make_referral, agrees, dob, advice):
    """An Outcome 22 assessment was decided on the date of birth then
    recorded (O5: a parent or carer must agree under 16); corrected to one
    under 16 on the offence date, only Checkpoint's K1 was looked at and the
    editor was told nothing of it (found by review)."""
    person = make_referral("coventry", dob=date(2010, 3, 1)).person
    _diversion_decided(client, login_as, post, person, "outcome22", "ineligible", "Not now",
                       parent_or_carer_agrees=agrees)
    response = post(f"/people/{person.id}/edit", person_form(person, date_of_birth=dob),
                    follow_redirects=True)
    expected = ["Changes saved", DIVERSION_KEEP.format(person.full_name, "date of birth",
                                                        "does")]
    if advice:
        expected.append(f"{person.full_name}'s Outcome 22 assessment for the offence of "
                        f"1 October 2026, decided ineligible, {advice} The lead should review "
                        "the diversion: the assessment is not changed")
    assert _notices(response) == expected


DEFERRED_FORM = {"variant": "deferred_prosecution", "accepts_responsibility": "yes"}


@pytest.mark.parametrize(("configured", "case", "dob", "says"), [
    (23, "offered", ["1", "3", "2008"], True),  # 17 on the offence date, now 18
    (23, None, ["1", "3", "2008"], True),  # decided eligible, not offered yet
    (23, "active", ["1", "6", "2009"], False),  # 17 all the same: nothing flips
    (23, "withdrawn", ["1", "3", "2008"], False),  # ended: it closes with no code
    (22, "offered", ["1", "3", "2008"], False),  # every diversion closes as 22
])
def test_a_date_of_birth_corrected_before_a_deferred_prosecution_ends_names_its_closing_code(
        app, client, login_as, post, make_referral, monkeypatch, configured, case, dob, says):
    """A diversion closes as the configured Outcome 23 for a child's
    deferred prosecution, by the date of birth its assessment was made on
    (diversion's closing_code): a date of birth corrected to an adult's
    before it ended left it to close as 23, the editor told nothing."""
    from casework.diversion import services as diversion
    from casework.diversion.models import DiversionCase
    from casework.eligibility import outcome22

    monkeypatch.setitem(app.config, "DIVERSION_CLOSING_CODE", configured)
    person = make_referral("coventry", dob=date(2009, 3, 1)).person
    assessment = _diversion_decided(client, login_as, post, person, outcome22.SCHEME,
                                    "eligible", "Not in the public interest", **DEFERRED_FORM)
    if case is not None:
        assert post(f"/assessments/{assessment.id}/case", {}).status_code == 302
        record = db.session.scalars(select(DiversionCase)).one()
        steps = {"offered": [], "active": ["active"], "withdrawn": ["withdrawn"]}[case]
        for target in steps:
            response = post(f"/diversion/{record.id}/step",
                            {"target": target, "on": day(local_today()), "reason": "Moved"})
            assert response.status_code == 302
        db.session.refresh(record)
        assert record.status == case
    response = post(f"/people/{person.id}/edit", person_form(person, date_of_birth=dob),
                    follow_redirects=True)
    expected = ["Changes saved", DIVERSION_KEEP.format(person.full_name, "date of birth",
                                                        "does")]
    if says:
        expected.append(
            f"A diversion on {person.full_name}'s Outcome 22 deferred prosecution assessment "
            "for the offence of 1 October 2026 closes as Outcome 23 when completed: the closing "
            "code follows the date of birth the assessment was decided on, by which they were "
            "aged 17 on the offence date. By the date of birth now recorded they were aged 18, "
            "and it would close as Outcome 22 (Outcome 23 is for a child's deferred "
            "prosecution, under 18 on the offence date)")
    assert _notices(response) == expected
    db.session.refresh(assessment)
    assert diversion.closing_code(assessment, diversion.Settings.from_config(app.config)) \
        == configured  # unchanged: the assessment's date of birth



def test_a_date_of_birth_corrected_after_a_diversion_closed_as_23_names_its_code(
        app, client, login_as, post, make_referral, monkeypatch):
    """A completed diversion's outcome code is recorded and never worked out
    again: closed as a child's Outcome 23, a date of birth corrected to an
    adult's said nothing (found by review). Corrected to another child's,
    nothing more is said."""
    from casework.diversion.models import DiversionCase
    from casework.eligibility import outcome22

    monkeypatch.setitem(app.config, "DIVERSION_CLOSING_CODE", 23)
    person = make_referral("coventry", dob=date(2009, 3, 1)).person
    assessment = _diversion_decided(client, login_as, post, person, outcome22.SCHEME,
                                    "eligible", "Not in the public interest", **DEFERRED_FORM)
    assert post(f"/assessments/{assessment.id}/case", {}).status_code == 302
    record = db.session.scalars(select(DiversionCase)).one()
    for target in ("active", "completed"):
        assert post(f"/diversion/{record.id}/step",
                    {"target": target, "on": day(local_today())}).status_code == 302
    db.session.refresh(record)
    assert (record.status, record.outcome_code) == ("completed", 23)
    keep = DIVERSION_KEEP.format(person.full_name, "date of birth", "does")
    response = post(f"/people/{person.id}/edit",
                    person_form(person, date_of_birth=["1", "6", "2009"]),
                    follow_redirects=True)
    assert _notices(response) == ["Changes saved", keep]  # 17 all the same
    db.session.refresh(person)
    response = post(f"/people/{person.id}/edit",
                    person_form(person, date_of_birth=["1", "3", "2008"]),
                    follow_redirects=True)
    assert _notices(response) == ["Changes saved", keep, (
        f"The diversion on {person.full_name}'s Outcome 22 deferred prosecution assessment for "
        "the offence of 1 October 2026 was completed and closed as Outcome 23, by the date of "
        "birth the assessment was decided on. By the date of birth now recorded they were aged "
        "18 on the offence date, and it would have closed as Outcome 22: a lead should review "
        "the outcome recorded")]


def test_an_assessment_assessed_again_is_named_once(client, login_as, post, make_referral):
    """Two assessments of one offence, the first superseded by the second
    (assessed again, not offered): a corrected date of birth named each,
    the same words twice (found by review)."""
    from casework.diversion.models import Assessment
    from tests.web.test_diversion import CHECKPOINT_FORM

    person = make_referral("coventry", dob=date(2010, 3, 1)).person
    login_as("caseworker", ("coventry",))
    for _ in range(2):
        assert post(f"/people/{person.id}/assessments/new/checkpoint",
                    CHECKPOINT_FORM).status_code == 302
    assert len(db.session.scalars(select(Assessment)).all()) == 2
    response = post(f"/people/{person.id}/edit",
                    person_form(person, date_of_birth=["1", "6", "2010"]),
                    follow_redirects=True)
    notices = _notices(response)
    assert len(notices) == 2 and notices[0] == "Changes saved"
    assert "not yet decided, was assessed on the earlier date of birth, 1 March 2010" \
        in notices[1]

def test_a_date_of_birth_corrected_after_a_checkpoint_decision_names_k1_and_closing_code(
        app, client, login_as, post, make_referral, monkeypatch):
    """A Checkpoint diversion is a deferred prosecution too: a child found
    to be 18 is told of K1 and of the outcome code it would close with."""
    monkeypatch.setitem(app.config, "DIVERSION_CLOSING_CODE", 23)
    person = make_referral("coventry", dob=date(2009, 3, 1)).person
    _diversion_decided(client, login_as, post, person, "checkpoint", "eligible")
    response = post(f"/people/{person.id}/edit",
                    person_form(person, date_of_birth=["1", "3", "2008"]),
                    follow_redirects=True)
    assert _notices(response) == [
        "Changes saved", DIVERSION_KEEP.format(person.full_name, "date of birth", "does"),
        f"{person.full_name}'s Checkpoint assessment for the offence of 1 October 2026, "
        "decided eligible, found K1 (age) met; by the date of birth now recorded it is not "
        "met: Aged 18 on the offence date; Checkpoint is for ages 10 to 17. The lead should "
        "review the diversion: the assessment is not changed",
        f"A diversion on {person.full_name}'s Checkpoint assessment for the offence of "
        "1 October 2026 closes as Outcome 23 when completed: the closing code follows the "
        "date of birth the assessment was decided on, by which they were aged 17 on the "
        "offence date. By the date of birth now recorded they were aged 18, and it would "
        "close as Outcome 22 (Outcome 23 is for a child's deferred prosecution, under 18 on "
        "the offence date)"]


@pytest.mark.parametrize(("scheme", "dob"), [
    ("checkpoint", ["1", "6", "2010"]),  # aged 16 on the offence date all the same
    ("outcome22", ["1", "3", "2011"]),
    ("outcome22", ["", "", ""]),
])
def test_a_date_of_birth_corrected_before_an_assessment_is_decided_says_assess_again(
        client, login_as, post, make_referral, scheme, dob):
    """An assessment not yet decided holds the date of birth it was made
    on (never changed), and a lead deciding it decides on that one: its
    correction said nothing, no decision having been made (found by
    review). No diversion decision was made: none is said to keep its
    facts."""
    from casework.diversion.models import Assessment
    from tests.web.test_diversion import CHECKPOINT_FORM, OUTCOME22_FORM

    person = make_referral("coventry", dob=date(2010, 3, 1)).person
    login_as("caseworker", ("coventry",))
    form = CHECKPOINT_FORM if scheme == "checkpoint" else OUTCOME22_FORM
    assert post(f"/people/{person.id}/assessments/new/{scheme}", form).status_code == 302
    response = post(f"/people/{person.id}/edit", person_form(person, date_of_birth=dob),
                    follow_redirects=True)
    named = {"checkpoint": "Checkpoint", "outcome22": "Outcome 22"}[scheme]

    def assess_again(earlier: str) -> str:
        return (f"{person.full_name}'s {named} assessment for the offence of 1 October 2026, "
                f"not yet decided, was assessed {earlier}: assess again from their record "
                f"({named} assessment), then decide the new assessment, not this one, which is "
                "not changed")

    assert _notices(response) == [
        "Changes saved", assess_again("on the earlier date of birth, 1 March 2010")]
    assessment = db.session.scalars(select(Assessment)).one()
    assert assessment.decided_at is None and assessment.facts["date_of_birth"] == "2010-03-01"
    # assessed again, then the date of birth put back: only the one made on
    # the date of birth it replaces is named, not one made on that now recorded
    db.session.refresh(person)
    again = (f"on the earlier date of birth, {long_date(person.date_of_birth)}"
             if person.date_of_birth else "with no date of birth recorded")
    assert post(f"/people/{person.id}/assessments/new/{scheme}", form).status_code == 302
    response = post(f"/people/{person.id}/edit",
                    person_form(person, date_of_birth=["1", "3", "2010"]),
                    follow_redirects=True)
    assert _notices(response) == ["Changes saved", assess_again(again)]


def test_an_allocation_already_marked_in_error_is_not_advised_again(
        client, login_as, post, randomised, make_user, now):
    from casework.trial import services as trial
    from casework.trial.models import Allocation

    person = randomised("treatment")
    allocation = db.session.scalars(select(Allocation)
                                    .where(Allocation.person_id == person.id)).one()
    trial.mark_in_error(allocation.trial, allocation.stratum, allocation.slot, "Aged 13",
                        actor=make_user("admin", (), email="admin@example.org"), now=now)
    db.session.commit()
    login_as("caseworker", ("coventry",))
    response = post(f"/people/{person.id}/edit",
                    person_form(person, date_of_birth=["1", "1", "2013"]),
                    follow_redirects=True)
    assert banners(response.get_data(as_text=True)) == [
        "Changes saved", KEEP.format(person.full_name, "date of birth", "does")]
