"""The dashboard, caseloads, the case list, reassignment and reviews through
the pages, and scope."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from casework.audit.models import AuditEvent, AuditEventSite
from casework.caseload.models import CaseReview
from casework.database import local_today
from casework.extensions import db
from casework.intake.models import Person
from tests.conftest import day, living_at_coventry_treated_at_wolverhampton, sign_in


def text_of(response) -> str:
    return response.get_data(as_text=True)



def test_the_dashboard_links_every_figure(client, login_as, make_referral):
    make_referral("coventry")
    login_as("lead", ("coventry", "wolverhampton"))
    response = client.get("/dashboard")
    page = text_of(response)
    for label in ("waiting for a triage decision", "disruption proposals waiting",
                  "contact overdue", "protocol deviations", "diversions past their due date",
                  "case reviews overdue", "People by arm and pathway now",
                  "Referrals per week, last 26 weeks"):
        assert label in page
    assert '<svg role="img" aria-label="Bar chart of referrals per week' in page
    assert "<script" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]
    # the chart's style carries this response's nonce, so the CSP lets it apply
    nonce = page.split('<style nonce="', 1)[1].split('"', 1)[0]
    assert nonce and f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]
    assert "Referrals per week as a table" in page
    assert 'href="/caseload/cases?signal=overdue"' in page


def test_the_dashboard_is_for_leads_and_their_sites(client, login_as, make_referral):
    login_as("caseworker", ("coventry",))
    assert client.get("/dashboard").status_code == 403
    assert client.get("/caseload").status_code == 403


def test_a_lead_only_sees_their_sites(client, login_as, make_referral):
    wolves = make_referral("wolverhampton", last_name="Faraway").person
    login_as("lead", ("coventry",))
    page = text_of(client.get(f"/dashboard?site={wolves.site_id}"))
    assert "All your sites" in page  # a site outside theirs falls back to their own
    cases = text_of(client.get("/caseload/cases?closed=1"))
    assert "Faraway" not in cases



def test_caseloads_page_through_the_caseworkers(client, login_as, make_user, monkeypatch):
    from casework.caseload import services as caseload

    for name in ("Ada", "Bea", "Cy"):
        make_user("caseworker", ("coventry",), email=f"{name.lower()}@example.org",
                  display_name=f"{name} Paged")
    login_as("lead", ("coventry",))
    monkeypatch.setattr(caseload, "CASEWORKERS_PER_PAGE", 2)
    first = client.get("/caseload")
    total = int(re.search(r"([\d,]+) caseworkers", text_of(first)).group(1))
    assert total >= 4  # the three and the lead
    pages = -(-total // 2)
    seen = []
    for n in range(1, pages + 1):
        html = client.get(f"/caseload?page={n}").get_data(as_text=True)
        assert f"page {n} of {pages}" in text_of(client.get(f"/caseload?page={n}"))
        seen += re.findall(r'<th scope="row" class="govuk-table__header"><a[^>]*>([^<]+)</a>', html)
        assert ('rel="next"' in html) == (n < pages) and ('rel="prev"' in html) == (n > 1)
    assert len(seen) == total and {"Ada Paged", "Bea Paged", "Cy Paged"} <= set(seen)
    assert client.get("/caseload?page=abc").status_code == 200
    assert f"page {pages} of {pages}" in text_of(client.get("/caseload?page=999"))
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "caseload:viewed").order_by(AuditEvent.id.desc())).first()
    assert event.detail["page"] == pages and event.detail["shown"] == total - 2 * (pages - 1)


def test_caseloads_and_reassignment(client, login_as, post, make_referral, make_user):
    amy = make_user("caseworker", ("coventry",), email="amy@example.org", display_name="Amy")
    people = [make_referral("coventry", last_name=f"Case{n}").person for n in range(3)]
    login_as("lead", ("coventry",))
    table = text_of(client.get("/caseload"))
    assert "Amy" in table and "factory-worker" in table
    # days since the last contact, as it says: "Oldest overdue (days)" read
    # as days past the threshold, which the overdue list shows (found by review)
    assert "Longest without contact (days)" in table and "Oldest overdue" not in table

    response = post("/caseload/reassign", {"people": [str(people[0].id)], "to_user": "",
                                           "reason": ""})
    assert response.status_code == 422
    page = text_of(response)
    assert "Say why the cases are being reassigned" in page
    assert "Select the caseworker taking the cases" in page
    response = post("/caseload/reassign", {
        "people": [str(p.id) for p in people[:2]], "to_user": str(amy.id),
        "reason": "Rebalancing caseloads", "back": "/caseload/cases?caseworker=" + str(amy.id)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/caseload/cases?caseworker={amy.id}")
    db.session.expire_all()
    assert [db.session.get(Person, p.id).caseworker_id for p in people] == [
        amy.id, amy.id, people[2].caseworker_id]
    mine = text_of(client.get(f"/caseload/cases?caseworker={amy.id}"))
    assert "Case0" in mine and "Case1" in mine and "Case2" not in mine
    assert len(db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case:reassigned")).all()) >= 2
    evil = post("/caseload/reassign", {"people": [str(people[2].id)], "to_user": str(amy.id),
                                       "reason": "x", "back": "https://evil.example/"})
    assert evil.headers["Location"].endswith("/caseload/cases")



def test_cases_are_reassigned_from_one_sites_list_to_its_caseworkers(
        client, login_as, post, make_referral, make_user):
    make_user("caseworker", ("coventry",), email="cora@example.org", display_name="Cora Cov")
    wendy = make_user("caseworker", ("wolverhampton",), email="wendy@example.org",
                      display_name="Wendy Wolves")
    coventry = make_referral("coventry", last_name="Covcase").person
    wolves = make_referral("wolverhampton", last_name="Wolvcase").person
    login_as("lead", ("coventry", "wolverhampton"))

    def options(path):
        html = client.get(path).get_data(as_text=True)
        select_ = html[html.index('name="to_user"'):]
        return re.findall(r"<option [^>]*>([^<]+)</option>", select_[:select_.index("</select>")])

    both = client.get("/caseload/cases").get_data(as_text=True)  # cases at both sites
    assert 'name="to_user"' not in both and 'name="people"' not in both
    assert "To reassign cases, show one site&#39;s cases" in both or \
        "To reassign cases, show one site's cases" in both
    only_coventry = options(f"/caseload/cases?site={coventry.site_id}")
    assert "Cora Cov (caseworker)" in only_coventry
    assert "Wendy Wolves (caseworker)" not in only_coventry
    assert "Wendy Wolves (caseworker)" in options(f"/caseload/cases?site={wolves.site_id}")
    # a Coventry case cannot go to a Wolverhampton caseworker: not a choice
    refused = post("/caseload/reassign", {"people": [str(coventry.id)], "to_user": str(wendy.id),
                                          "reason": "Closer to home"})
    assert refused.status_code == 422
    db.session.expire_all()
    assert db.session.get(Person, coventry.id).caseworker_id != wendy.id
    assert post("/caseload/reassign", {"people": [str(wolves.id)], "to_user": str(wendy.id),
                                       "reason": "Closer to home"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, wolves.id).caseworker_id == wendy.id



def test_a_reassignment_that_fails_shows_the_list_it_was_sent_from(
        client, login_as, post, make_referral, make_user):
    wendy = make_user("caseworker", ("wolverhampton",), email="wendy@example.org",
                      display_name="Wendy Wolves")
    make_referral("coventry", last_name="Covcase")
    wolves = make_referral("wolverhampton", last_name="Wolvcase").person
    login_as("lead", ("coventry", "wolverhampton"))
    back = f"/caseload/cases?site={wolves.site_id}"
    failed = post("/caseload/reassign", {"people": [str(wolves.id)], "to_user": str(wendy.id),
                                         "reason": "", "back": back})
    assert failed.status_code == 422
    html = failed.get_data(as_text=True)
    assert "Wolvcase" in html and "Covcase" not in html  # the Wolverhampton list again
    assert f'value="{wolves.id}" checked' in html  # the selection kept
    assert f'name="back" value="{back.replace("?", "?")}"' in html.replace("&amp;", "&")
    assert "Wendy Wolves (caseworker)" in html  # its site's caseworkers to choose from
    done = post("/caseload/reassign", {"people": [str(wolves.id)], "to_user": str(wendy.id),
                                       "reason": "Closer to home", "back": back})
    assert done.status_code == 302 and done.headers["Location"].endswith(back)


def test_a_back_with_a_control_character_goes_to_the_case_list(
        client, login_as, post, make_referral, make_user):
    """The ``back`` field went into the redirect as sent: with a CR or LF
    in it the reassignment was made, then answered 500 (found by review)."""
    amy = make_user("caseworker", ("coventry",), email="amy@example.org", display_name="Amy")
    login_as("lead", ("coventry",))
    for back in ("/caseload/cases?x=1\r\nSet-Cookie: a=b", "/caseload/cases\n",
                 "/caseload/cases?site=1\t", "/caseload/cases\x7f"):
        person = make_referral("coventry").person
        failed = post("/caseload/reassign", {"people": [str(person.id)], "to_user": str(amy.id),
                                             "reason": "", "back": back})
        assert failed.status_code == 422, back
        assert "Set-Cookie" not in failed.get_data(as_text=True)  # not sent back either
        done = post("/caseload/reassign", {"people": [str(person.id)], "to_user": str(amy.id),
                                           "reason": "Rebalancing", "back": back})
        assert done.status_code == 302, back
        assert done.headers["Location"].endswith("/caseload/cases"), back


def test_caseworkers_cannot_reassign(client, login_as, post, make_referral, make_user):
    person = make_referral("coventry").person
    other = make_user("caseworker", ("coventry",))
    login_as("caseworker", ("coventry",))
    assert post("/caseload/reassign", {"people": [str(person.id)], "to_user": str(other.id),
                                       "reason": "mine"}).status_code == 403
    page = text_of(client.get("/caseload/mine"))
    assert "My caseload" in page and "Reassign the selected cases" not in page


def test_a_lead_records_a_review(client, login_as, post, make_referral):
    person = make_referral("coventry").person
    login_as("lead", ("coventry",))
    today = local_today()
    response = post(f"/people/{person.id}/reviews/new", {
        "reviewed_on": day(today), "outcome": "continue", "next_review_on": day(today)})
    assert response.status_code == 422
    assert "The next review must be after this one" in text_of(response)
    response = post(f"/people/{person.id}/reviews/new", {
        "reviewed_on": day(today), "outcome": "continue",
        "next_review_on": day(today + timedelta(days=10)), "note": "Going well"})
    assert response.status_code == 302
    assert db.session.scalars(select(CaseReview)).one().note == "Going well"
    page = text_of(client.get(f"/people/{person.id}"))
    assert "Last reviewed" in page
    due = text_of(client.get("/caseload/cases?signal=review_due"))
    assert person.last_name in due


def test_a_review_sent_twice_is_recorded_once(client, login_as, post, make_referral):
    """A double click recorded two reviews, and two case:reviewed events
    (found by review): the form carries a key, as the other forms that
    make a record do."""
    person = make_referral("coventry").person
    login_as("lead", ("coventry",))
    path = f"/people/{person.id}/reviews/new"
    key = re.search(r'name="submission" type="hidden" value="([^"]+)"',
                    text_of(client.get(path))).group(1)
    today = local_today()
    form = {"reviewed_on": day(today), "outcome": "continue", "submission": key,
            "next_review_on": day(today + timedelta(days=10))}
    first, again = post(path, form), post(path, form)
    assert first.status_code == again.status_code == 302
    assert again.location == f"/people/{person.id}"
    assert "This was already saved: it is recorded once" in text_of(client.get(again.location))
    assert len(db.session.scalars(select(CaseReview)).all()) == 1
    assert len(db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case:reviewed")).all()) == 1


def _referrals_in_chart(page: str) -> int:
    return int(re.search(r"<figcaption[^>]*>(\d+) referrals from", page).group(1))


def test_dashboard_figures_are_kept_for_a_while_for_the_same_sites(
        app, client, login_as, make_referral, make_user, dashboard_on_21_november_2026):
    from casework.caseload import services

    app.config["DASHBOARD_FIGURES_SECONDS"] = 30
    make_referral("coventry")
    login_as("lead", ("coventry",))
    first = text_of(client.get("/dashboard"))
    assert _referrals_in_chart(first) == 1
    assert "worked out again at most every 30 seconds" in first
    stamp = re.search(r'data-testid="worked-out-at">Figures as at ([\d:]+)', first).group(1)

    make_referral("coventry")
    again = text_of(client.get("/dashboard"))
    assert _referrals_in_chart(again) == 1  # kept: the same figures, the same time
    assert f"Figures as at {stamp};" in again
    assert app.extensions[services._KEPT].ttl == 30

    # a lead of other sites gets their own figures, not these
    wolves = make_user("lead", ("coventry", "wolverhampton"))
    make_referral("wolverhampton")
    other = app.test_client()
    assert sign_in(other, wolves.email).status_code == 302
    assert _referrals_in_chart(text_of(other.get("/dashboard"))) == 3

    # once they are no longer kept, they are worked out again
    app.extensions[services._KEPT].clear()
    assert _referrals_in_chart(text_of(client.get("/dashboard"))) == 2


def test_dashboard_figures_are_worked_out_every_time_when_not_kept(
        app, client, login_as, make_referral, dashboard_on_21_november_2026):
    from casework.caseload import services

    assert app.config["DASHBOARD_FIGURES_SECONDS"] == 0
    login_as("lead", ("coventry",))
    make_referral("coventry")
    page = text_of(client.get("/dashboard"))
    assert _referrals_in_chart(page) == 1 and "worked out again" not in page
    make_referral("coventry")
    assert _referrals_in_chart(text_of(client.get("/dashboard"))) == 2
    assert services._KEPT not in app.extensions


def test_the_case_list_says_more_than_past_its_cap(client, login_as, make_referral,
                                                   monkeypatch):
    from casework.caseload import services

    for n in range(3):
        make_referral("coventry", last_name=f"Capped{n}")
    monkeypatch.setattr(services, "COUNT_CAP", 2)
    login_as("lead", ("coventry",))
    page = text_of(client.get("/caseload/cases"))
    assert "More than 2 cases" in page and "Capped2" in page
    monkeypatch.setattr(services, "COUNT_CAP", 10_000)
    assert "3 cases" in text_of(client.get("/caseload/cases"))


def test_each_week_links_to_its_referrals(app, client, login_as, make_referral,
                                          dashboard_on_21_november_2026):
    from datetime import timedelta as days

    from flask import url_for

    referral = make_referral("coventry")
    login_as("lead", ("coventry",))
    for site in (None, referral.site_id):
        page = text_of(client.get("/dashboard" + (f"?site={site}" if site else "")))
        monday = referral.referral_date - days(days=referral.referral_date.weekday())
        sunday = monday + days(days=6)
        with app.test_request_context("/"):
            href = url_for("intake.referrals", site=site,
                           date_from=[monday.day, monday.month, monday.year],
                           date_to=[sunday.day, sunday.month, sunday.year])
        assert f'href="{href.replace("&", "&amp;")}">1</a>' in page
        listed = text_of(client.get(href))
        assert referral.reference in listed and "1 referral" in listed


def test_the_case_lists_page_links_carry_only_its_own_arguments(client, login_as, make_referral,
                                                                monkeypatch):
    """Every argument of the list's address went into url_for for its page
    links, so ?_external=1&_anchor=x made them absolute links with an
    anchor chosen by whoever wrote the address (found by review)."""
    from functools import partial

    from casework.caseload import services as caseload

    for _ in range(3):
        make_referral("coventry")
    login_as("lead", ("coventry",))
    monkeypatch.setattr(caseload, "case_list", partial(caseload.case_list, per_page=1))
    html = client.get("/caseload/cases?arm=&closed=1&_scheme=javascript&_external=1"
                      "&_anchor=x&page=2").get_data(as_text=True)
    links = re.findall(r'class="govuk-link govuk-pagination__link" href="([^"]+)"', html)
    assert sorted(links) == ["/caseload/cases?arm=&amp;closed=1&amp;page=1",
                             "/caseload/cases?arm=&amp;closed=1&amp;page=3"]


def test_a_failed_reassignment_shows_the_list_with_its_own_page_links(
        client, login_as, post, make_referral, monkeypatch):
    """The list sent back with a reassignment's errors built its page links
    for the reassign address, which only takes a POST (a 405)."""
    from functools import partial

    from casework.caseload import services as caseload

    people = [make_referral("coventry").person for _ in range(3)]
    login_as("lead", ("coventry",))
    monkeypatch.setattr(caseload, "case_list", partial(caseload.case_list, per_page=1))
    response = post("/caseload/reassign", {"people": [str(people[0].id)], "to_user": "",
                                           "reason": "", "back": "/caseload/cases?arm=&page=2"})
    assert response.status_code == 422
    links = re.findall(r'class="govuk-link govuk-pagination__link" href="([^"]+)"',
                       response.get_data(as_text=True))
    assert sorted(links) == ["/caseload/cases?arm=&amp;page=1", "/caseload/cases?arm=&amp;page=3"]
    assert all(client.get(link.replace("&amp;", "&")).status_code == 200 for link in links)


def test_the_list_behind_a_figure_lists_the_people_it_counts(
        client, login_as, post, make_trial, make_referral, triage_referral, make_user):
    """A person living at Coventry and randomised at Wolverhampton counted on
    Wolverhampton's dashboard, and the lists behind its figures left them
    out; its lead could open their page and not reassign them."""
    person = living_at_coventry_treated_at_wolverhampton(make_trial, make_referral,
                                                          triage_referral, make_user)
    wendy = make_user("caseworker", ("wolverhampton",), email="wendy@example.org",
                      display_name="Wendy Wolves")
    login_as("lead", ("wolverhampton",))
    dashboard = text_of(client.get("/dashboard"))
    for href in ("/caseload/cases?signal=overdue",
                 "/caseload/cases?arm=treatment&amp;pathway=engaged&amp;closed=1"):
        assert f'href="{href}">1<' in dashboard
        listed = text_of(client.get(href.replace("&amp;", "&")))
        assert person.last_name in listed and "1 case " in listed
    listed = text_of(client.get("/caseload/cases"))
    assert "Coventry, referred at Wolverhampton" in listed
    assert "Wendy Wolves (caseworker)" in listed  # one site's list: reassignable
    assert post("/caseload/reassign", {"people": [str(person.id)], "to_user": str(wendy.id),
                                       "reason": "Near the referral"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Person, person.id).caseworker_id == wendy.id


def test_reassigning_someone_the_lead_may_not_see_is_refused_as_missing_and_audited(
        client, login_as, post, make_referral, make_user):
    """It answered 422 "Not a valid choice" (the caseworkers offered are
    those of the cases' sites the lead holds: none) and audited nothing;
    outside their scope a record answers 404 and the refusal is audited."""
    amy = make_user("caseworker", ("coventry",), email="amy@example.org")
    mine = make_referral("coventry", last_name="Covperson").person
    theirs = make_referral("wolverhampton", last_name="Wolperson").person
    lead = login_as("lead", ("coventry",))
    before = mine.caseworker_id
    for people, reason, site_id in (([mine.id, theirs.id], "outside_scope", theirs.site_id),
                                    ([mine.id, 999_999], "not_found", None)):
        response = post("/caseload/reassign", {"people": [str(n) for n in people],
                                               "to_user": str(amy.id), "reason": "Cover"})
        assert response.status_code == 404 and "Wolperson" not in text_of(response)
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "access:denied").order_by(AuditEvent.id.desc())).first()
        assert (event.actor_id, event.subject_type, event.subject_id, event.site_id) == \
            (lead.id, "person", str(people[1]), site_id)
        assert event.detail["reason"] == reason and event.detail["people"] == [people[1]]
    # hidden people of two sites: each site's leads find the refusal
    brum = make_referral("birmingham", last_name="Brumperson").person
    response = post("/caseload/reassign", {"people": [str(mine.id), str(theirs.id),
                                                      str(brum.id)],
                                           "to_user": str(amy.id), "reason": "Cover"})
    assert response.status_code == 404
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "access:denied").order_by(AuditEvent.id.desc())).first()
    assert event.site_id is None and event.detail["reason"] == "outside_scope"
    assert event.detail["people"] == sorted([theirs.id, brum.id])
    assert event.detail["sites"] == sorted([theirs.site_id, brum.site_id])
    assert set(db.session.scalars(select(AuditEventSite.site_id).where(
        AuditEventSite.event_id == event.id))) == {theirs.site_id, brum.site_id}
    db.session.expire_all()
    assert db.session.get(Person, mine.id).caseworker_id == before
    assert not db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case:reassigned")).all()


def test_the_caseloads_page_shows_the_cases_of_caseworkers_who_left(
        client, login_as, make_referral, make_user, monkeypatch):
    from datetime import UTC, datetime

    from casework.accounts import services as accounts
    from casework.caseload import services as caseload

    leaver = make_user("caseworker", ("wolverhampton",), email="leaver@example.org",
                       display_name="Lea Leaver")
    moved = make_user("caseworker", ("wolverhampton",), email="moved@example.org",
                      display_name="Mo Moved")
    people = [make_referral("wolverhampton", last_name=f"Held{n}").person for n in range(3)]
    for person, holder in zip(people, (leaver, leaver, moved), strict=True):
        caseload.assign(person, holder, "Test", actor=None, now=datetime.now(UTC))
    accounts.deactivate_user(leaver, actor=None, now=datetime.now(UTC))
    moved.sites = accounts.sites_by_keys(["birmingham"])
    db.session.commit()
    login_as("lead", ("wolverhampton",))
    page = text_of(client.get("/caseload"))
    assert "Lea Leaver" not in page and "Mo Moved" not in page  # no row of their own
    needing = page.split('data-testid="needing">', 1)[1].split("</p>", 1)[0]
    assert 'href="/caseload/cases?caseworker=needed">3 open cases</a>' in needing
    listed = text_of(client.get("/caseload/cases?caseworker=needed"))
    assert "3 cases needing a caseworker" in listed
    assert all(p.last_name in listed for p in people) and "Lea Leaver (deactivated)" in listed
    monkeypatch.setattr(caseload, "COUNT_CAP", 2)
    caseload._caseload_statements.cache_clear()
    try:
        assert ">More than 2 open cases</a>" in text_of(client.get("/caseload"))
    finally:
        caseload._caseload_statements.cache_clear()


def _active_diversion(make_referral, site: str, due_in_days: int, lead, worker):
    """An active Checkpoint diversion at ``site`` due ``due_in_days`` from today."""
    from datetime import UTC, datetime

    from casework.diversion import services as diversion

    settings = diversion.Settings({"checkpoint": 16, "outcome22": 12}, 22,
                                  {1: "light", 2: "light", 3: "structured", 4: "intensive",
                                   5: None})
    person = make_referral(site, dob=date(2010, 1, 1), last_name=f"Due{site}{due_in_days}").person
    may = datetime(2026, 5, 20, tzinfo=UTC)
    assessment = diversion.assess_data(person, "checkpoint", {
        "date_of_birth": "2010-01-01", "offence_date": "2026-05-01",
        "offence": "bladed_article_s139", "aggravating_factors": [], "previous_outcomes": [],
        "admits_offence": True, "sufficient_evidence": True},
        actor=worker, now=may, settings=settings)
    diversion.decide(assessment, "eligible", None, actor=lead, now=may)
    case = diversion.offer(assessment, actor=worker, now=may)
    started = local_today() + timedelta(days=due_in_days) - timedelta(weeks=16)
    diversion.advance(case, diversion.Step("active", started), actor=worker,
                      now=datetime.now(UTC), settings=settings)
    db.session.commit()
    return person


def test_each_figure_for_a_chosen_site_links_to_the_list_of_what_it_counts(
        client, login_as, make_referral, make_user, randomised):
    """The deviations and diversion figures linked to lists of every site of
    the lead's whatever site the dashboard showed, and "due in the next 14
    days" to every active diversion."""
    from datetime import UTC, datetime

    from casework.pathways import services as pathways

    lead = make_user("lead", ("coventry", "wolverhampton"), email="deciding@example.org")
    worker = make_user("caseworker", ("coventry", "wolverhampton"), email="w@example.org")
    people = {(site, due): _active_diversion(make_referral, site, due, lead, worker)
              for site in ("coventry", "wolverhampton") for due in (-10, 5, 40)}
    for site in ("coventry", "wolverhampton"):
        control = randomised("control", site=site)
        control.last_name = f"Deviated{site}"
        pathways.record_deviation(control, date(2026, 9, 9), "Visit", actor=worker,
                                  now=datetime.now(UTC))
    db.session.commit()
    coventry = people[("coventry", 5)].site_id
    login_as("lead", ("coventry", "wolverhampton"))
    dashboard = text_of(client.get(f"/dashboard?site={coventry}"))

    def followed(label):
        href, number = re.search(rf'href="([^"]+)">(\d+)<span class="govuk-visually-hidden"> '
                                 rf'{label}', dashboard).groups()
        return int(number), text_of(client.get(href.replace("&amp;", "&")))

    number, listed = followed("diversions due in the next 14 days")
    assert number == 1 and people[("coventry", 5)].last_name in listed
    assert all(people[key].last_name not in listed for key in people if key != ("coventry", 5))
    number, listed = followed("diversions past their due date")
    assert number == 1 and people[("coventry", -10)].last_name in listed
    assert people[("wolverhampton", -10)].last_name not in listed
    number, listed = followed("protocol deviations recorded")
    assert number == 1 and "Deviatedcoventry" in listed and "Deviatedwolverhampton" not in listed
    # and for every site of the lead's
    listed = text_of(client.get("/diversion?show=due"))
    assert people[("coventry", 5)].last_name in listed
    assert people[("wolverhampton", 5)].last_name in listed
    assert people[("coventry", 40)].last_name not in listed


def test_the_deviations_and_diversion_lists_say_when_they_are_cut_short(
        client, login_as, make_referral, make_user, randomised, monkeypatch):
    from datetime import UTC, datetime

    from casework.diversion import services as diversion
    from casework.pathways import services as pathways

    lead = make_user("lead", ("coventry",), email="deciding@example.org")
    worker = make_user("caseworker", ("coventry",), email="w@example.org")
    for due in (-10, 5, 40):
        _active_diversion(make_referral, "coventry", due, lead, worker)
    for _ in range(2):
        pathways.record_deviation(randomised("control"), date(2026, 9, 9), "Visit",
                                  actor=worker, now=datetime.now(UTC))
    db.session.commit()
    login_as("lead", ("coventry",))
    assert 'data-testid="cut-short"' not in text_of(client.get("/diversion"))
    assert 'data-testid="cut-short"' not in text_of(client.get("/pathways/deviations"))
    monkeypatch.setattr(diversion, "CASES_SHOWN", 2)
    monkeypatch.setattr(pathways, "DEVIATIONS_SHOWN", 1)
    listed = text_of(client.get("/diversion"))
    assert "These are the first 2 cases by due date; there are more." in listed
    assert "Duecoventry-10" in listed and "Duecoventry5" in listed  # the first by due date
    assert "Duecoventry40" not in listed
    assert "These are the latest 1 deviations; there are more." in \
        text_of(client.get("/pathways/deviations"))


def test_the_triage_figure_for_a_chosen_site_links_to_that_sites_queue(
        client, login_as, make_referral, triage_referral):
    """The triage and approvals figures linked to every site's list whatever
    site the dashboard showed (left by the review's fixes)."""
    for site in ("coventry", "wolverhampton"):
        triage_referral(make_referral(site, last_name=f"Waiting{site}"))
    coventry = make_referral("coventry").site_id
    login_as("lead", ("coventry", "wolverhampton"))
    dashboard = text_of(client.get(f"/dashboard?site={coventry}"))
    href, number = re.search(r'href="([^"]+)">(\d+)<span class="govuk-visually-hidden"> '
                             r'waiting for a triage decision', dashboard).groups()
    queue = text_of(client.get(href.replace("&amp;", "&")))
    assert number == "1" and "Waitingcoventry" in queue and "Waitingwolverhampton" not in queue
    assert "Triage queue at Coventry" in queue
    every = text_of(client.get("/triage"))
    assert "Waitingcoventry" in every and "Waitingwolverhampton" in every
    approvals = re.search(r'href="([^"]+)">\d+<span class="govuk-visually-hidden"> '
                          r'disruption proposals', dashboard).group(1)
    assert approvals == f"/pathways/approvals?site={coventry}"
    assert "Pending approvals at Coventry" in text_of(client.get(approvals))
