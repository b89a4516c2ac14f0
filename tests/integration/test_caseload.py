"""The lead dashboard, caseloads, the case list, reassignment and reviews,
each figure against hand-computed fixtures, and query counts that do not
grow with the data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.caseload import services
from casework.caseload.models import CaseAssignment
from casework.extensions import db
from casework.notes import services as notes
from casework.pathways import services as pathways
from casework.pathways.states import Pathway
from tests.conftest import count_queries

TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
THRESHOLDS = {"engaged": 14, "at_risk_monitoring": 28}


@pytest.fixture
def team(make_user):
    return {
        "lead": make_user("lead", ("coventry", "wolverhampton"), email="lead@example.org",
                          display_name="Lee Lead"),
        "amy": make_user("caseworker", ("coventry",), email="amy@example.org",
                         display_name="Amy Worker"),
        "ben": make_user("caseworker", ("coventry",), email="ben@example.org",
                         display_name="Ben Worker"),
        "wes": make_user("caseworker", ("wolverhampton",), email="wes@example.org",
                         display_name="Wes Worker"),
    }


def site_ids(*keys):
    from casework.accounts.services import sites_by_keys

    return frozenset(s.id for s in sites_by_keys(list(keys)))


def test_a_caseworker_who_records_a_referral_holds_the_case(make_referral, team):
    person = make_referral("coventry").person
    # the conftest factory's user is a caseworker: the referral gives them the case
    assert person.caseworker is not None and person.caseworker.role == "caseworker"
    assert db.session.scalars(select(CaseAssignment)).one().reason == "Recorded the referral"


def test_reassigning_cases(make_referral, team):
    people = [make_referral("coventry").person for _ in range(3)]
    wolves = make_referral("wolverhampton").person
    lead, amy, wes = team["lead"], team["amy"], team["wes"]
    with pytest.raises(services.CaseloadError) as refused:
        services.reassign([], None, "", actor=lead, now=NOW)
    assert set(refused.value.problems) == {"reason", "people", "to_user"}
    with pytest.raises(services.CaseloadError, match="does not work at the site"):
        services.reassign([people[0].id], wes.id, "Cover", actor=lead, now=NOW)
    only_coventry = team["amy"]
    with pytest.raises(services.CaseloadError, match="not at your sites"):
        services.reassign([wolves.id], amy.id, "Cover", actor=only_coventry, now=NOW)
    done = services.reassign([p.id for p in people[:2]], amy.id, "Ben is on leave",
                             actor=lead, now=NOW)
    db.session.commit()
    assert len(done) == 2 and {p.caseworker_id for p in people[:2]} == {amy.id}
    assert people[2].caseworker_id != amy.id
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case:reassigned", AuditEvent.actor_id == lead.id)).all()
    assert len(events) == 2
    assert events[0].detail["caseworker_id"]["after"] == amy.id
    with pytest.raises(services.CaseloadError, match="already with Amy"):
        services.reassign([people[0].id], amy.id, "Again", actor=lead, now=NOW)


def _treated(randomised, caseworker, worker, pathway=None, on=date(2026, 9, 1)):
    person = randomised("treatment", on=datetime(2026, 8, 1, tzinfo=UTC))
    services.assign(person, caseworker, "Test", actor=None, now=NOW)
    if pathway:
        pathways.move(person, pathways.MoveRequest(pathway, on), actor=worker, now=NOW)
    db.session.commit()
    return person


def contact(person, author, on):
    notes.add_note(person, "contact", notes.NoteContent("Seen", on, "phone", True),
                   restricted=False, actor=author, now=NOW)
    db.session.commit()


def test_the_dashboard_against_hand_counts(randomised, make_referral, triage_referral, team,
                                           make_user):
    amy, lead = team["amy"], team["lead"]
    engaged_overdue = _treated(randomised, amy, amy, "engaged")          # no contact: overdue
    engaged_seen = _treated(randomised, amy, amy, "engaged")
    contact(engaged_seen, amy, TODAY - timedelta(days=3))
    _treated(randomised, amy, amy, "at_risk_monitoring", on=TODAY - timedelta(days=10))
    _treated(randomised, amy, amy)                                         # awaiting offer
    control = randomised("control")
    pathways.record_deviation(control, date(2026, 9, 9), "Visit", actor=amy, now=NOW)
    proposal_person = _treated(randomised, amy, amy, "engaged")
    contact(proposal_person, amy, TODAY)
    pathways.move(proposal_person, pathways.MoveRequest("disruption", TODAY, rationale="x"),
                  actor=amy, now=NOW)
    waiting = triage_referral(make_referral("coventry"))
    waiting.submitted_at = NOW - timedelta(days=6)
    services.record_review(engaged_seen, services.ReviewDetails(
        TODAY - timedelta(days=40), "continue", TODAY - timedelta(days=2)), actor=lead, now=NOW)
    services.record_review(engaged_overdue, services.ReviewDetails(
        TODAY - timedelta(days=20), "continue", TODAY + timedelta(days=5)), actor=lead, now=NOW)
    db.session.commit()

    figures = services.dashboard(site_ids("coventry"), actor=lead, today=TODAY,
                                 thresholds=THRESHOLDS)
    assert figures.treated == {Pathway.AWAITING_OFFER: 1, Pathway.ENGAGED: 3,
                               Pathway.AT_RISK_MONITORING: 1, Pathway.DISRUPTION: 0,
                               Pathway.EXITED: 0}
    assert figures.control >= 1
    assert figures.overdue_contacts == 1
    assert figures.approvals_pending == 1
    assert figures.deviations == 1
    assert figures.triage_waiting == 1 and figures.triage_oldest_days == 6
    assert (figures.reviews_due, figures.reviews_overdue) == (1, 1)
    assert len(figures.referrals_by_week) == 26
    assert figures.referrals_by_week[-1][0] == date(2026, 11, 16)  # this week's Monday
    elsewhere = services.dashboard(site_ids("wolverhampton"), actor=lead, today=TODAY,
                                   thresholds=THRESHOLDS)
    assert elsewhere.treated_total == 0 and elsewhere.overdue_contacts == 0


def test_referrals_per_week(make_referral, team):
    for days_ago in (1, 2, 7, 8, 9, 200):
        make_referral("coventry", referral_date=TODAY - timedelta(days=days_ago))
    make_referral("wolverhampton", referral_date=TODAY - timedelta(days=1))
    weeks = dict(services.dashboard(site_ids("coventry"), actor=team["lead"], today=TODAY,
                                    thresholds=THRESHOLDS).referrals_by_week)
    # 21 Nov 2026 is a Saturday: its week began on Monday 16 November
    assert weeks[date(2026, 11, 16)] == 2
    assert weeks[date(2026, 11, 9)] == 3
    assert sum(weeks.values()) == 5  # 200 days ago is outside the 26 weeks


def _diversion_settings():
    from casework.diversion import services as diversion

    return diversion.Settings({"checkpoint": 16, "outcome22": 12}, 22,
                              {1: "light", 2: "light", 3: "structured", 4: "intensive",
                               5: None})


def _offered_checkpoint(person, team):
    """An eligible Checkpoint assessment of ``person`` (born 1 Jan 2010), offered."""
    from casework.diversion import services as diversion

    may = datetime(2026, 5, 20, tzinfo=UTC)
    assessment = diversion.assess_data(person, "checkpoint", {
        "date_of_birth": "2010-01-01", "offence_date": "2026-05-01",
        "offence": "bladed_article_s139", "aggravating_factors": [],
        "previous_outcomes": [], "admits_offence": True, "sufficient_evidence": True},
        actor=team["amy"], now=may, settings=_diversion_settings())
    diversion.decide(assessment, "eligible", None, actor=team["lead"], now=may)
    return diversion.offer(assessment, actor=team["amy"], now=may)


def test_diversion_figures(make_referral, team):
    from casework.diversion import services as diversion

    for started in (date(2026, 6, 1), date(2026, 8, 1), date(2026, 10, 1)):
        case = _offered_checkpoint(make_referral("coventry", dob=date(2010, 1, 1)).person, team)
        diversion.advance(case, diversion.Step("active", started), actor=team["amy"], now=NOW,
                          settings=_diversion_settings())
    db.session.commit()
    # due: 21 Sep (overdue), 21 Nov (today: due), 21 Jan (not yet within 14 days)
    figures = services.dashboard(site_ids("coventry"), actor=team["lead"], today=TODAY,
                                 thresholds=THRESHOLDS)
    assert (figures.diversion_overdue, figures.diversion_due) == (1, 1)


def test_caseloads_by_caseworker(randomised, team):
    amy, ben = team["amy"], team["ben"]
    a1 = _treated(randomised, amy, amy, "engaged")
    contact(a1, amy, date(2026, 11, 1))
    _treated(randomised, amy, amy, "engaged")  # overdue since 1 Sep
    _treated(randomised, ben, ben, "at_risk_monitoring", on=TODAY)
    rows = {r.caseworker.display_name: r for r in services.caseloads(
        site_ids("coventry"), actor=team["lead"], today=TODAY, thresholds=THRESHOLDS).rows}
    assert set(rows) >= {"Amy Worker", "Ben Worker", "Lee Lead"}
    amy_row, ben_row = rows["Amy Worker"], rows["Ben Worker"]
    assert amy_row.active == 2 and amy_row.by_pathway[Pathway.ENGAGED] == 2
    assert amy_row.overdue == 2  # a1's last contact 1 Nov is 20 days ago
    assert amy_row.longest_without_contact_days == (TODAY - date(2026, 9, 1)).days
    assert amy_row.last_contact == date(2026, 11, 1)
    assert (ben_row.active, ben_row.overdue, ben_row.last_contact) == (1, 0, None)
    assert ben_row.by_pathway[Pathway.AT_RISK_MONITORING] == 1
    assert "Wes Worker" not in rows



def test_caseloads_count_a_restricted_contact_for_those_who_may_read_it(randomised, team):
    """The figures follow the reader's view of restricted notes, reader after
    reader (the statements are built once, the reader a parameter)."""
    amy, ben, lead = team["amy"], team["ben"], team["lead"]
    seen = _treated(randomised, amy, amy, "engaged")
    contact(seen, amy, date(2026, 10, 1))
    notes.add_note(seen, "contact", notes.NoteContent("Seen", date(2026, 11, 20), "phone", True),
                   restricted=True, actor=amy, now=NOW)
    db.session.commit()

    def amys_row(reader):
        return next(r for r in services.caseloads(
            site_ids("coventry"), actor=reader, today=TODAY, thresholds=THRESHOLDS).rows
            if r.caseworker.id == amy.id)

    for reader, last, overdue in [(lead, date(2026, 11, 20), 0), (ben, date(2026, 10, 1), 1),
                                  (amy, date(2026, 11, 20), 0), (ben, date(2026, 10, 1), 1)]:
        row = amys_row(reader)
        assert (row.last_contact, row.overdue) == (last, overdue), reader.display_name


def test_caseloads_list_each_caseworker_of_the_sites_once(team, make_user):
    """A member of several of the sites is one row; evaluators and people
    no longer active are not caseworkers; a site not chosen adds no one."""
    make_user("evaluator", ("coventry",), display_name="Eve Evaluator")
    gone = make_user("caseworker", ("coventry",), display_name="Gus Gone")
    gone.active = False
    make_user("caseworker", ("walsall",), display_name="Wal Worker")
    db.session.commit()
    page = services.caseloads(site_ids("coventry", "wolverhampton"), actor=team["lead"],
                              today=TODAY, thresholds=THRESHOLDS)
    assert [r.caseworker.display_name for r in page.rows] == \
        ["Amy Worker", "Ben Worker", "Lee Lead", "Wes Worker"]
    assert page.total == 4
    only = services.caseloads(site_ids("coventry", "wolverhampton"), actor=team["lead"],
                              today=TODAY, thresholds=THRESHOLDS, only=team["lead"].id)
    assert [r.caseworker.display_name for r in only.rows] == ["Lee Lead"] and only.total == 1


def test_caseloads_come_a_page_of_caseworkers_at_a_time(randomised, team):
    amy, ben = team["amy"], team["ben"]
    _treated(randomised, amy, amy, "engaged")
    _treated(randomised, ben, ben, "engaged")
    _treated(randomised, ben, ben, "at_risk_monitoring", on=TODAY)

    def listed(page):
        return services.caseloads(site_ids("coventry"), actor=team["lead"], today=TODAY,
                                  thresholds=THRESHOLDS, page=page, per_page=2)

    everyone = services.caseloads(site_ids("coventry"), actor=team["lead"], today=TODAY,
                                  thresholds=THRESHOLDS)
    names = [r.caseworker.display_name for r in everyone.rows]
    assert names == sorted(names) and {"Amy Worker", "Ben Worker"} <= set(names)
    count = -(-everyone.total // 2)
    pages = [listed(n) for n in range(1, count + 2)]  # and one past the end
    assert count >= 2 and all(p.total == everyone.total and p.pages == count for p in pages)
    seen = [r.caseworker.display_name for p in pages[:count] for r in p.rows]
    assert seen == names  # every caseworker once, in order, across the pages
    assert pages[-1].page == count and [r.caseworker.id for r in pages[-1].rows] == \
        [r.caseworker.id for r in pages[count - 1].rows]  # past the end: the last page
    by_name = {r.caseworker.display_name: r for p in pages for r in p.rows}
    assert (by_name["Amy Worker"].active, by_name["Ben Worker"].active) == (1, 2)
    assert services.caseloads(site_ids("coventry"), actor=team["lead"], today=TODAY,
                              thresholds=THRESHOLDS, only=ben.id).rows[0].active == 2


def test_the_case_list_filters(randomised, make_referral, team):
    amy = team["amy"]
    engaged = _treated(randomised, amy, amy, "engaged")
    awaiting = _treated(randomised, team["ben"], amy)
    lead = team["lead"]

    def names(**filters):
        page = services.case_list(services.CaseFilter(**filters), site_ids("coventry"),
                                  actor=lead, today=TODAY, thresholds=THRESHOLDS)
        return {row.person.id for row in page.rows}

    assert names(caseworker_id=amy.id) >= {engaged.id}
    assert awaiting.id not in names(caseworker_id=amy.id)
    assert names(pathway="engaged") == {engaged.id}
    assert names(signal="overdue") == {engaged.id}
    assert engaged.id in names(arm="treatment") and engaged.id not in names(arm="control")
    unassigned = make_referral("coventry").person
    unassigned.caseworker_id = None
    db.session.commit()
    assert names(unassigned=True) == {unassigned.id}


def test_the_case_list_counts_up_to_a_cap(make_referral, team, monkeypatch):
    people = sorted((make_referral("coventry", last_name=f"Capped{n}").person for n in range(5)),
                    key=lambda p: (p.last_name_key, p.first_name_key, p.id))

    def listed(page):
        return services.case_list(services.CaseFilter(), site_ids("coventry"), actor=team["lead"],
                                  today=TODAY, thresholds=THRESHOLDS, page=page, per_page=2)

    monkeypatch.setattr(services, "COUNT_CAP", 3)
    first = listed(1)
    assert (first.total, first.capped, first.has_next) == (3, True, True)
    assert [r.person.id for r in first.rows] == [p.id for p in people[:2]]
    last = listed(3)  # past the pages counted: there are more, so the page stands
    assert (last.page, last.has_next, [r.person.id for r in last.rows]) == \
        (3, False, [people[4].id])
    monkeypatch.setattr(services, "COUNT_CAP", 5)  # exactly the cap: counted, not capped
    exact = listed(9)
    assert (exact.total, exact.capped, exact.page) == (5, False, 3)


def test_reviews(make_referral, team):
    person = make_referral("coventry").person
    with pytest.raises(services.CaseloadError) as refused:
        services.record_review(person, services.ReviewDetails(TODAY, "ponder", TODAY),
                               actor=team["lead"], now=NOW)
    assert set(refused.value.problems) == {"outcome", "next_review_on"}
    services.record_review(person, services.ReviewDetails(
        TODAY, "escalate", TODAY + timedelta(days=28), "Partner meeting booked"),
        actor=team["lead"], now=NOW)
    db.session.commit()
    event_ = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case:reviewed")).one()
    assert event_.detail["outcome"] == "escalate" and "Partner" not in str(event_.detail)


def test_a_review_is_dated_within_the_persons_life_and_its_next_within_a_year(
        make_referral, team):
    """A review of 1 January 0001 with its next on 31 December 9999 was kept
    and fed the review signals (found by review)."""
    person = make_referral("coventry").person  # born 1 January 2008
    for reviewed, following, field, message in (
            (date(1, 1, 1), date(9999, 12, 31), "reviewed_on", "date of birth"),
            (date(2007, 12, 31), TODAY, "reviewed_on", "date of birth"),
            (TODAY, TODAY + timedelta(days=367), "next_review_on", "within a year")):
        with pytest.raises(services.CaseloadError) as refused:
            services.record_review(person, services.ReviewDetails(reviewed, "continue",
                                                                  following),
                                   actor=team["lead"], now=NOW)
        assert message in refused.value.problems[field]
    services.record_review(person, services.ReviewDetails(
        TODAY, "continue", TODAY + timedelta(days=365)), actor=team["lead"], now=NOW)


def test_queries_do_not_grow_with_the_data(runner, team):
    lead = team["lead"]
    sites = site_ids("coventry", "wolverhampton")

    def measure() -> list[int]:
        db.session.expire_all()
        lead.site_ids  # noqa: B018 (loaded outside the measured calls)
        return [
            count_queries(lambda: services.dashboard(sites, actor=lead, today=TODAY,
                                              thresholds=THRESHOLDS)),
            count_queries(lambda: services.caseloads(sites, actor=lead, today=TODAY,
                                              thresholds=THRESHOLDS)),
            count_queries(lambda: services.case_list(services.CaseFilter(), sites, actor=lead,
                                              today=TODAY, thresholds=THRESHOLDS)),
        ]

    assert runner.invoke(args=["seed-demo", "--people", "60", "--seed", "2"]).exit_code == 0
    db.session.commit()
    small = measure()
    from casework.demo.people import seed_people

    seed_people(600, 3, now=NOW)  # ten times the people
    db.session.commit()
    large = measure()
    assert small == large, (small, large)
    assert max(large) <= 12


def test_a_case_is_open_while_any_of_its_three_sources_is(make_referral, randomised, team):
    from casework.intake import services as intake
    from casework.intake.models import Person

    def closed_referral(**kwargs):
        referral = make_referral("coventry", **kwargs)
        intake.close_referral(referral, "withdrawn", actor=team["lead"], now=NOW)
        return referral.person

    waiting = make_referral("coventry").person  # a referral still in play
    closed = closed_referral()
    offered = closed_referral(dob=date(2010, 1, 1))
    _offered_checkpoint(offered, team)
    treated = _treated(randomised, team["amy"], team["amy"], "engaged")
    for referral in treated.referrals:  # open through the pathway alone
        referral.status = "closed"
    db.session.commit()
    found = set(db.session.scalars(select(Person.id).where(services.active(), Person.id.in_(
        [waiting.id, closed.id, offered.id, treated.id]))))
    assert found == {waiting.id, offered.id, treated.id}


def test_a_review_entered_late_is_not_the_latest(make_referral, team):
    """The latest review is the one with the latest review date (of those on
    one day, the last recorded), everywhere: the person page, the dashboard
    and the case list. A review dated months back and entered after a
    recent one took over the dashboard and list by its id, and made the
    person overdue while their page gave the next review in January."""
    person = make_referral("coventry").person
    lead = team["lead"]
    services.record_review(person, services.ReviewDetails(
        TODAY - timedelta(days=5), "continue", TODAY + timedelta(days=60)), actor=lead, now=NOW)
    services.record_review(person, services.ReviewDetails(
        TODAY - timedelta(days=90), "increase", TODAY - timedelta(days=30)), actor=lead, now=NOW)
    db.session.commit()
    assert services.latest_review(person.id).next_review_on == TODAY + timedelta(days=60)
    figures = services.dashboard(site_ids("coventry"), actor=lead, today=TODAY,
                                 thresholds=THRESHOLDS)
    assert (figures.reviews_due, figures.reviews_overdue) == (0, 0)

    def listed(**filters):
        page = services.case_list(services.CaseFilter(**filters), site_ids("coventry"),
                                  actor=lead, today=TODAY, thresholds=THRESHOLDS)
        return {row.person.id: row.next_review for row in page.rows}

    assert person.id not in listed(signal="review_overdue")
    assert listed()[person.id] == TODAY + timedelta(days=60)
    # two on one day: the one recorded last
    services.record_review(person, services.ReviewDetails(
        TODAY - timedelta(days=5), "escalate", TODAY + timedelta(days=7)), actor=lead, now=NOW)
    db.session.commit()
    assert services.latest_review(person.id).outcome == "escalate"
    assert person.id in listed(signal="review_due")
    assert services.dashboard(site_ids("coventry"), actor=lead, today=TODAY,
                              thresholds=THRESHOLDS).reviews_due == 1


def test_a_review_is_audited_under_the_site_it_is_recorded_at(make_referral, make_user):
    """A lead of another site, where the person was referred, records the
    review under their site (intake.working_site); its event was under the
    person's site, so their own sites' audit log left it out."""
    from casework.caseload.models import CaseReview

    person = make_referral("coventry").person
    make_referral("wolverhampton", person=person)
    lead = make_user("lead", ("wolverhampton",))
    services.record_review(person, services.ReviewDetails(
        TODAY, "continue", TODAY + timedelta(days=28)), actor=lead, now=NOW)
    db.session.commit()
    review = db.session.scalars(select(CaseReview)).one()
    assert review.site_id in site_ids("wolverhampton")
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case:reviewed")).one()
    assert event.site_id == review.site_id


@pytest.fixture
def living_elsewhere(make_trial, make_referral, triage_referral, make_user):
    """A person who lives at Coventry (their own site), referred and
    randomised to treatment at Wolverhampton, engaged since 1 September
    and never contacted since (overdue), with a review overdue."""
    from casework.triage import services as triage

    make_trial()
    decider = make_user("lead", ("wolverhampton",), email="decider@example.org")
    for _ in range(20):
        person = make_referral("coventry", last_name="Livesapart").person
        decided = triage.decide(triage_referral(make_referral("wolverhampton", person=person)),
                                "eligible", None, actor=decider,
                                now=datetime(2026, 8, 1, tzinfo=UTC), key=b"test-trial-key")
        db.session.commit()
        if decided.allocation.arm == "treatment":
            break
    else:
        raise AssertionError("no treatment allocation in 20 tries")
    pathways.move(person, pathways.MoveRequest("engaged", date(2026, 9, 1)), actor=decider,
                  now=NOW)
    services.record_review(person, services.ReviewDetails(
        date(2026, 9, 1), "continue", TODAY - timedelta(days=3)), actor=decider, now=NOW)
    db.session.commit()
    assert person.site_id in site_ids("coventry")
    return person


def test_a_case_belongs_to_the_persons_site_and_every_site_they_were_referred_at(
        living_elsewhere, team):
    """The dashboard counted people by the allocation's and the episode's
    site, the list behind each figure by the person's own site: a person
    living at Coventry and randomised at Wolverhampton counted on
    Wolverhampton's dashboard and was on none of its lists, and on
    Coventry's lists but not its dashboard. Both now follow who may see
    the person: their site and every site they were referred at."""
    person, lead = living_elsewhere, team["lead"]

    def listed(sites, **filters):
        page = services.case_list(services.CaseFilter(**filters), sites, actor=lead,
                                  today=TODAY, thresholds=THRESHOLDS)
        return {row.person.id for row in page.rows}

    for sites in (site_ids("wolverhampton"), site_ids("coventry"),
                  site_ids("coventry", "wolverhampton")):
        figures = services.dashboard(sites, actor=lead, today=TODAY, thresholds=THRESHOLDS)
        # each person once, though their case belongs to both sites
        assert figures.treated[Pathway.ENGAGED] == 1 and figures.treated_total == 1
        assert figures.overdue_contacts == 1 and figures.reviews_overdue == 1
        assert listed(sites, arm="treatment", pathway="engaged", include_closed=True) \
            == {person.id}
        assert listed(sites, signal="overdue") == {person.id}
        assert listed(sites, signal="review_overdue") == {person.id}
        # and the overdue contacts list (it read the episode's site: found by review)
        assert [row.person.id for row in notes.overdue_contacts(
            lead, today=TODAY, thresholds=THRESHOLDS, site_ids=sites)] == [person.id]
        # the site filter, by the same rule
        for site in sites:
            assert listed(site_ids("coventry", "wolverhampton"), site_id=site) == {person.id}
    # a site filter outside the reader's sites finds no one
    assert listed(site_ids("wolverhampton"), site_id=next(iter(site_ids("coventry")))) == set()
    nowhere = services.dashboard(site_ids("walsall"), actor=lead, today=TODAY,
                                 thresholds=THRESHOLDS)
    assert (nowhere.treated_total, nowhere.overdue_contacts, nowhere.reviews_overdue) == (0, 0, 0)
    assert listed(site_ids("walsall"), include_closed=True) == set()
    row = services.case_list(services.CaseFilter(), site_ids("wolverhampton"), actor=lead,
                             today=TODAY, thresholds=THRESHOLDS).rows[0]
    assert row.sites == site_ids("coventry", "wolverhampton")


def test_caseloads_count_a_caseworkers_cases_at_every_site_they_belong_to(
        living_elsewhere, team):
    wes = team["wes"]
    services.assign(living_elsewhere, wes, "Near the referral", actor=None, now=NOW)
    db.session.commit()
    rows = {r.caseworker.id: r for r in services.caseloads(
        site_ids("wolverhampton"), actor=team["lead"], today=TODAY, thresholds=THRESHOLDS).rows}
    assert (rows[wes.id].active, rows[wes.id].overdue) == (1, 1)
    assert rows[wes.id].by_pathway[Pathway.ENGAGED] == 1
    listed = services.case_list(services.CaseFilter(caseworker_id=wes.id),
                                site_ids("wolverhampton"), actor=team["lead"], today=TODAY,
                                thresholds=THRESHOLDS)
    assert [r.person.id for r in listed.rows] == [living_elsewhere.id]


def test_a_lead_of_the_site_a_person_was_referred_at_reassigns_them(living_elsewhere, team,
                                                                    make_user):
    """To a caseworker of a site the case belongs to that the lead holds;
    the person's own site was required of both the lead and the caseworker."""
    person = living_elsewhere
    wolves_lead = make_user("lead", ("wolverhampton",), email="wolves-lead@example.org")
    with pytest.raises(services.CaseloadError, match="does not work at the site"):
        services.reassign([person.id], team["amy"].id, "Cover", actor=wolves_lead, now=NOW)
    services.reassign([person.id], team["wes"].id, "Near the referral", actor=wolves_lead,
                      now=NOW)
    db.session.commit()
    assert person.caseworker_id == team["wes"].id
    # recorded under the site the lead holds, so they find it in their log
    from casework.audit.models import AuditEvent

    handed = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(("case:assigned", "case:reassigned")),
        AuditEvent.actor_id == wolves_lead.id)).one()
    assert handed.site_id in site_ids("wolverhampton")
    # a lead of both sites gives it to a caseworker of either
    services.reassign([person.id], team["amy"].id, "Back home", actor=team["lead"], now=NOW)
    db.session.commit()
    assert person.caseworker_id == team["amy"].id
    walsall_lead = make_user("lead", ("walsall",), email="walsall-lead@example.org")
    with pytest.raises(services.CaseloadError, match="not at your sites"):
        services.reassign([person.id], team["wes"].id, "x", actor=walsall_lead, now=NOW)


def test_a_case_belongs_to_the_sites_whose_readers_may_see_the_person(make_referral):
    """``intake.services.at_sites`` is the rule of ``_at_sites`` (who may see
    a person), in a form checked person by person."""
    from casework.intake import services as intake
    from casework.intake.models import Person

    home = make_referral("coventry").person
    make_referral("wolverhampton", person=home)
    make_referral("birmingham", person=make_referral("coventry").person)
    make_referral("wolverhampton")
    make_referral("birmingham")
    for keys in [("coventry",), ("wolverhampton",), ("birmingham",),
                 ("coventry", "birmingham"), ("wolverhampton", "birmingham"), ("dudley",), ()]:
        sites = sorted(site_ids(*keys))
        ours = set(db.session.scalars(select(Person.id).where(intake.at_sites(sites))))
        theirs = set(db.session.scalars(select(Person.id).where(intake._at_sites(sites))))
        assert ours == theirs, keys


def test_the_case_list_pages_a_sites_people_and_those_referred_there_in_one_order(
        living_elsewhere, make_referral, team, monkeypatch):
    """A list longer than the cap and a shorter one are read differently
    (the name index walked, or the two parts read whole and sorted): the
    same people, in the same order, page after page."""
    for n in range(4):
        make_referral("wolverhampton", last_name=f"Livesapart{n}")  # around the name's place
    expected = sorted(services.case_list(
        services.CaseFilter(), site_ids("wolverhampton"), actor=team["lead"], today=TODAY,
        thresholds=THRESHOLDS, per_page=50).rows,
        key=lambda r: (r.person.last_name_key, r.person.first_name_key, r.person.id))
    assert len(expected) == 5 and living_elsewhere.id in {r.person.id for r in expected}
    for cap in (10, 2):  # under the cap, and past it
        monkeypatch.setattr(services, "COUNT_CAP", cap)
        pages = [services.case_list(services.CaseFilter(), site_ids("wolverhampton"),
                                    actor=team["lead"], today=TODAY, thresholds=THRESHOLDS,
                                    page=n, per_page=2) for n in (1, 2, 3)]
        assert [r.person.id for p in pages for r in p.rows] == [r.person.id for r in expected]
        assert (pages[0].capped, pages[0].total) == ((False, 5) if cap == 10 else (True, 2))


def test_cases_whose_caseworker_cannot_hold_them_need_a_caseworker(make_referral, team,
                                                                   make_user):
    """A leaver's open cases were on no caseload (only active members of
    the site have a row) and not among the cases with no caseworker: a
    lead never saw the cases they must reassign."""
    from casework.accounts import services as accounts
    from casework.intake import services as intake

    lead = team["lead"]
    leaver = make_user("caseworker", ("coventry",), display_name="Lea Leaver")
    moved = make_user("caseworker", ("coventry",), display_name="Mo Moved")
    now_evaluating = make_user("caseworker", ("coventry",), display_name="Eve Evaluating")
    people = {name: make_referral("coventry", last_name=name).person
              for name in ("Left", "Movedaway", "Evaluated", "Nobody", "Held", "Referredthere",
                           "Closed")}
    for name, holder in (("Left", leaver), ("Movedaway", moved),
                         ("Evaluated", now_evaluating), ("Held", team["amy"]),
                         ("Closed", leaver)):
        services.assign(people[name], holder, "Test", actor=None, now=NOW)
    people["Nobody"].caseworker_id = None
    # held by a Wolverhampton caseworker: the case belongs there too (a referral)
    make_referral("wolverhampton", person=people["Referredthere"])
    services.assign(people["Referredthere"], team["wes"], "Test", actor=None, now=NOW)
    for referral in people["Closed"].referrals:
        intake.close_referral(referral, "withdrawn", actor=lead, now=NOW)
    # living at Birmingham, referred at Coventry, held by the leaver: found at
    # Coventry among the people referred there
    people["Livesaway"] = make_referral("birmingham", last_name="Livesaway").person
    make_referral("coventry", person=people["Livesaway"])
    services.assign(people["Livesaway"], leaver, "Test", actor=None, now=NOW)
    accounts.deactivate_user(leaver, actor=None, now=NOW)
    moved.sites = accounts.sites_by_keys(["birmingham"])
    now_evaluating.role = "evaluator"
    db.session.commit()

    expected = {people[n].id for n in ("Left", "Movedaway", "Evaluated", "Nobody",
                                       "Livesaway")}
    for sites in (site_ids("coventry"), site_ids("coventry", "wolverhampton"),
                  site_ids("coventry", "wolverhampton", "birmingham", "dudley")):
        listed = services.case_list(services.CaseFilter(needs_caseworker=True), sites,
                                    actor=lead, today=TODAY, thresholds=THRESHOLDS)
        assert {row.person.id for row in listed.rows} == expected
        assert services.caseloads(sites, actor=lead, today=TODAY, thresholds=THRESHOLDS) \
            .needing == 5
    assert services.caseloads(site_ids("wolverhampton"), actor=lead, today=TODAY,
                              thresholds=THRESHOLDS).needing == 0
