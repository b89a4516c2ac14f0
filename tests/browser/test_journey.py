"""One journey through the whole service in a real browser, each step
checking what its user sees, and axe-core (WCAG 2.2 AA rules) on every page
the journey opens: no serious or critical violation anywhere.

Caseworker: a referral for someone already known (the duplicate is found
and linked), triage facts. Lead: decides eligible, sees the allocation.
Caseworker: a contact, a move to engaged, disruption proposed for another
treated person, a Checkpoint assessment. Lead: approves the disruption,
decides the assessment, opens the dashboard and reassigns a case.
Caseworker: offers the diversion. Evaluator: downloads an extract and the
CONSORT diagram."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from casework.accounts import services as accounts
from casework.accounts.services import find_user_by_email, sites_by_keys
from casework.database import local_today, utcnow
from casework.demo import seed_demo_users
from casework.demo.trial import seed_trial
from casework.extensions import db
from casework.intake import services as intake
from casework.pathways import services as pathways
from casework.triage import services as triage
from casework.trial import sequence
from casework.trial.models import Allocation
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
KEY = b"test-trial-key"  # the tests' TRIAL_KEY


class Accessibility:
    """axe-core on each page once; serious and critical violations kept."""

    def __init__(self, page):
        self.page, self.axe, self.seen, self.problems = page, Axe(), set(), []

    def check(self) -> None:
        self.page.wait_for_load_state()
        url = self.page.url.split("?")[0]
        if url in self.seen:
            return
        self.seen.add(url)
        results = self.axe.run(self.page, options={
            "runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]})
        for violation in results.response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [node["target"] for node in violation["nodes"]][:3]
                self.problems.append(f"{url}: {violation['id']} ({violation['impact']}): "
                                     f"{violation['help']} at {targets}")


def next_arm(trial, stratum: str) -> str:
    taken = db.session.query(Allocation).filter_by(trial_id=trial.id, stratum=stratum).count()
    return sequence.slot(KEY, trial.key, stratum, taken + 1, trial.design).arm


@pytest.fixture
def journey(app, make_referral, triage_referral, randomised):
    logins = {role.value: (email, pw) for email, role, pw in seed_demo_users(utcnow())}
    trial = seed_trial(now=utcnow())
    worker, lead = (find_user_by_email(logins[r][0]) for r in ("caseworker", "lead"))
    coventry = sites_by_keys(["coventry"])[0]
    accounts.create_user(email="robin@casework.example", display_name="Robin Newcomer",
                         role="caseworker", sites=[coventry], password=PASSWORD, actor=None,
                         now=utcnow())
    intake.record_referral(
        intake.PersonDetails("Robert", "Kowalski", date(2009, 6, 4), "male", "white_other",
                             "coventry"),
        intake.ReferralDetails(coventry.id, date(2026, 1, 10), "police", "PC One",
                               "Seen with a group involved in a stabbing"),
        existing_person_id=None, actor=worker, now=utcnow())
    # Another treated person, engaged, for the disruption step.
    other = randomised("treatment", on=datetime(2026, 9, 1, tzinfo=UTC))
    pathways.move(other, pathways.MoveRequest("engaged", date(2026, 9, 8)), actor=worker,
                  now=utcnow())
    other.caseworker_id = worker.id
    # Enough people randomised at Coventry for the evaluator's extract to
    # reach k = 5 (a smaller cohort's rows are all left out of it).
    for _ in range(5):
        triage.decide(triage_referral(make_referral("coventry")), "eligible", None, actor=lead,
                      now=utcnow(), key=KEY)
    # The allocation sequence is fixed by the key: use up slots until the next
    # Coventry allocation (Robert's) is to treatment, as the journey needs.
    while next_arm(trial, "coventry") != "treatment":
        filler = triage_referral(make_referral("coventry"))
        triage.decide(filler, "eligible", None, actor=lead, now=utcnow(), key=KEY)
    child = intake.record_referral(
        # a child whenever the tests run (her Checkpoint offence is dated today)
        intake.PersonDetails("Mia", "Clarke", date(local_today().year - 15, 3, 1), "female",
                             "white_british", "coventry"),
        intake.ReferralDetails(coventry.id, date(2026, 11, 12), "police", "PC Two",
                               "Found with a kitchen knife in a park"),
        existing_person_id=None, actor=worker, now=utcnow())
    other_name, child_id = other.full_name, child.person_id
    db.session.commit()  # and touch nothing after: the live server needs the write lock
    return logins, other_name, child_id


def sign_in(page, live_server, a11y, email, password):
    page.goto(f"{live_server}/sign-in")
    a11y.check()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/")
    a11y.check()


def fill_date(page, field: str, day: date) -> None:
    fieldset = page.locator(f"#{field}-day").locator("xpath=ancestor::fieldset")
    fieldset.get_by_label("Day").fill(str(day.day))
    fieldset.get_by_label("Month").fill(str(day.month))
    fieldset.get_by_label("Year").fill(str(day.year))


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()


def test_the_whole_service(live_server, page, journey):
    logins, other_name, child_id = journey
    a11y = Accessibility(page)
    today = local_today()

    # -- Caseworker: a referral for someone already known, then triage facts.
    sign_in(page, live_server, a11y, *logins["caseworker"])
    page.get_by_role("link", name="Referrals").first.click()
    a11y.check()
    page.get_by_role("button", name="New referral").click()
    a11y.check()
    page.get_by_label("First name").fill("Bob")
    page.get_by_label("Last name").fill("Kowalski")
    fill_date(page, "date_of_birth", date(2009, 6, 4))
    page.get_by_label("Male", exact=True).check()
    page.get_by_label("Ethnicity").select_option("white_other")
    page.get_by_label("Local authority where the person lives").select_option("coventry")
    fill_date(page, "referral_date", today)
    page.get_by_label("Source").select_option("police")
    page.get_by_label("Referrer's name").fill("PC Three")
    page.get_by_label("Reason for referral").fill("Arrested after a group fight in the city "
                                                  "centre.")
    page.get_by_label("Group violence").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Is this someone already known?")).to_be_visible()
    a11y.check()
    assert "Same date of birth" in page.locator(".casework-match-reasons").inner_text()
    page.get_by_label("Same person as Robert Kowalski", exact=False).check()
    page.get_by_role("button", name="Record referral").click()
    expect(page.get_by_role("heading", name="Robert Kowalski")).to_be_visible()
    expect(page.get_by_text("Seen with a group involved in a stabbing")).to_be_visible()
    a11y.check()
    person_url = page.url

    page.get_by_role("link", name="Triage this referral").first.click()
    a11y.check()
    page.get_by_label("Recent violence offence or arrest").check()
    page.get_by_label("Yes, the panel confirmed it").check()
    page.get_by_label("Eligible", exact=True).check()
    page.get_by_role("button", name="Save triage").click()
    expect(page.get_by_role("heading", name="The rules give: Eligible")).to_be_visible()
    expect(page.get_by_text("Waiting for a lead's decision")).to_be_visible()
    a11y.check()
    sign_out(page)

    # -- Lead: decides eligible and sees the allocation.
    sign_in(page, live_server, a11y, *logins["lead"])
    page.get_by_role("link", name="Triage queue").first.click()
    a11y.check()
    page.get_by_role("link", name="Robert Kowalski").click()
    page.get_by_label("Eligible: randomise now").check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Decision recorded")).to_be_visible()
    expect(page.get_by_role("heading", name="Allocation")).to_be_visible()
    assert "Treatment" in page.locator(".govuk-summary-list__row", has_text="Arm").inner_text()
    a11y.check()
    page.get_by_role("link", name="Allocations").first.click()
    expect(page.get_by_role("heading", name="Allocations").first).to_be_visible()
    a11y.check()
    sign_out(page)

    # -- Caseworker: a contact and a move to engaged; disruption for another;
    #    a Checkpoint assessment.
    sign_in(page, live_server, a11y, *logins["caseworker"])
    # today again: a move dated before the randomisation is refused, and
    # England's midnight may have passed since the referral
    today = local_today()
    page.goto(person_url)
    page.get_by_role("link", name="Record a contact").click()
    a11y.check()
    page.get_by_label("Note", exact=True).fill("Met Robert at the youth centre; agreed a plan.")
    fill_date(page, "contact_date", today)
    page.get_by_label("Face to face").check()
    page.get_by_label("Yes", exact=True).check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Contact saved")).to_be_visible()
    expect(page.get_by_text("Met Robert at the youth centre; agreed a plan.")).to_be_visible()
    page.get_by_role("link", name="Record a pathway move").click()
    a11y.check()
    page.get_by_label("Engaged", exact=True).check()
    fill_date(page, "effective_date", today)
    page.get_by_role("button", name="Record the move").click()
    expect(page.get_by_text("Now: Engaged")).to_be_visible()

    page.get_by_role("link", name="My caseload").first.click()
    a11y.check()
    page.get_by_role("link", name=", ".join(reversed(other_name.split(" ", 1)))).click()
    a11y.check()
    page.get_by_role("link", name="Record a pathway move").click()
    page.get_by_label("Disruption").check()
    fill_date(page, "effective_date", today)
    page.get_by_label("Rationale").fill("Two arrests for robbery; refuses every contact")
    page.get_by_role("button", name="Record the move").click()
    expect(page.get_by_text("Proposal sent to a lead for approval")).to_be_visible()

    page.goto(f"{live_server}/people/{child_id}")
    page.get_by_role("link", name="Checkpoint assessment").click()
    a11y.check()
    fill_date(page, "offence_date", today)
    page.locator("#offence").select_option("bladed_article_s139")
    page.get_by_role("group", name="Does the child admit the offence?").get_by_label(
        "Yes").check()
    page.get_by_role("group", name="Is there sufficient evidence to charge?").get_by_label(
        "Yes").check()
    page.get_by_role("button", name="Assess").click()
    expect(page.get_by_text("Checkpoint assessment recorded")).to_be_visible()
    expect(page.locator(".govuk-summary-list__row", has_text="The rules give")).to_contain_text(
        "Eligible")
    a11y.check()
    assessment_url = page.url
    sign_out(page)

    # -- Lead: approves the disruption, decides the assessment, reassigns a case.
    sign_in(page, live_server, a11y, *logins["lead"])
    page.get_by_role("link", name="Approvals").first.click()
    a11y.check()
    page.get_by_role("link", name=other_name).click()
    a11y.check()
    page.get_by_label("Approve").check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Proposal approved")).to_be_visible()

    page.goto(assessment_url)
    page.get_by_label("Eligible", exact=True).check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Decision recorded")).to_be_visible()
    a11y.check()

    page.get_by_role("link", name="Dashboard").first.click()
    expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()
    a11y.check()
    page.get_by_role("link", name="Caseloads by caseworker").click()
    a11y.check()
    page.get_by_role("link", name="Casey Worker").click()
    a11y.check()
    page.get_by_label("Select Robert Kowalski").check()
    page.get_by_label("Reassign the selected cases to").select_option(
        label="Robin Newcomer (caseworker)")
    page.get_by_label("Reason").fill("Robin knows the family")
    page.get_by_role("button", name="Reassign").click()
    expect(page.get_by_text("1 case reassigned")).to_be_visible()
    assert page.get_by_role("link", name="Kowalski, Robert").count() == 0
    sign_out(page)

    # -- Caseworker: offers the diversion.
    sign_in(page, live_server, a11y, *logins["caseworker"])
    page.goto(assessment_url)
    page.get_by_role("button", name="Offer diversion").click()
    expect(page.get_by_text("Diversion offered")).to_be_visible()
    expect(page.locator(".govuk-summary-list__row", has_text="Status")).to_contain_text("Offered")
    a11y.check()
    page.get_by_role("link", name="Diversion").first.click()
    expect(page.get_by_role("link", name="Clarke").first).to_be_visible()
    a11y.check()
    sign_out(page)

    # -- Evaluator: an extract and the CONSORT diagram.
    sign_in(page, live_server, a11y, *logins["evaluator"])
    page.get_by_role("link", name="Extracts").first.click()
    a11y.check()
    page.get_by_label("Randomised person").check()
    page.get_by_role("radio", name="CSV").check()
    page.get_by_label("Project key", exact=False).check()
    page.get_by_role("group", name="Detail").get_by_role("radio").first.check()
    page.get_by_role("button", name="Check k-anonymity").click()
    expect(page.get_by_role("heading", name="k-anonymity")).to_be_visible()
    a11y.check()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows, "the extract has no rows"
    assert not any("Kowalski" in value for row in rows for value in row.values())

    page.get_by_role("link", name="Aggregates").first.click()
    expect(page.get_by_role("img", name="CONSORT flow diagram", exact=False)).to_be_visible()
    a11y.check()
    with page.expect_download() as diagram:
        page.get_by_role("link", name="Download the diagram (SVG)").click()
    assert Path(diagram.value.path()).read_text().lstrip().startswith(("<svg", "<?xml"))

    assert a11y.problems == [], "\n".join(a11y.problems)
    assert len(a11y.seen) >= 20, sorted(a11y.seen)


def test_the_accessibility_check_finds_violations(live_server, page):
    """The check above is live: a page spoiled on purpose fails it."""
    page.goto(f"{live_server}/sign-in")
    page.evaluate("""() => {
        const input = document.createElement("input");
        input.type = "text";
        document.querySelector("main").append(input);
        document.querySelector("label").remove();
    }""")
    a11y = Accessibility(page)
    a11y.check()
    assert any("label" in problem for problem in a11y.problems), a11y.problems
