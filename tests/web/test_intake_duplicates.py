"""The duplicates page for a person held by another site than the
caseworker's: the least it takes to decide, and the choices it allows."""

from __future__ import annotations

import html

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from casework.audit.models import AuditEvent, AuditEventSite
from casework.extensions import db
from casework.intake.models import Person, Referral
from tests.web.test_intake import form_data


def text(page: str) -> str:
    return " ".join(BeautifulSoup(page, "html.parser").get_text().split())


def _site_id(key: str) -> int:
    from casework.accounts.services import sites_by_keys

    return sites_by_keys([key])[0].id


@pytest.fixture
def held_at_coventry(login_as, post):
    """A person Coventry holds (Jordan O'Neill, born 14 March 2008, PNC
    12/345678A, postcode CV1 5FB, other names JJ), then the client signed
    in at Wolverhampton."""
    login_as("caseworker", ("coventry",))
    assert post("/referrals/new", form_data(site=str(_site_id("coventry")), other_names="JJ",
                                            pnc_reference="12/345678A")).status_code == 302
    person = db.session.scalars(select(Person)).one()
    post("/sign-out")
    login_as("caseworker", ("wolverhampton",))
    return person


@pytest.fixture
def refer_at_wolverhampton(post):
    def send(**overrides):
        return post("/referrals/new", form_data(site=str(_site_id("wolverhampton")),
                                                postcode="", **overrides))

    return send


def test_a_person_of_another_site_with_the_pnc_reference_is_offered_by_site_and_why(
        held_at_coventry, refer_at_wolverhampton):
    before = db.session.scalar(select(func.max(AuditEvent.id)))
    response = refer_at_wolverhampton(first_name="Zed", last_name="Other",
                                      date_of_birth=["1", "1", "1999"],
                                      pnc_reference="12/0345678a")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Same person as someone held by Coventry" in text(page)
    assert "Same PNC reference" in page
    # chosen by a token standing for them, not their id (the page carried
    # another site's internal id of the person)
    [radio] = BeautifulSoup(page, "html.parser").find_all("input", {"name": "person_choice"})
    assert radio["value"].startswith("held-") and str(held_at_coventry.id) not in (
        radio["value"][len("held-"):], radio["id"], radio["aria-describedby"])
    assert f"person-{held_at_coventry.id}" not in page
    # nothing else of them: not their name, date of birth, postcode, other
    # names nor their PNC reference as held
    for theirs in ("Jordan", "O'Neill", "2008", "CV1 5FB", 'value="JJ"', "12/345678A"):
        assert theirs not in page, theirs
    # a PNC reference is one person's: no new person is offered
    assert 'value="new"' not in page and "no new person can be recorded" in page
    # the match shown is audited, without their details; no view of them
    [shown] = [(e.action, e.subject_id, e.site_id, e.detail) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.id > before,
                                 AuditEvent.action.startswith("person:")))]
    assert shown == ("person:match_viewed", str(held_at_coventry.id), held_at_coventry.site_id,
                     {"page": "intake.new_referral", "matched_on": ["pnc_reference"]})


def test_a_new_person_with_a_pnc_reference_held_elsewhere_is_refused_beside_it(
        held_at_coventry, refer_at_wolverhampton):
    response = refer_at_wolverhampton(pnc_reference="12/345678A", person_choice="new")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert 'href="#pnc_reference"' in page
    assert "A person held by Coventry has this PNC reference" in page
    assert 'value="Sam Navigator"' in page  # nothing typed is lost
    assert db.session.scalar(select(func.count()).select_from(Person)) == 1
    # telling that Coventry holds the reference is a match shown, audited
    assert _matches_shown() == [(str(held_at_coventry.id), held_at_coventry.site_id)]


def _matches_shown() -> list[tuple[str, int]]:
    return [(e.subject_id, e.site_id) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "person:match_viewed"))]


def test_an_edit_giving_someone_a_pnc_reference_held_elsewhere_is_refused_and_audited(
        held_at_coventry, refer_at_wolverhampton, post):
    """The edit form would otherwise tell which site holds any reference
    typed, unaudited."""
    assert refer_at_wolverhampton(first_name="Zed", last_name="Other",
                                  date_of_birth=["1", "1", "1999"]).status_code == 302
    ours = db.session.scalars(select(Person).where(Person.first_name == "Zed")).one()
    response = post(f"/people/{ours.id}/edit", {
        **{k: v for k, v in form_data(first_name="Zed", last_name="Other",
                                       date_of_birth=["1", "1", "1999"]).items()
           if k in {"first_name", "last_name", "date_of_birth", "gender", "ethnicity",
                    "local_authority"}},
        "pnc_reference": "12/345678A", "version": ""})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "A person held by Coventry has this PNC reference" in page
    assert db.session.get(Person, ours.id).pnc_reference is None
    assert _matches_shown() == [(str(held_at_coventry.id), held_at_coventry.site_id)]


def test_linking_to_them_adds_the_referral_to_their_record(client, held_at_coventry,
                                                           refer_at_wolverhampton):
    assert client.get(f"/people/{held_at_coventry.id}").status_code == 404
    page = refer_at_wolverhampton(pnc_reference="12/345678A").get_data(as_text=True)
    [radio] = BeautifulSoup(page, "html.parser").find_all("input", {"name": "person_choice"})
    response = refer_at_wolverhampton(pnc_reference="12/345678A", person_choice=radio["value"])
    assert response.status_code == 302
    assert response.headers["Location"] == f"/people/{held_at_coventry.id}"
    assert db.session.scalar(select(func.count()).select_from(Person)) == 1
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 2
    linked = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "person:linked")).one()
    assert linked.detail["reasons"] == ["Same PNC reference", "Same name and date of birth"]
    # an event of each site of their case: it was Wolverhampton's alone, and
    # Coventry's leads, whose person it is, never read who linked to them
    assert linked.site_id is None and linked.detail["sites"] == sorted(
        [_site_id("coventry"), _site_id("wolverhampton")])
    assert set(db.session.scalars(select(AuditEventSite.site_id).where(
        AuditEventSite.event_id == linked.id))) == {_site_id("coventry"),
                                                     _site_id("wolverhampton")}
    assert client.get(f"/people/{held_at_coventry.id}").status_code == 200


def test_a_same_name_and_date_of_birth_elsewhere_may_still_be_someone_new(
        held_at_coventry, refer_at_wolverhampton):
    page = html.unescape(refer_at_wolverhampton().get_data(as_text=True))
    assert "Same person as someone held by Coventry" in text(page)
    assert "Same name and date of birth" in page and 'value="new"' in page
    assert "CV1 5FB" not in page and "PNC" not in page.split("Possible matches")[1]
    assert refer_at_wolverhampton(person_choice="new").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Person)) == 2


def test_an_id_sent_by_hand_links_to_nobody_unseen(client, held_at_coventry,
                                                   refer_at_wolverhampton):
    """Only a strong match for what was typed can be linked to: any other
    person of another site, by their id, is refused as no candidate."""
    response = refer_at_wolverhampton(first_name="Callum", last_name="Other", pnc_reference="",
                                      person_choice=str(held_at_coventry.id))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Choose one of the people listed" in page
    assert "O&#39;Neill" not in page and "CV1 5FB" not in page
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 1
    assert client.get(f"/people/{held_at_coventry.id}").status_code == 404
    # nor a token made up
    response = refer_at_wolverhampton(pnc_reference="12/345678A",
                                      person_choice="held-" + "0" * 32)
    assert response.status_code == 422 and "Choose one of the people listed" in \
        response.get_data(as_text=True)


def test_change_the_details_goes_back_to_the_form_with_everything_typed(
        held_at_coventry, refer_at_wolverhampton, post):
    """The duplicates page said to go back to the form and correct the PNC
    reference, but had no way back: the browser's Back gave the form
    without the names, other names, postcode and PNC reference (they are
    not autocompleted). "Change the details" shows the form again, filled
    in, and records nothing (found by review)."""
    shown = refer_at_wolverhampton(first_name="Zed", last_name="Other", other_names="Zee",
                                   date_of_birth=["1", "1", "1999"],
                                   pnc_reference="12/345678A")
    page = shown.get_data(as_text=True)
    assert "Change the details" in page and 'name="change_details"' in page
    carried = [(tag["name"], tag["value"]) for tag in BeautifulSoup(page, "html.parser")
               .select("form input[type=hidden]") if tag["name"] != "csrf_token"]
    referrals = db.session.scalar(select(func.count()).select_from(Referral))
    data: dict = {}
    for name, value in carried:
        data.setdefault(name, []).append(value)
    back = post("/referrals/new", {**data, "change_details": "1"})
    form = BeautifulSoup(back.get_data(as_text=True), "html.parser")
    assert back.status_code == 200 and form.select_one("h1").get_text(strip=True) != \
        "Is this someone already known?"
    assert form.select_one("input[name=first_name]")["value"] == "Zed"
    assert form.select_one("input[name=last_name]")["value"] == "Other"
    assert form.select_one("input[name=other_names]")["value"] == "Zee"
    assert form.select_one("input[name=pnc_reference]")["value"] == "12/345678A"
    assert [box["value"] for box in form.select("input[name=date_of_birth]")] == \
        ["1", "1", "1999"]
    assert "There is a problem" not in back.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Referral)) == referrals
