"""Pathways through the pages: the person page, recording a move, the
approvals queue, the control-arm guard, deviations and the summary."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime

from sqlalchemy import func, select

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.pathways import services
from casework.pathways.models import PathwayEpisode, PathwayProposal, ProtocolDeviation
from tests.conftest import day, living_at_coventry_treated_at_wolverhampton


def text_of(response) -> str:
    return response.get_data(as_text=True)



def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_person_page_shows_allocation_pathway_and_timeline(client, login_as, randomised):
    person = randomised("treatment")
    login_as("caseworker", ("coventry",))
    page = text_of(client.get(f"/people/{person.id}"))
    assert "Trial allocation" in page and "Treatment" in page
    assert "Now: <strong>Awaiting offer</strong> since 1 June 2026" in page
    assert "Pathway timeline" in page and "Randomised to treatment" in page
    assert "Record a pathway move" in page
    # the case record names the stratum, not the slot: with the arms a lead
    # sees, slots tell where a block starts, and so what comes next
    assert "Randomised to <strong>treatment</strong> (coventry)." in page
    assert "slot" not in page.lower()


def test_the_allocation_is_shown_at_englands_time(client, login_as, randomised):
    """Randomised at 23:30 UTC on 30 June, 00:30 on 1 July in England: the
    panel said "30 June 2026 at 23:30 UTC", and a move the caseworker then
    dated 30 June was refused as before randomisation (1 July). The panel
    now shows England's time, as every other date is (found by review)."""
    person = randomised("treatment", on=datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    login_as("caseworker", ("coventry",))
    page = text_of(client.get(f"/people/{person.id}"))
    assert "1 July 2026 at 00:30" in page and "23:30" not in page
    assert "Now: <strong>Awaiting offer</strong> since 1 July 2026" in page


def test_a_caseworker_records_a_move(client, login_as, post, randomised):
    person = randomised("treatment")
    login_as("caseworker", ("coventry",))
    form = text_of(client.get(f"/people/{person.id}/pathway"))
    assert 'value="engaged"' in form and 'value="disruption"' not in form

    response = post(f"/people/{person.id}/pathway",
                    {"target": "engaged", "effective_date": ["", "6", "2026"],
                     "rationale": "Met at the youth centre"})
    assert response.status_code == 422
    page = text_of(response)
    assert "must include a day" in page and "Met at the youth centre" in page
    assert count(PathwayEpisode) == 1

    response = post(f"/people/{person.id}/pathway",
                    {"target": "engaged", "effective_date": day(date(2026, 6, 3))})
    assert response.status_code == 302
    assert services.current_episode(person.id).pathway == "engaged"
    assert "Moved to engaged" in text_of(client.get(f"/people/{person.id}"))


def test_a_caseworker_is_offered_only_the_moves_they_may_make(client, login_as, post,
                                                             randomised, make_user):
    """Out of disruption to at-risk monitoring, and reopening, are a lead's:
    a caseworker is not offered them only to be refused on sending."""
    person = randomised("treatment")
    lead = make_user("lead", ("coventry",), email="pathway-lead@example.org")
    services.move(person, services.MoveRequest("exited", date(2026, 6, 3), "moved_away"),
                  actor=lead, now=datetime(2026, 11, 21, tzinfo=UTC))
    db.session.commit()
    login_as("caseworker", ("coventry",))
    page = text_of(client.get(f"/people/{person.id}/pathway"))
    assert f"Only a lead can move {person.full_name} on from exited" in page
    assert 'name="target"' not in page
    response = post(f"/people/{person.id}/pathway",
                    {"target": "engaged", "effective_date": day(date(2026, 6, 4)),
                     "rationale": "Back"})
    assert response.status_code == 422 and count(PathwayEpisode) == 2
    post("/sign-out", {})
    login_as("lead", ("coventry",))
    page = text_of(client.get(f"/people/{person.id}/pathway"))
    assert 'value="engaged"' in page and 'value="at_risk_monitoring"' in page


def test_control_arm_is_offered_no_pathway_action(client, login_as, post, randomised):
    person = randomised("control")
    login_as("caseworker", ("coventry",))
    page = text_of(client.get(f"/people/{person.id}"))
    assert "Control arm" in page and "Record a pathway move" not in page
    assert "Record a programme contact (protocol deviation)" in page
    form = text_of(client.get(f"/people/{person.id}/pathway"))
    assert "control arm" in form and "Record the move" not in form
    response = post(f"/people/{person.id}/pathway",
                    {"target": "engaged", "effective_date": day(date(2026, 6, 3))})
    assert response.status_code == 422 and "control arm" in text_of(response)
    assert count(PathwayEpisode) == 0

    response = post(f"/people/{person.id}/deviation",
                    {"occurred_on": day(date(2026, 7, 1)),
                     "description": "Mentor called the wrong person"})
    assert response.status_code == 302
    assert count(ProtocolDeviation) == 1
    assert "Mentor called the wrong person" in text_of(client.get(f"/people/{person.id}"))


def test_disruption_goes_to_the_lead_queue(client, login_as, post, randomised, make_user):
    from tests.conftest import sign_in

    person = randomised("treatment")
    services.move(person, services.MoveRequest("engaged", date(2026, 6, 3)),
                  actor=make_user("caseworker", ("coventry",)), now=datetime.now(UTC))
    db.session.commit()
    login_as("caseworker", ("coventry",))
    response = post(f"/people/{person.id}/pathway",
                    {"target": "disruption", "effective_date": day(date(2026, 7, 1))})
    assert response.status_code == 422 and "Give a rationale" in text_of(response)
    response = post(f"/people/{person.id}/pathway",
                    {"target": "disruption", "effective_date": day(date(2026, 7, 1)),
                     "rationale": "Arrested twice"})
    assert response.status_code == 302
    proposal = db.session.scalars(select(PathwayProposal)).one()
    assert "waiting for a lead" in text_of(client.get(f"/people/{person.id}"))
    assert client.get("/pathways/approvals").status_code == 403

    make_user("lead", ("coventry",), email="lead@example.org")
    post("/sign-out")
    sign_in(client, "lead@example.org")
    queue = text_of(client.get("/pathways/approvals"))
    assert person.full_name in queue and "Engaged to disruption" in queue
    response = post(f"/pathways/proposals/{proposal.id}", {"decision": "reject"})
    assert response.status_code == 422 and "Say why the proposal is rejected" in text_of(response)
    response = post(f"/pathways/proposals/{proposal.id}", {"decision": "approve"})
    assert response.status_code == 302
    assert services.current_episode(person.id).pathway == "disruption"
    assert "No proposals are waiting" in text_of(client.get("/pathways/approvals"))


def test_other_sites_proposals_answer_404(client, login_as, post, randomised, make_user):
    person = randomised("treatment", site="wolverhampton")
    worker = make_user("caseworker", ("wolverhampton",))
    proposal = _proposed(person, worker, "Active")
    db.session.commit()
    login_as("lead", ("coventry",))
    assert person.full_name not in text_of(client.get("/pathways/approvals"))
    assert client.get(f"/pathways/proposals/{proposal.id}").status_code == 404
    assert post(f"/pathways/proposals/{proposal.id}", {"decision": "approve"}).status_code == 404
    assert client.get(f"/people/{person.id}/pathway").status_code == 404
    assert db.session.get(PathwayProposal, proposal.id).status == "pending"


def test_the_summary_page(client, login_as, post, randomised, make_user):
    person = randomised("treatment")
    services.move(person, services.MoveRequest("engaged", date(2026, 6, 3)),
                  actor=make_user("caseworker", ("coventry",)), now=datetime.now(UTC))
    db.session.commit()
    login_as("caseworker", ("coventry",))
    assert client.get("/pathways/summary").status_code == 403
    post("/sign-out")
    login_as("lead", ("coventry",))
    page = text_of(client.get("/pathways/summary?date_from=1&date_from=6&date_from=2026"
                              "&date_to=30&date_to=6&date_to=2026"))
    assert "Treated people now, by site" in page and "Coventry" in page
    assert "Wolverhampton" not in page
    assert "from 1 June 2026 to 30 June 2026" in page
    bad = client.get("/pathways/summary?date_from=31&date_from=2&date_from=2026")
    assert bad.status_code == 200 and "must be a real date" in text_of(bad)
    assert client.get("/pathways/deviations").status_code == 200


def _proposed(person, worker, rationale: str) -> PathwayProposal:
    """``person`` engaged from 3 June 2026, then proposed for disruption
    from 1 July by ``worker``."""
    services.move(person, services.MoveRequest("engaged", date(2026, 6, 3)), actor=worker,
                  now=datetime.now(UTC))
    return services.move(person, services.MoveRequest("disruption", date(2026, 7, 1),
                                                      rationale=rationale),
                         actor=worker, now=datetime.now(UTC))


def hidden(response, name: str) -> str:
    """The hidden field ``name``'s value on the page ("" if it has none)."""
    found = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', text_of(response))
    return found.group(1) if found else ""


def audited(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == action))


def test_a_deviation_sent_twice_is_recorded_once(client, login_as, post, randomised):
    """Deviations are append-only: a double click recorded two that could
    never be taken away (found by review)."""
    person = randomised("control")
    login_as("caseworker", ("coventry",))
    path = f"/people/{person.id}/deviation"
    form = {"occurred_on": day(date(2026, 7, 1)), "description": "Mentor called him",
            "submission": hidden(client.get(path), "submission")}
    first, again = post(path, form), post(path, form)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"] == f"/people/{person.id}"
    assert count(ProtocolDeviation) == 1 and audited("deviation:recorded") == 1
    page = text_of(client.get(f"/people/{person.id}"))
    assert "This was already saved: it is recorded once" in page
    # a form sent back with its errors keeps its key; a new form is a new deviation
    fresh = hidden(client.get(path), "submission")
    assert fresh != form["submission"]
    refused = post(path, {**form, "submission": fresh, "description": ""})
    assert refused.status_code == 422 and hidden(refused, "submission") == fresh
    assert post(path, {**form, "submission": fresh}).status_code == 302
    assert count(ProtocolDeviation) == 2


def test_a_move_sent_twice_is_recorded_once(client, login_as, post, randomised):
    """A move sent again (a double click) is the first's: the page says it
    was saved, where it said "Someone else saved changes here" of the
    sender's own click. A move from another page drawn before it (its own
    key) is refused as stale: the person has left the pathway it was drawn
    from."""
    person = randomised("treatment")
    login_as("caseworker", ("coventry",))
    path = f"/people/{person.id}/pathway"
    other_tab = {"target": "engaged", "effective_date": day(date(2026, 6, 4)),
                 **{name: hidden(client.get(path), name) for name in ("version", "submission")}}
    page = client.get(path)
    form = {"target": "engaged", "effective_date": day(date(2026, 6, 3)),
            **{name: hidden(page, name) for name in ("version", "submission")}}
    first, again = post(path, form), post(path, form)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == f"/people/{person.id}"
    assert "This was already saved: it is recorded once" in text_of(client.get(again.location))
    assert count(PathwayEpisode) == 2 and audited("pathway:changed") == 2
    stale = post(path, other_tab)
    assert stale.status_code == 422
    assert count(PathwayEpisode) == 2 and audited("pathway:changed") == 2
    # stale, said so: the move chosen (engaged) is no longer offered from
    # engaged, and the form's own check of the choices said only "Move to
    # must be one of the options"
    page = html.unescape(text_of(stale))
    assert "Someone else saved changes here since you opened this page" in page
    assert "must be one of the options" not in page and "<strong>Engaged</strong>" in page
    assert hidden(stale, "version") == services.pathway_version(
        services.current_episode(person.id))


def test_a_proposal_and_its_decision_sent_twice_are_recorded_once(client, login_as, post,
                                                                  randomised, make_user):
    person = randomised("treatment")
    services.move(person, services.MoveRequest("engaged", date(2026, 6, 3)),
                  actor=make_user("caseworker", ("coventry",)), now=datetime.now(UTC))
    db.session.commit()
    login_as("caseworker", ("coventry",))
    path = f"/people/{person.id}/pathway"
    form = {"target": "disruption", "effective_date": day(date(2026, 7, 1)),
            "rationale": "Arrested twice", "version": hidden(client.get(path), "version")}
    assert post(path, form).status_code == 302
    again = post(path, form)
    assert again.status_code == 422 and "is waiting for a lead" in text_of(again)
    assert count(PathwayProposal) == 1 and audited("pathway:proposed") == 1
    proposal = db.session.scalars(select(PathwayProposal)).one()

    post("/sign-out")
    login_as("lead", ("coventry",))
    decision = {"decision": "approve"}
    assert post(f"/pathways/proposals/{proposal.id}", decision).status_code == 302
    again = post(f"/pathways/proposals/{proposal.id}", decision)
    assert again.status_code == 422 and "This proposal was already approved" in text_of(again)
    assert count(PathwayEpisode) == 3 and audited("pathway:approved") == 1


def test_a_lead_of_the_persons_own_site_opens_a_proposal_made_at_another(
        client, login_as, post, make_trial, make_referral, triage_referral, make_user):
    """A person belongs to their own site and every site they were referred
    at: a lead of their own site, who opens their page, got 404 (and an
    access:denied) for a proposal made at the site that randomised them."""
    person = living_at_coventry_treated_at_wolverhampton(
        make_trial, make_referral, triage_referral, make_user,
        randomised_on=date(2026, 6, 1), engaged_on=date(2026, 6, 3))
    worker = make_user("caseworker", ("wolverhampton",), email="wolves@example.org")
    proposal = services.move(person, services.MoveRequest("disruption", date(2026, 7, 1),
                                                          rationale="Arrested twice"),
                             actor=worker, now=datetime(2026, 7, 1, 12, tzinfo=UTC))
    db.session.commit()
    login_as("lead", ("coventry",))
    assert client.get(f"/people/{person.id}").status_code == 200
    # the queue and the dashboard's figure show it them too (they went by the
    # proposal's site: a proposal they could decide that nothing showed them)
    assert person.full_name in text_of(client.get("/pathways/approvals"))
    assert '>1<span class="govuk-visually-hidden"> disruption proposals waiting' \
        in text_of(client.get("/dashboard"))
    page = client.get(f"/pathways/proposals/{proposal.id}")
    assert page.status_code == 200 and "Arrested twice" in text_of(page)
    assert audited("access:denied") == 0
    assert post(f"/pathways/proposals/{proposal.id}", {"decision": "approve"}).status_code == 302
    assert services.current_episode(person.id).pathway == "disruption"
    # a lead of a site the person has nothing to do with still gets 404, audited
    post("/sign-out")
    login_as("lead", ("birmingham",))
    assert client.get(f"/pathways/proposals/{proposal.id}").status_code == 404
    assert audited("access:denied") == 1


def test_the_deviation_page_of_someone_not_in_the_control_arm_says_so(client, login_as, post,
                                                                     randomised, make_referral):
    """Reached by its address, it said "<name> is in the control arm" of a
    treated or unrandomised person (found by review)."""
    treated, waiting = randomised("treatment"), make_referral("coventry").person
    login_as("caseworker", ("coventry",))
    for person, why in ((treated, "is in the treatment arm, not the control arm"),
                        (waiting, "has not been randomised, so is in neither arm")):
        path = f"/people/{person.id}/deviation"
        response = client.get(path)
        page = html.unescape(text_of(response))
        assert response.status_code == 200
        assert f"{person.full_name} {why}" in page and "is in the control arm" not in page
        assert "control arm</span>" not in page and 'name="occurred_on"' not in page
        assert f"/people/{person.id}/notes/new?kind=contact" in page
        sent = post(path, {"occurred_on": day(date(2026, 7, 1)), "description": "Visit"})
        assert sent.status_code == 422 and why in html.unescape(text_of(sent))
    assert count(ProtocolDeviation) == 0


def test_a_decided_proposal_reaches_the_caseworker(client, login_as, post, randomised,
                                                   make_user):
    """A rejected proposal and the lead's reason reached no page a
    caseworker could open: the proposal's page is a lead's, and the box
    saying it waited just disappeared (found by review). While it waits,
    the move page says so, and records any other move."""
    from tests.conftest import sign_in

    person = randomised("treatment")
    services.move(person, services.MoveRequest("engaged", date(2026, 6, 3)),
                  actor=make_user("caseworker", ("coventry",)), now=datetime.now(UTC))
    db.session.commit()
    worker = login_as("caseworker", ("coventry",), display_name="Cara Worker")
    assert post(f"/people/{person.id}/pathway", {
        "target": "disruption", "effective_date": day(date(2026, 7, 1)),
        "rationale": "Arrested twice"}).status_code == 302
    proposal = db.session.scalars(select(PathwayProposal)).one()
    page = html.unescape(text_of(client.get(f"/people/{person.id}")))
    assert "Proposed by Cara Worker: disruption from 1 July 2026" in page
    assert "A lead approves or rejects it from their Pending approvals page" in page
    move = html.unescape(text_of(client.get(f"/people/{person.id}/pathway")))
    assert "A lead approves or rejects it from their Pending approvals page" in move
    assert "not even an exit" not in move and f"/pathways/proposals/{proposal.id}" not in move
    assert "recording a move ends the waiting proposal" in move

    lead = make_user("lead", ("coventry",), email="lena@example.org", display_name="Lena Lead")
    post("/sign-out")
    sign_in(client, lead.email)
    for path in (f"/people/{person.id}", f"/people/{person.id}/pathway"):
        assert f'href="/pathways/proposals/{proposal.id}">Approve or reject the proposal' in \
            text_of(client.get(path)), path
    assert post(f"/pathways/proposals/{proposal.id}", {
        "decision": "reject", "note": "Not enough evidence yet"}).status_code == 302

    post("/sign-out")
    sign_in(client, worker.email)
    page = html.unescape(text_of(client.get(f"/people/{person.id}")))
    decided = re.search(r'data-testid="proposal-decided">(.*?)</div>', page, re.S).group(1)
    assert (f"The proposal by Cara Worker to move {person.full_name} to disruption from "
            "1 July 2026 was <strong>rejected</strong> by Lena Lead on ") in decided
    assert decided.endswith("Why: Not enough evidence yet")
    record = page.split('id="case-record"')[1]
    assert ("Proposal by Cara Worker to move to disruption from 1 July 2026 "
            "<strong>rejected</strong> by Lena Lead. Why: Not enough evidence yet") in record
    assert "Record a pathway move" in page
    # until the next move: then the record keeps it
    assert post(f"/people/{person.id}/pathway", {
        "target": "at_risk_monitoring", "effective_date": day(date(2026, 7, 2))}).status_code == 302
    page = text_of(client.get(f"/people/{person.id}"))
    assert 'data-testid="proposal-decided"' not in page
    assert "Why: Not enough evidence yet" in page.split('id="case-record"')[1]


def test_an_approved_proposal_says_who_approved_it(client, login_as, post, randomised,
                                                   make_user):
    person = randomised("treatment")
    worker = make_user("caseworker", ("coventry",), display_name="Cara Worker")
    proposal = _proposed(person, worker, "Arrested twice")
    services.approve(proposal, actor=make_user("lead", ("coventry",), display_name="Lena Lead"),
                     now=datetime.now(UTC))
    db.session.commit()
    login_as("caseworker", ("coventry",))
    page = text_of(client.get(f"/people/{person.id}"))
    assert "to disruption from 1 July 2026 was <strong>approved</strong> by Lena Lead" in page
    assert ("Proposal by Cara Worker to move to disruption from 1 July 2026 "
            "<strong>approved</strong> by Lena Lead.") in page


def test_a_move_recorded_while_a_proposal_waits_ends_it(client, login_as, post, randomised,
                                                        make_user):
    """While a disruption proposal waited, the move page refused every
    move, a death or custody too, until a lead rejected the proposal. It
    shows the form (without a second proposal), the exit is recorded, and
    the proposal lapses: off the lead's queue, shown lapsed on its page and
    the person's record, and no longer approved."""
    from tests.conftest import sign_in

    person = randomised("treatment")
    worker = make_user("caseworker", ("coventry",), email="cara@example.org",
                       display_name="Cara Worker")
    proposal = _proposed(person, worker, "Arrested twice")
    db.session.commit()
    lead = make_user("lead", ("coventry",), email="lena@example.org", display_name="Lena Lead")
    sign_in(client, lead.email)
    assert person.full_name in text_of(client.get("/pathways/approvals"))
    waiting = '>1<span class="govuk-visually-hidden"> disruption proposals waiting'
    assert waiting in text_of(client.get("/dashboard"))
    post("/sign-out")

    sign_in(client, worker.email)
    assert "Record a pathway move" in text_of(client.get(f"/people/{person.id}"))
    path = f"/people/{person.id}/pathway"
    page = client.get(path)
    form = text_of(page)
    assert page.status_code == 200 and "is waiting for a lead" in form
    assert 'name="target"' in form and 'value="exited"' in form
    assert 'value="disruption"' not in form  # a second proposal is not offered
    assert "govuk-warning-text" not in form and "not even an exit" not in form
    # a second proposal sent all the same is refused as before
    again = post(path, {"target": "disruption", "effective_date": day(date(2026, 7, 2)),
                        "rationale": "Again", "version": hidden(page, "version")})
    assert again.status_code == 422 and "is waiting for a lead" in text_of(again)
    assert count(PathwayProposal) == 1

    done = post(path, {"target": "exited", "effective_date": day(date(2026, 7, 5)),
                       "exit_reason": "died", "version": hidden(page, "version")},
                follow_redirects=True)
    shown = html.unescape(text_of(done))
    assert done.status_code == 200 and "Moved to exited" in shown
    assert f"The proposal to move {person.full_name} to disruption lapsed" in shown
    assert services.current_episode(person.id).pathway == "exited"
    assert db.session.get(PathwayProposal, proposal.id).status == "lapsed"
    assert audited("pathway:proposal_lapsed") == 1
    box = re.search(r'data-testid="proposal-decided">(.*?)</div>', shown, re.S).group(1)
    assert (f"The proposal by Cara Worker to move {person.full_name} to disruption from "
            "1 July 2026 <strong>lapsed</strong> on ") in box
    assert box.endswith(f"undecided: {person.full_name} moved to exited on 5 July 2026 "
                        "before it was decided.")
    record = shown.split('id="case-record"')[1]
    assert "to move to disruption from 1 July 2026 <strong>lapsed</strong>, undecided" in record

    post("/sign-out")
    sign_in(client, lead.email)
    assert "No proposals are waiting" in text_of(client.get("/pathways/approvals"))
    assert waiting not in text_of(client.get("/dashboard"))  # nor the dashboard's figure
    page = html.unescape(text_of(client.get(f"/pathways/proposals/{proposal.id}")))
    assert "Lapsed" in page and "Why it lapsed" in page and 'name="decision"' not in page
    refused = post(f"/pathways/proposals/{proposal.id}", {"decision": "approve"})
    assert refused.status_code == 422
    assert (f"This proposal lapsed: {person.full_name} moved to exited on 5 July 2026 before "
            "it was decided") in html.unescape(text_of(refused))
    assert services.current_episode(person.id).pathway == "exited"
    assert audited("pathway:approved") == 0


def test_a_move_refused_as_a_lead_approved_meanwhile_no_longer_says_it_waits(
        client, login_as, post, randomised, make_user, monkeypatch):
    """A caseworker records an exit as a lead approves the proposal: the
    move is refused (the person moved meanwhile, to disruption), and the
    page drawn again said the proposal still waited for a lead, above "Now:
    Disruption" (found by review, on PostgreSQL, two requests at once). Here
    the lead's approval is committed just before the move looks."""
    from tests.conftest import sign_in

    person = randomised("treatment")
    worker = make_user("caseworker", ("coventry",), email="cara@example.org")
    lead = make_user("lead", ("coventry",), email="lena@example.org")
    proposal = _proposed(person, worker, "Arrested twice")
    db.session.commit()
    sign_in(client, worker.email)
    path = f"/people/{person.id}/pathway"
    page = client.get(path)
    assert "is waiting for a lead" in text_of(page)
    move = services.move

    from casework.accounts.models import User

    proposal_id, lead_id = proposal.id, lead.id

    def approved_meanwhile(*args, **kwargs):  # (in the request's session)
        services.approve(db.session.get(PathwayProposal, proposal_id),
                         actor=db.session.get(User, lead_id), now=datetime.now(UTC))
        db.session.commit()
        return move(*args, **kwargs)

    monkeypatch.setattr(services, "move", approved_meanwhile)
    version = hidden(page, "version")
    db.session.commit()  # (the test's own reads end: the request writes)
    refused = post(path, {"target": "exited", "effective_date": day(date(2026, 7, 5)),
                          "exit_reason": "custody", "version": version})
    shown = text_of(refused)
    assert refused.status_code == 422 and "Disruption" in shown
    assert "is waiting for a lead" not in shown
    assert db.session.get(PathwayProposal, proposal_id).status == "approved"
