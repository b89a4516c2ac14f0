"""A person who lives at one site and is referred at another: the records
made about them belong where the work is done, so that site's staff see
them; and what a closed referral leaves behind."""

from __future__ import annotations

from datetime import UTC, date, datetime

from casework.extensions import db
from casework.intake import services as intake
from casework.pathways import services as pathways
from casework.triage import services as triage

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_records_about_a_visiting_person_belong_to_the_working_site(
        make_referral, triage_referral, make_trial, make_user):
    from casework.accounts.services import sites_by_keys

    make_trial()
    coventry = sites_by_keys(["coventry"])[0]
    worker = make_user("caseworker", ("coventry",), email="cov@example.org")
    lead = make_user("lead", ("coventry",), email="covlead@example.org")
    referral = intake.record_referral(
        intake.PersonDetails("Visiting", "Person", date(2008, 1, 1), "male", "white_british",
                             "birmingham"),
        intake.ReferralDetails(coventry.id, date(2026, 6, 1), "police", "PC", "Reason"),
        existing_person_id=None, actor=worker, now=NOW)
    person = referral.person
    person.site_id = sites_by_keys(["birmingham"])[0].id  # lives in Birmingham
    db.session.commit()
    assert intake.working_site(person, worker) == coventry.id
    decided = triage.decide(triage_referral(referral), "eligible", None, actor=lead,
                            now=datetime(2026, 6, 2, tzinfo=UTC), key=b"test-trial-key")
    db.session.commit()
    if decided.allocation.arm == "treatment":
        pathways.move(person, pathways.MoveRequest("engaged", date(2026, 6, 3)), actor=worker,
                      now=NOW)
        proposal = pathways.move(person, pathways.MoveRequest(
            "disruption", date(2026, 6, 4), rationale="Active"), actor=worker, now=NOW)
        assert proposal.site_id == coventry.id
        assert proposal in pathways.pending_proposals(frozenset({coventry.id}))
        assert pathways.current_episode(person.id).site_id == coventry.id
    else:
        deviation = pathways.record_deviation(person, date(2026, 6, 3), "Visit", actor=worker,
                                              now=NOW)
        assert deviation.site_id == coventry.id


def test_a_closed_referral_leaves_the_triage_queue(make_referral, triage_referral, make_user):
    referral = make_referral("coventry")
    triage_referral(referral)
    assert triage.triage_queue(None, now=NOW).total == 1
    intake.close_referral(referral, "withdrawn", actor=make_user("caseworker"), now=NOW)
    db.session.commit()
    assert triage.triage_queue(None, now=NOW).items == []
