"""Pathway moves, disruption proposals and approvals, the control-arm guard,
protocol deviations and the leads' summary, on a real database."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.pathways import services
from casework.pathways.models import PathwayEpisode, PathwayProposal, ProtocolDeviation
from casework.pathways.states import Pathway

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def worker(make_user):
    return make_user("caseworker", ("coventry", "wolverhampton"), email="worker@example.org")


@pytest.fixture
def leads(make_user):
    return (make_user("lead", ("coventry",), email="lead-a@example.org"),
            make_user("lead", ("coventry",), email="lead-b@example.org"))


def move(person, target, on, actor, *, exit_reason=None, rationale=None, now=NOW):
    done = services.move(person, services.MoveRequest(target, on, exit_reason, rationale),
                         actor=actor, now=now)
    db.session.commit()
    return done


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_treatment_starts_awaiting_offer_and_control_has_no_pathway(randomised):
    treated = randomised("treatment")
    control = randomised("control")
    episode = services.current_episode(treated.id)
    assert episode.pathway == Pathway.AWAITING_OFFER
    assert episode.effective_date == date(2026, 6, 1) and episode.end_date is None
    assert services.current_episode(control.id) is None
    assert "pathway:changed" in actions()


def test_a_move_closes_the_previous_episode(randomised, worker):
    person = randomised("treatment")
    episode = move(person, "engaged", date(2026, 6, 10), worker)
    assert episode.pathway == Pathway.ENGAGED and episode.previous_pathway == Pathway.AWAITING_OFFER
    assert episode.reason == "Accepted at first meeting" and episode.proposed_by_id == worker.id
    timeline = services.episodes(person.id)
    assert [e.pathway for e in timeline] == [Pathway.ENGAGED, Pathway.AWAITING_OFFER]
    assert timeline[1].end_date == date(2026, 6, 10)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "pathway:changed").order_by(AuditEvent.id.desc())).first()
    assert event.detail["pathway"] == {"before": "awaiting_offer", "after": "engaged"}


def test_episodes_never_overlap(randomised, worker, leads):
    person = randomised("treatment")
    move(person, "engaged", date(2026, 6, 10), worker)
    move(person, "at_risk_monitoring", date(2026, 7, 1), worker)
    move(person, "engaged", date(2026, 7, 1), worker)
    move(person, "exited", date(2026, 8, 1), worker, exit_reason="moved_away")
    move(person, "engaged", date(2026, 9, 1), leads[0], rationale="Back in the area")
    spells = sorted((e.effective_date, e.end_date or date.max)
                    for e in services.episodes(person.id))
    for (start, end), (next_start, _) in itertools.pairwise(spells):
        assert start <= end == next_start
    assert db.session.scalar(select(func.count()).select_from(PathwayEpisode).where(
        PathwayEpisode.person_id == person.id, PathwayEpisode.end_date.is_(None))) == 1


@pytest.mark.parametrize(("on", "message"), [
    (date(2026, 11, 22), "cannot be in the future"),
    (date(2026, 5, 31), "before randomisation"),
])
def test_date_rules(randomised, worker, on, message):
    person = randomised("treatment")
    with pytest.raises(services.PathwayError) as refused:
        move(person, "engaged", on, worker)
    assert message in refused.value.problems["effective_date"]
    db.session.rollback()


def test_not_before_the_previous_change(randomised, worker):
    person = randomised("treatment")
    move(person, "engaged", date(2026, 7, 1), worker)
    with pytest.raises(services.PathwayError, match="before the previous change"):
        move(person, "at_risk_monitoring", date(2026, 6, 30), worker)
    db.session.rollback()


def test_a_caseworker_cannot_take_a_lead_decision(randomised, worker, leads):
    person = randomised("treatment")
    move(person, "exited", date(2026, 6, 5), worker, exit_reason="custody")
    with pytest.raises(services.PathwayError, match="Only a lead"):
        move(person, "engaged", date(2026, 7, 1), worker, rationale="Released")
    db.session.rollback()
    episode = move(person, "engaged", date(2026, 7, 1), leads[0], rationale="Released")
    assert episode.reason == "Reopened by a lead" and episode.rationale == "Released"


def test_disruption_is_proposed_and_approved_by_a_lead(randomised, worker, leads):
    person = randomised("treatment")
    move(person, "engaged", date(2026, 6, 10), worker)
    with pytest.raises(services.PathwayError) as refused:
        move(person, "disruption", date(2026, 7, 1), worker)
    assert "rationale" in refused.value.problems
    db.session.rollback()
    proposal = move(person, "disruption", date(2026, 7, 1), worker,
                    rationale="Arrested twice; refuses contact")
    assert isinstance(proposal, PathwayProposal) and proposal.status == "pending"
    assert services.current_episode(person.id).pathway == Pathway.ENGAGED
    with pytest.raises(services.PathwayError, match="already waiting"):
        move(person, "disruption", date(2026, 7, 2), worker, rationale="Again")
    db.session.rollback()

    episode = services.approve(proposal, actor=leads[0], now=NOW)
    db.session.commit()
    assert episode.pathway == Pathway.DISRUPTION and episode.effective_date == date(2026, 7, 1)
    assert episode.proposed_by_id == worker.id and episode.approved_by_id == leads[0].id
    assert episode.rationale == "Arrested twice; refuses contact"
    assert proposal.status == "approved" and proposal.decided_by_id == leads[0].id
    with pytest.raises(services.PathwayError, match="already approved"):
        services.approve(proposal, actor=leads[1], now=NOW)
    db.session.rollback()
    assert [a for a in actions() if a.startswith("pathway:")][-3:] == [
        "pathway:proposed", "pathway:approved", "pathway:changed"]


def test_a_lead_cannot_approve_their_own_proposal(randomised, leads):
    person = randomised("treatment")
    move(person, "at_risk_monitoring", date(2026, 6, 2), leads[0])
    proposal = move(person, "disruption", date(2026, 7, 1), leads[0], rationale="Active")
    assert isinstance(proposal, PathwayProposal)  # even a lead's proposal goes to the queue
    with pytest.raises(services.PathwayError, match="Another lead"):
        services.approve(proposal, actor=leads[0], now=NOW)
    db.session.rollback()
    services.approve(db.session.get(PathwayProposal, proposal.id), actor=leads[1], now=NOW)


def test_a_rejected_proposal_leaves_the_person_where_they_are(randomised, worker, leads):
    person = randomised("treatment")
    move(person, "engaged", date(2026, 6, 2), worker)
    proposal = move(person, "disruption", date(2026, 7, 1), worker, rationale="Active")
    with pytest.raises(services.PathwayError) as refused:
        services.reject(proposal, " ", actor=leads[0], now=NOW)
    assert "note" in refused.value.problems
    db.session.rollback()
    services.reject(proposal, "Give the new mentor a month", actor=leads[0], now=NOW)
    db.session.commit()
    assert proposal.status == "rejected" and proposal.decision_note.startswith("Give")
    assert services.current_episode(person.id).pathway == Pathway.ENGAGED
    assert "pathway:rejected" in actions()


def test_approval_after_the_person_moved_is_refused(randomised, worker, leads):
    person = randomised("treatment")
    move(person, "engaged", date(2026, 6, 10), worker)
    proposal = move(person, "disruption", date(2026, 7, 1), worker, rationale="Active")
    move(person, "at_risk_monitoring", date(2026, 7, 5), worker)
    with pytest.raises(services.PathwayError, match="This proposal lapsed"):
        services.approve(proposal, actor=leads[0], now=NOW)
    db.session.rollback()


def test_an_exit_recorded_while_a_proposal_waits_lapses_it(randomised, worker, leads):
    """A death or custody is the caseworker's to record (DESIGN.md), and
    was refused until a lead decided a disruption proposal waiting: it is
    recorded, and ends the proposal as lapsed, undecided, audited."""
    person = randomised("treatment")
    move(person, "engaged", date(2026, 6, 10), worker)
    proposal = move(person, "disruption", date(2026, 7, 1), worker, rationale="Active")
    later = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    episode = move(person, "exited", date(2026, 7, 5), worker, exit_reason="custody", now=later)
    assert episode.pathway == Pathway.EXITED and episode.reason == "In custody"
    assert services.current_episode(person.id) == episode
    db.session.expire_all()
    proposal = db.session.get(PathwayProposal, proposal.id)
    assert proposal.status == "lapsed" and services.pending_proposal(person.id) is None
    assert proposal.decided_at == later and proposal.decided_by_id is None
    assert proposal.decision_note == "moved to exited on 5 July 2026 before it was decided"
    assert [a for a in actions() if a.startswith("pathway:")][-3:] == [
        "pathway:proposed", "pathway:proposal_lapsed", "pathway:changed"]
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "pathway:proposal_lapsed")).one()
    assert event.actor_id == worker.id and event.subject_id == str(person.id)
    assert event.detail == {"proposal_id": proposal.id, "to": "disruption",
                            "moved_to": "exited", "effective_date": "2026-07-05"}
    # no lead can decide it now, and it waits on no lead's queue
    assert services.pending_proposals(None) == []
    for decide in (lambda: services.approve(proposal, actor=leads[0], now=NOW),
                   lambda: services.reject(proposal, "Too late", actor=leads[0], now=NOW)):
        with pytest.raises(services.PathwayError) as refused:
            decide()
        assert str(refused.value) == (f"This proposal lapsed: {person.full_name} moved to "
                                      "exited on 5 July 2026 before it was decided")
        db.session.rollback()
    assert services.current_episode(person.id).pathway == Pathway.EXITED
    assert services.person_pathway(person.id).decided == proposal


def test_a_second_proposal_waits_for_the_first_but_a_move_does_not(randomised, worker):
    person = randomised("treatment")
    move(person, "at_risk_monitoring", date(2026, 6, 10), worker)
    first = move(person, "disruption", date(2026, 7, 1), worker, rationale="Active")
    with pytest.raises(services.PathwayError, match="already waiting for a lead"):
        move(person, "disruption", date(2026, 7, 2), worker, rationale="Again")
    db.session.rollback()
    # accepted support ("the door stays open") ends it; a new proposal may follow
    move(person, "engaged", date(2026, 7, 3), worker)
    assert db.session.get(PathwayProposal, first.id).status == "lapsed"
    move(person, "at_risk_monitoring", date(2026, 8, 1), worker)
    second = move(person, "disruption", date(2026, 8, 2), worker, rationale="Active again")
    assert services.pending_proposal(person.id) == second
    assert db.session.get(PathwayProposal, first.id).status == "lapsed"


def test_the_control_arm_gets_no_pathway_action(randomised, worker):
    person = randomised("control")
    with pytest.raises(services.PathwayError, match="control arm"):
        move(person, "engaged", date(2026, 6, 10), worker)
    db.session.rollback()
    assert "control arm" in services.pathway_problem(person)
    assert db.session.scalar(select(func.count()).select_from(PathwayEpisode)) == 0


def test_contact_with_a_control_person_is_a_protocol_deviation(randomised, worker):
    control, treated = randomised("control"), randomised("treatment")
    with pytest.raises(services.PathwayError) as refused:
        services.record_deviation(control, date(2026, 11, 22), "", actor=worker, now=NOW)
    assert set(refused.value.problems) == {"occurred_on", "description"}
    db.session.rollback()
    deviation = services.record_deviation(control, date(2026, 7, 1), "Mentor visited by mistake",
                                          actor=worker, now=NOW)
    db.session.commit()
    assert deviation.kind == "programme_contact" and deviation.site_id == control.site_id
    assert "deviation:recorded" in actions()
    with pytest.raises(services.PathwayError, match="is in the treatment arm, not the control arm"):
        services.record_deviation(treated, date(2026, 7, 1), "Visit", actor=worker, now=NOW)
    db.session.rollback()
    assert services.person_pathway(control.id).deviations == [deviation]


def test_a_deviation_cannot_be_dated_before_the_randomisation(randomised, worker):
    # randomised on 1 June 2026 (the fixture's day): before it they were in no arm
    control = randomised("control")
    with pytest.raises(services.PathwayError) as refused:
        services.record_deviation(control, date(2026, 5, 31), "Visit", actor=worker, now=NOW)
    assert "before 1 June 2026, when they were randomised" in refused.value.problems["occurred_on"]
    db.session.rollback()
    services.record_deviation(control, date(2026, 6, 1), "Visit", actor=worker, now=NOW)


def test_the_summary_counts_by_hand(randomised, worker, leads):
    people = [randomised("treatment") for _ in range(4)]
    wolves = randomised("treatment", site="wolverhampton")
    control = randomised("control")
    move(people[0], "engaged", date(2026, 6, 10), worker)
    move(people[1], "engaged", date(2026, 6, 10), worker)
    move(people[1], "at_risk_monitoring", date(2026, 8, 10), worker)
    move(people[2], "exited", date(2026, 6, 20), worker, exit_reason="withdrew")
    move(people[3], "at_risk_monitoring", date(2026, 6, 11), worker)
    proposal = move(people[3], "disruption", date(2026, 6, 12), worker, rationale="Active")
    services.approve(proposal, actor=leads[0], now=NOW)
    services.record_deviation(control, date(2026, 7, 1), "Visit", actor=worker, now=NOW)
    db.session.commit()

    coventry = people[0].site_id
    result = services.summary(frozenset({coventry}), date_from=date(2026, 6, 1),
                              date_to=date(2026, 7, 31))
    (row,) = result.sites
    assert row.now == {Pathway.AWAITING_OFFER: 0, Pathway.ENGAGED: 1,
                       Pathway.AT_RISK_MONITORING: 1, Pathway.DISRUPTION: 1, Pathway.EXITED: 1}
    assert row.deviations == 1
    assert result.moves == {(Pathway.AWAITING_OFFER, Pathway.ENGAGED): 2,
                            (Pathway.AWAITING_OFFER, Pathway.EXITED): 1,
                            (Pathway.AWAITING_OFFER, Pathway.AT_RISK_MONITORING): 1,
                            (Pathway.AT_RISK_MONITORING, Pathway.DISRUPTION): 1}
    everywhere = services.summary(None, date_from=date(2026, 6, 1), date_to=date(2026, 12, 31))
    assert everywhere.totals[Pathway.AWAITING_OFFER] == 1  # the Wolverhampton person
    assert everywhere.moves[(Pathway.ENGAGED, Pathway.AT_RISK_MONITORING)] == 1
    assert wolves.site_id != coventry


@pytest.mark.postgres
@pytest.mark.parametrize("statement", [
    "UPDATE protocol_deviations SET description = 'x'", "DELETE FROM protocol_deviations"])
def test_postgres_keeps_protocol_deviations(randomised, worker, statement):
    control = randomised("control")
    services.record_deviation(control, date(2026, 7, 1), "Visit", actor=worker, now=NOW)
    db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(statement))
    assert db.session.scalar(select(func.count()).select_from(ProtocolDeviation)) == 1


@pytest.mark.postgres
def test_a_move_double_clicked_at_the_same_moment_is_one(app, randomised, worker):
    """The second request waits for the first's lock on the person, then
    finds its key claimed: it is told the move was saved, where it found
    the person moved and answered "Someone else saved changes here"."""
    from casework.submissions import new_key
    from tests.integration.test_concurrent_writes import _sent_at_once

    person = randomised("treatment")
    form = {"target": "engaged", "effective_date": ["3", "6", "2026"], "submission": new_key(),
            "version": services.pathway_version(services.current_episode(person.id))}
    results, errors = _sent_at_once(app, worker.email, f"/people/{person.id}/pathway",
                                    form, form)
    assert not errors and sorted(results.values()) == [302, 302], (results, errors)
    assert actions().count("pathway:changed") == 2  # randomised, then this move once


def test_a_persons_decided_proposals_are_found_by_an_index(app):
    """Their record shows how their latest proposal was decided, and every
    decision: each looked up by person (migration 0021), not by reading
    every proposal (SQLite's plans, on the models' own schema)."""
    from sqlalchemy import create_engine, inspect

    from casework.notes import timeline

    indexes = inspect(db.engine).get_indexes("pathway_proposals")
    assert ["person_id", "proposed_at"] in [index["column_names"] for index in indexes]
    engine = create_engine("sqlite://")
    db.metadata.create_all(engine)
    latest = (select(PathwayProposal).where(PathwayProposal.person_id == 1)
              .order_by(PathwayProposal.proposed_at.desc()).limit(1))
    page, _ = timeline._statements(False)
    for statement in (latest, page.params(person_id=1, actor_id=2, skip=0, take=20)):
        sql = statement.compile(engine, compile_kwargs={"literal_binds": True})
        with engine.connect() as conn:
            plan = "\n".join(row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        assert "pathway_proposals USING INDEX ix_pathway_proposals_person_id_proposed_at" \
            in plan, plan


def test_migration_0021_goes_down_and_up_again(app):
    from sqlalchemy import inspect

    from tests.conftest import load_migration, run_migration_step

    migration = load_migration("0021")
    for step, present in ((migration.downgrade, False), (migration.upgrade, True)):
        run_migration_step(step)
        names = {index["name"] for index in inspect(db.engine).get_indexes("pathway_proposals")}
        assert ("ix_pathway_proposals_person_id_proposed_at" in names) is present
