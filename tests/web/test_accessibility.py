"""Pages as assistive technology meets them (from an axe-core and keyboard
review): error summaries that lead to an input that takes focus, on every
form of a page; a form that the page no longer offers answered with why,
not with its fields' checks; links named by more than a number; titles that
say whose record it is. The route matrix checks every page for repeated ids
and for summaries linking to nothing (``check_page``)."""

from __future__ import annotations

import html
import re
from datetime import date

from sqlalchemy import func, select

from casework.audit.models import AuditEvent
from casework.database import local_today
from casework.diversion.models import Assessment, DiversionCase
from casework.extensions import db
from tests.conftest import day, sign_in


def text_of(response) -> str:
    return response.get_data(as_text=True)



def summary_links(page: str) -> list[tuple[str, str]]:
    """The error summary's (href, text) pairs."""
    summary = page.split('class="govuk-error-summary"', 1)[1].split("</ul>", 1)[0]
    return [(href, html.unescape(text).strip()) for href, text in
            re.findall(r'<a href="([^"]+)">([^<]*)</a>', summary)]


def summary_texts(page: str) -> list[str]:
    summary = page.split('class="govuk-error-summary"', 1)[1].split("</ul>", 1)[0]
    return [html.unescape(t).strip() for t in re.findall(r"<li>\s*(?:<a[^>]*>)?([^<]*)", summary)]


REFERRAL = {
    "first_name": "Ada", "last_name": "Lovelace", "date_of_birth": ["1", "2", "2009"],
    "gender": "female", "ethnicity": "white_british", "local_authority": "coventry",
    "referral_date": ["1", "11", "2026"], "source": "police",
    "referrer_name": "PC Ada", "reason": "Concern",
}


def test_a_date_error_leads_to_the_first_box_left_empty(client, login_as, post):
    from casework.accounts.services import sites_by_keys

    coventry_id = sites_by_keys(["coventry"])[0].id
    login_as("caseworker", ("coventry",))
    for name, typed, box in (("date_of_birth", ["1", "", "2008"], "month"),
                             ("date_of_birth", ["", "", "2008"], "day"),
                             ("date_of_birth", ["1", "2", ""], "year"),
                             ("date_of_birth", ["31", "2", "2008"], "day"),
                             ("referral_date", ["", "", ""], "day")):
        response = post("/referrals/new", {**REFERRAL, "site": str(coventry_id), name: typed})
        assert response.status_code == 422, typed
        page = text_of(response)
        assert [href for href, _ in summary_links(page)] == [f"#{name}-{box}"], typed
        assert f'id="{name}-{box}"' in page and "<title>Error: " in page


def test_a_nested_date_error_is_linked_and_never_an_empty_message(client, login_as, post,
                                                                  make_referral):
    person = make_referral("coventry", dob=date(2010, 3, 1)).person
    login_as("caseworker", ("coventry",))
    response = post(f"/people/{person.id}/assessments/new/checkpoint", {
        "offence_date": day(date(2026, 10, 1)), "offence": "bladed_article_s139",
        "admits_offence": "yes", "sufficient_evidence": "yes",
        "previous_outcomes-0-offence": "theft", "previous_outcomes-0-outcome_code": "8",
        "previous_outcomes-0-on": ["1", "13", "2025"]})
    assert response.status_code == 422
    page = text_of(response)
    assert summary_links(page) == [("#previous_outcomes-0-on-day", "Date must be a real date")]
    assert 'id="previous_outcomes-0-on-day"' in page
    assert not re.search(r'<p class="govuk-error-message">\s*</p>', page)
    assert f"<title>Error: Checkpoint assessment for {person.full_name}" in page


def _failed_case(client, post, person, make_user) -> DiversionCase:
    """A Checkpoint assessment decided eligible by a lead, offered, started
    and failed; the lead stays signed in."""
    make_user("lead", ("coventry",), email="a11y-lead@example.org")
    sign_in(client, "a11y-lead@example.org")
    response = post(f"/people/{person.id}/assessments/new/checkpoint", {
        "offence_date": day(date(2026, 10, 1)), "offence": "bladed_article_s139",
        "admits_offence": "yes", "sufficient_evidence": "yes",
        "previous_outcomes-0-offence": "", "previous_outcomes-0-outcome_code": ""})
    assert response.status_code == 302
    assessment = db.session.scalars(select(Assessment)).one()
    assert post(f"/assessments/{assessment.id}/decision",
                {"decision": "eligible"}).status_code == 302
    assert post(f"/assessments/{assessment.id}/case", {}).status_code == 302
    case = db.session.scalars(select(DiversionCase)).one()
    for target in ("active", "failed"):
        assert post(f"/diversion/{case.id}/step", {"target": target, "on": day(local_today()),
                                                   "reason": "Reoffended"}).status_code == 302
    return case


def test_a_form_the_page_no_longer_offers_is_answered_with_why(client, post, make_referral,
                                                               make_user):
    person = make_referral("coventry", dob=date(2010, 3, 1)).person
    case = _failed_case(client, post, person, make_user)
    assessment_id = case.assessment_id

    # decided, ended: sent again from a page left open, empty or not
    for path, data, why in (
            (f"/assessments/{assessment_id}/decision", {}, "This assessment has already been "
                                                           "decided"),
            (f"/diversion/{case.id}/step", {"target": "withdrawn"},
             "This diversion has ended (failed)")):
        response = post(path, data)
        assert response.status_code == 422, path
        page = text_of(response)
        assert summary_texts(page) == [why], path
        assert "<title>Error: Checkpoint assessment for " in page

    # the later outcome is recorded once: a second, from another tab, would replace it
    assert post(f"/diversion/{case.id}/later-outcome", {"code": "1"}).status_code == 302
    response = post(f"/diversion/{case.id}/later-outcome", {"code": "2"})
    assert response.status_code == 422
    assert summary_texts(text_of(response)) == ["The later outcome has already been recorded"]
    db.session.expire_all()
    assert db.session.get(DiversionCase, case.id).later_outcome_code == 1
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "diversion:outcome_recorded")) == 1


def test_a_later_outcome_is_refused_by_the_service_once_recorded(app):
    from casework.diversion import services

    case = DiversionCase(status="failed", later_outcome_code=1)
    assert services.later_outcome_refusal(case) == "The later outcome has already been recorded"
    case.later_outcome_code = None
    assert services.later_outcome_refusal(case) is None
    case.status = "active"
    assert services.later_outcome_refusal(case) == ("A later outcome is recorded only for a "
                                                    "failed case")


def test_a_second_proposal_sent_while_one_waits_says_so(client, login_as, post,
                                                        randomised):
    """While a proposal waits, a move is recorded (it ends the proposal),
    so a form sent empty is checked as any other; a second proposal is
    refused, saying why, where the choices' check said only that it is not
    one of the options (a second is not offered)."""
    person = randomised("treatment")
    login_as("caseworker", ("coventry",))
    for target, on in (("engaged", date(2026, 6, 3)), ("disruption", date(2026, 7, 1))):
        response = post(f"/people/{person.id}/pathway", {
            "target": target, "effective_date": day(on), "rationale": "Seen with the group"})
    assert response.status_code == 302, text_of(response)
    response = post(f"/people/{person.id}/pathway", {})
    assert response.status_code == 422
    assert summary_texts(text_of(response))[0] == "Select where the person is moving to"
    response = post(f"/people/{person.id}/pathway", {
        "target": "disruption", "effective_date": day(date(2026, 7, 2)), "rationale": "Again"})
    assert response.status_code == 422
    page = text_of(response)
    assert summary_texts(page) == [
        f"A proposal to move {person.full_name} to disruption is waiting for a lead"]
    assert "one of the options" not in page


def test_an_allocation_list_sent_once_people_are_randomised_says_why(client, login_as, post,
                                                                     randomised):
    from casework.trial.models import Trial

    randomised("treatment")
    trial = db.session.scalars(select(Trial)).one()
    login_as("admin")
    response = post(f"/admin/trials/{trial.id}/allocation-list", {})
    assert response.status_code == 422
    assert summary_texts(text_of(response)) == [
        "This trial randomises by permuted blocks from the trial key, fixed now that people "
        "have been randomised, so it takes no allocation list"]


def test_every_form_of_a_page_has_its_errors_summarised(client, login_as, post, make_trial):
    trial = make_trial()
    login_as("admin")
    response = post(f"/admin/trials/{trial.id}/in-error", {"slot": "x"})
    assert response.status_code == 422
    page = text_of(response)
    assert page.count("<title>Error: ") == 1
    links = dict(summary_links(page))
    assert set(links) == {"#in-error-stratum", "#in-error-slot", "#in-error-reason"}
    for href in links:
        assert f'id="{href[1:]}"' in page
    # the trial's own form, beside it, keeps its ids, and shows the trial as
    # saved (it read the other form's POST, and was drawn blank)
    assert 'id="name"' in page and 'id="list-allocation_list"' in page
    assert f'name="name" type="text" value="{trial.name}"' in page


def test_a_flashed_problem_puts_error_in_the_title(client, post, make_referral, make_user):
    person = make_referral("coventry", dob=date(2010, 3, 1)).person
    case = _failed_case(client, post, person, make_user)
    response = post(f"/assessments/{case.assessment_id}/case", {})  # offered already
    assert response.status_code == 302
    page = text_of(client.get(response.headers["Location"]))
    assert "<title>Error: " in page
    assert "A diversion case already exists for this assessment" in page


def test_figures_are_links_named_by_what_they_count(client, login_as, post, make_referral):
    make_referral("coventry")
    login_as("lead", ("coventry",))
    page = text_of(client.get("/dashboard"))
    figures = re.findall(r'<a class="govuk-link govuk-!-font-size-48[^>]*>(.*?)</a>', page)
    assert len(figures) == 8
    for name in figures:
        text = re.sub(r"<[^>]+>", "", name)
        assert re.fullmatch(r"\d+ \D.{10,}", text), text
    page = text_of(client.get("/caseload/mine"))
    assert re.search(r'>\d+<span class="govuk-visually-hidden"> contacts overdue</span></a>',
                     page)


def test_the_reassignment_says_which_cases_beside_their_boxes(client, login_as, post,
                                                              make_referral, make_user):
    make_referral("coventry")
    to = make_user("caseworker", ("coventry",))
    login_as("lead", ("coventry",))
    response = post("/caseload/reassign", {"to_user": str(to.id), "reason": "Leave"})
    assert response.status_code == 422
    page = text_of(response)
    assert summary_links(page) == [("#people", "Select at least one case")]
    assert re.search(r'<input class="govuk-checkboxes__input" id="people" name="people"', page)
    assert 'class="govuk-error-message"><span class="govuk-visually-hidden">Error:</span> ' \
           "Select at least one case" in page


def test_the_consort_flow_is_also_text(client, login_as, randomised):
    randomised("treatment")
    login_as("evaluator")
    page = text_of(client.get("/extracts/aggregates"))
    text = page.split('data-testid="consort-text">', 1)[1].split("</div>", 1)[0]
    # one person randomised: a count the page hides (its downloads give it)
    assert re.search(r">Randomised: \*</p>", text)
    assert re.search(r">Allocated to treatment: \*</p>", text)
    assert "<li>Referred: " in text
    assert '<th scope="col" class="govuk-table__header"></th>' not in page
    assert '<th scope="col" class="govuk-table__header">Arm</th>' in page


def test_the_pages_carry_the_partnerships_name_not_govuks(client, login_as):
    """The pages drew GOV.UK's header (its crown and logotype), the Crown
    copyright and the Open Government Licence, and its GDS Transport font,
    which are for services on GOV.UK; and no page had an accessibility
    statement, which the 2018 regulations ask for (found by an
    accessibility review)."""
    login_as("caseworker", ("coventry",))
    page = text_of(client.get("/"))
    for gov_uk in ("govuk-header__logo", "Crown copyright", "Open Government Licence",
                   "govuk-footer__copyright-logo", "favicon", "govuk-icon"):
        assert gov_uk not in page
    assert "West Midlands Violence Reduction Partnership" in page
    assert '<footer class="govuk-template__footer">' in page
    assert 'href="/accessibility">Accessibility statement</a>' in page
    css = client.get("/assets/govuk-frontend.min.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert b"@font-face" not in css.data and b".govuk-body" in css.data
    assert client.get("/assets/fonts/bold-b542beb274-v2.woff2").status_code == 404
    again = client.get("/assets/govuk-frontend.min.css",
                       headers={"If-None-Match": css.headers["ETag"]})
    assert again.status_code == 304
    client.post("/sign-out", data={"csrf_token": ""})


def test_the_accessibility_statement_is_read_without_signing_in(client):
    page = text_of(client.get("/accessibility"))
    assert "Accessibility statement for casework" in page
    assert "partially compliant" in page and "Enforcement procedure" in page
