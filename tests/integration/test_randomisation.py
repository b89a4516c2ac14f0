"""Triage decisions and randomisation on a real database: the allocation
is made in the deciding transaction, follows the sequence, survives
concurrency, and can never be changed."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.intake.models import Referral
from casework.triage import services as triage_services
from casework.triage.models import Triage
from casework.trial import sequence
from casework.trial import services as trials
from casework.trial.models import (
    Allocation,
    AllocationInError,
    AllocationListEntry,
    AllocationMethod,
    TrialStatus,
)
from casework.trial.sequence import Arm

KEY = b"test-trial-key"  # tests/conftest.py base_config
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def lead(make_user):
    return make_user("lead", ("coventry", "wolverhampton", "birmingham"), email="lead@example.org")


def decide(triage, lead, decision="eligible", rationale=None):
    result = triage_services.decide(db.session.get(Triage, triage.id), decision, rationale,
                                    actor=lead, now=NOW, key=KEY)
    db.session.commit()
    return result


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_an_eligible_decision_randomises_in_the_same_transaction(
        make_trial, make_referral, triage_referral, lead):
    trial = make_trial()
    referral = make_referral("coventry")
    decided = decide(triage_referral(referral), lead)

    allocation = decided.allocation
    expected = sequence.slot(KEY, "cirv", "coventry", 1, trial.design)
    assert (allocation.stratum, allocation.slot, allocation.arm) == ("coventry", 1, expected.arm)
    assert allocation.person_id == referral.person_id and allocation.referral_id == referral.id
    assert allocation.method == "permuted_blocks"
    assert allocation.sequence_version == f"pb-hmac-sha256/1 key:{sequence.key_fingerprint(KEY)}"
    assert allocation.allocated_by_id == lead.id and allocation.allocated_at == NOW
    assert decided.decision == decided.computed_result == "eligible"
    assert [c["outcome"] for c in decided.criteria] == ["pass"] * 5
    assert db.session.get(Referral, referral.id).status == "eligible"
    assert actions()[-3:] == ["allocation:created", "triage:decided", "referral:status_changed"]


def test_an_ineligible_decision_uses_no_slot(make_trial, make_referral, triage_referral, lead):
    make_trial()
    triage = triage_referral(make_referral("coventry"), exclusions=["mappa_managed"])
    decided = decide(triage, lead, "ineligible")
    assert decided.allocation_id is None and decided.computed_result == "ineligible"
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 0
    assert db.session.get(Referral, triage.referral_id).status == "ineligible"


def test_an_override_is_recorded_with_its_rationale(make_trial, make_referral, triage_referral,
                                                     lead):
    make_trial()
    triage = triage_referral(make_referral("coventry"), panel_confirmed=None)
    with pytest.raises(triage_services.TriageError) as refused:
        decide(triage, lead, "eligible")
    assert "rationale" in refused.value.problems
    db.session.rollback()
    decided = decide(triage, lead, "eligible", "Panel chair confirmed by phone")
    assert decided.computed_result == "needs_review" and decided.decision == "eligible"
    assert decided.override_rationale == "Panel chair confirmed by phone"
    assert decided.allocation is not None
    assert "triage:overridden" in actions()


def test_a_refused_randomisation_keeps_nothing(make_trial, make_referral, triage_referral, lead):
    make_trial()
    triage = triage_referral(make_referral("coventry"))
    with pytest.raises(triage_services.TriageError, match="trial key is not configured"):
        triage_services.decide(db.session.get(Triage, triage.id), "eligible", None,
                               actor=lead, now=NOW, key=None)
    db.session.rollback()
    assert db.session.get(Triage, triage.id).decided_at is None
    assert db.session.get(Referral, triage.referral_id).status == "in_triage"
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 0


def test_without_a_trial_key_nobody_is_randomised(make_trial, make_referral, triage_referral,
                                                   lead):
    make_trial()
    triage = triage_referral(make_referral("coventry"))
    with pytest.raises(triage_services.TriageError, match="trial key is not configured"):
        triage_services.decide(db.session.get(Triage, triage.id), "eligible", None,
                               actor=lead, now=NOW, key=None)
    db.session.rollback()


def test_a_change_of_trial_key_is_refused(make_trial, make_referral, triage_referral, lead):
    """Allocations record their key's fingerprint; once people have been
    randomised under one key, a decision under another is refused, in any
    stratum, and nothing of it kept, since its slots would follow another
    sequence (the page and its audit: tests/web/test_triage.py). Under the
    first key again, randomisation goes on in order."""
    trial = make_trial()
    first = [decide(triage_referral(make_referral("coventry")), lead).allocation
             for _ in range(3)]
    fingerprint = sequence.key_fingerprint(KEY)
    assert {a.sequence_version for a in first} == {f"pb-hmac-sha256/1 key:{fingerprint}"}
    assert [a.arm for a in first] == [sequence.slot(KEY, "cirv", "coventry", n, trial.design).arm
                                      for n in (1, 2, 3)]

    other = sequence.key_fingerprint(b"another-key")
    waiting = triage_referral(make_referral("wolverhampton"))  # another stratum too
    with pytest.raises(triage_services.TriageError, match="trial key has changed") as refused:
        triage_services.decide(db.session.get(Triage, waiting.id), "eligible", None,
                               actor=lead, now=NOW, key=b"another-key")
    message = refused.value.problems[None]
    assert fingerprint in message and other in message and "another-key" not in message
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 3
    assert db.session.get(Triage, waiting.id).decided_at is None

    fourth = decide(waiting, lead).allocation
    assert (fourth.stratum, fourth.slot) == ("wolverhampton", 1)
    assert fourth.sequence_version == f"pb-hmac-sha256/1 key:{fingerprint}"


def test_allocations_stored_before_fingerprints_do_not_refuse_a_key(
        make_trial, make_referral, triage_referral, lead):
    """Rows stored before allocations recorded their key say nothing of it:
    they are not taken for another key's."""
    trial = make_trial()
    decide(triage_referral(make_referral("coventry")), lead)
    if db.engine.dialect.name == "postgresql":  # past the append-only triggers, as stored
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(Allocation.__table__.update().values(sequence_version=sequence.VERSION))
    db.session.commit()
    assert trials.allocations_without_key(trial) == 1
    assert trials.key_change(trial, b"another-key") is None
    later = decide(triage_referral(make_referral("coventry")), lead).allocation
    assert later.slot == 2 and sequence.fingerprint_in(later.sequence_version) == \
        sequence.key_fingerprint(KEY)


def test_a_decided_triage_cannot_be_decided_or_changed_again(
        make_trial, make_referral, triage_referral, lead):
    make_trial()
    triage = triage_referral(make_referral("coventry"))
    decide(triage, lead)
    with pytest.raises(triage_services.TriageError, match="already decided"):
        decide(triage, lead, "ineligible", "Changed my mind")
    db.session.rollback()
    with pytest.raises(triage_services.TriageError, match="facts are locked"):
        triage_referral(db.session.get(Referral, triage.referral_id), panel_confirmed=False)
    db.session.rollback()


def test_a_re_referred_person_keeps_their_allocation(make_trial, make_referral, triage_referral,
                                                     lead):
    make_trial()
    first = make_referral("coventry")
    original = decide(triage_referral(first), lead).allocation
    again = make_referral("coventry", person=first.person,
                          referral_date=date(2026, 11, 10))
    triage = triage_referral(again)
    assessment = triage_services.assess(triage)
    assert assessment.criterion("C4").outcome == "fail"
    assert triage_services.existing_allocation(triage).id == original.id
    with pytest.raises(triage_services.TriageError, match="cannot be overridden"):
        decide(triage, lead, "eligible", "Try again")
    db.session.rollback()
    decided = decide(triage, lead, "ineligible")
    assert decided.allocation_id == original.id
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 1


@pytest.mark.parametrize("elsewhere", ["outside_any_trial", "in_another_trial"])
def test_a_person_is_randomised_once_whatever_the_trial(make_trial, make_referral,
                                                        triage_referral, lead, elsewhere):
    make_trial()
    if elsewhere == "in_another_trial":
        make_trial(sites=("birmingham",), key="cirv-b", name="A second trial")
    first = make_referral("coventry")
    original = decide(triage_referral(first), lead).allocation
    again = make_referral("birmingham", person=first.person, referral_date=date(2026, 11, 10))
    triage = triage_referral(again)
    c4 = triage_services.assess(triage).criterion("C4")
    assert (c4.outcome, c4.reason) == (
        "fail", "Already randomised; the person keeps that allocation and is never "
                "randomised again.")
    assert triage_services.existing_allocation(triage).id == original.id
    with pytest.raises(triage_services.TriageError, match="cannot be overridden"):
        decide(triage, lead, "eligible", "Try again")
    db.session.rollback()
    decided = decide(triage, lead, "ineligible")
    assert decided.allocation_id == original.id  # the re-referral is linked to it
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 1


def test_without_an_open_trial_c2_says_so(make_trial, make_referral, triage_referral):
    c2 = triage_services.assess(triage_referral(make_referral("coventry"))).criterion("C2")
    assert (c2.outcome, c2.reason) == ("fail", "Site is Coventry; no trial is open.")
    make_trial()  # at Coventry and Wolverhampton, not Birmingham
    c2 = triage_services.assess(triage_referral(make_referral("birmingham"))).criterion("C2")
    assert (c2.outcome, c2.reason) == (
        "fail", "Site is Birmingham; the trial runs only in Coventry and Wolverhampton.")


def _close(trial, lead):
    trials.save_trial(trial, trials.TrialSettings(
        name=trial.name, site_keys=[s.key for s in trial.sites], status=TrialStatus.CLOSED),
        actor=lead, now=NOW)
    db.session.commit()


def test_a_triage_is_decided_under_the_trial_open_now(make_trial, make_referral,
                                                       triage_referral, lead):
    """The trial open when a triage began closed, and another opened: the
    triage was assessed and decided under the closed one, so deciding
    eligible was refused for ever ("CIRV one is closed to new allocations")."""
    first = make_trial(key="cirv-1", name="CIRV one")
    triage = triage_referral(make_referral("coventry"))
    _close(first, lead)
    second = make_trial(key="cirv-2", name="CIRV two", sites=("coventry",))
    assert triage_services.assess(triage).result == "eligible"
    decided = decide(triage, lead)
    assert decided.trial_id == second.id and decided.allocation.trial_id == second.id
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "triage:decided")
                               ).one()
    assert event.detail["trial"] == "cirv-2"
    _close(second, lead)  # a decided triage keeps the trial it was decided under
    make_trial(key="cirv-3", name="CIRV three", sites=("coventry",))
    kept = db.session.get(Triage, triage.id)
    assert kept.trial_id == second.id
    assert triage_services.existing_allocation(kept).id == decided.allocation_id


def test_a_triage_begun_before_its_trial_closed_is_assessed_as_one_begun_after(
        make_trial, make_referral, triage_referral, lead):
    """It was assessed under the closed trial: C2 passed, so the rules gave
    eligible and deciding ineligible was an override needing a rationale,
    where a triage begun after the close got C2 fail."""
    trial = make_trial()
    before = triage_referral(make_referral("coventry"))
    _close(trial, lead)
    after = triage_referral(make_referral("coventry"))
    assessed = [triage_services.assess(t) for t in (before, after)]
    assert assessed[0].criteria == assessed[1].criteria
    assert (assessed[0].result, assessed[0].criterion("C2").reason) == (
        "ineligible", "Site is Coventry; no trial is open.")
    decided = decide(before, lead, "ineligible")
    assert not decided.overridden and decided.trial_id is None
    assert "triage:overridden" not in actions()


def test_age_band_strata(make_trial, make_referral, triage_referral, lead):
    make_trial(stratify_by_age_band=True)
    young = decide(triage_referral(make_referral("coventry", dob=date(2010, 1, 1))), lead)
    adult = decide(triage_referral(make_referral("coventry", dob=date(1990, 1, 1))), lead)
    assert young.allocation.stratum == "coventry/14-17"
    assert adult.allocation.stratum == "coventry/25+"
    assert young.allocation.slot == adult.allocation.slot == 1


def test_an_uploaded_allocation_list_is_used_in_order(make_trial, make_referral,
                                                      triage_referral, lead):
    data = b"stratum,slot,arm\ncoventry,1,control\ncoventry,2,control\nwolverhampton,1,treatment\n"
    trial = make_trial(method="allocation_list", allocation_list=data)
    arms = [decide(triage_referral(make_referral("coventry")), lead).allocation
            for _ in range(2)]
    assert [(a.slot, a.arm) for a in arms] == [(1, Arm.CONTROL), (2, Arm.CONTROL)]
    assert arms[0].sequence_version == f"list-sha256:{hashlib.sha256(data).hexdigest()}"
    third = triage_referral(make_referral("coventry"))
    with pytest.raises(triage_services.TriageError, match="no slot 3 for stratum coventry"):
        decide(third, lead)
    db.session.rollback()
    with pytest.raises(trials.TrialError, match="adds no slots to the current list"):
        trials.upload_allocation_list(trial, data, "again.csv", actor=lead, now=NOW)
    db.session.rollback()


LIST = b"stratum,slot,arm\ncoventry,1,treatment\ncoventry,2,control\n"


def test_a_used_up_allocation_list_is_extended(make_trial, make_referral, triage_referral,
                                               lead):
    """Once its slots are used, a longer list with every row of the list
    held is taken (it was refused as a replacement, so nobody more could
    be randomised in the trial)."""
    trial = make_trial(sites=("coventry",), method="allocation_list", allocation_list=LIST)
    first_sha256 = hashlib.sha256(LIST).hexdigest()
    used = [decide(triage_referral(make_referral("coventry")), lead).allocation
            for _ in range(2)]
    waiting = triage_referral(make_referral("coventry"))
    with pytest.raises(triage_services.TriageError, match="no slot 3"):
        decide(waiting, lead)
    db.session.rollback()

    longer = LIST + b"coventry,3,control\ncoventry,4,treatment\n"
    second = trials.upload_allocation_list(trial, longer, "longer.csv", actor=lead, now=NOW)
    db.session.commit()
    third = decide(waiting, lead).allocation
    assert (third.slot, third.arm) == (3, Arm.CONTROL)
    assert third.sequence_version == f"list-sha256:{second.sha256}"
    assert [a.sequence_version for a in used] == [f"list-sha256:{first_sha256}"] * 2
    assert db.session.get(type(trial), trial.id).allocation_list_sha256 == second.sha256
    assert db.session.scalar(select(func.count()).select_from(AllocationListEntry)) == 4
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).where(
        AuditEvent.action == "trial:allocation_list_extended")).one()
    assert event.detail == {"sha256_before": first_sha256, "rows_before": 2,
                            "sha256": second.sha256, "rows": 4}


def test_a_list_that_changes_a_row_is_not_taken_once_people_are_randomised(
        make_trial, make_referral, triage_referral, lead):
    trial = make_trial(sites=("coventry",), method="allocation_list", allocation_list=LIST)
    decide(triage_referral(make_referral("coventry")), lead)  # slot 1; slot 2 is unused
    for changed, problem in [
        (b"stratum,slot,arm\ncoventry,1,control\ncoventry,2,control\ncoventry,3,control\n",
         "This file changes at least one row of the current list"),
        # an unused slot changed is refused the same way, without naming it or its arm
        (b"stratum,slot,arm\ncoventry,1,treatment\ncoventry,2,treatment\ncoventry,3,control\n",
         "This file changes at least one row of the current list"),
        (b"stratum,slot,arm\ncoventry,1,treatment\n",
         "Stratum coventry: this file stops before slot 2"),
    ]:
        with pytest.raises(trials.TrialError, match=problem):
            trials.upload_allocation_list(trial, changed, "changed.csv", actor=lead, now=NOW)
        db.session.rollback()
    entries = db.session.execute(select(AllocationListEntry.stratum, AllocationListEntry.slot,
                                        AllocationListEntry.arm)
                                 .order_by(AllocationListEntry.slot)).all()
    assert entries == [("coventry", 1, Arm.TREATMENT), ("coventry", 2, Arm.CONTROL)]
    assert "trial:allocation_list_extended" not in actions()


def test_a_site_added_after_the_first_allocation_is_randomised_from_an_extended_list(
        make_trial, make_referral, triage_referral, lead):
    """Adding a site to an open trial whose list has no slots for it is
    refused (its first decision would fail); closed, the site is added, the
    list extended with its stratum, and the trial opened again."""
    trial = make_trial(sites=("coventry",), method="allocation_list", allocation_list=LIST)
    decide(triage_referral(make_referral("coventry")), lead)
    settings = trials.TrialSettings(name=trial.name, site_keys=["coventry", "wolverhampton"],
                                    method=AllocationMethod.ALLOCATION_LIST)
    with pytest.raises(trials.TrialError, match="no slots for stratum wolverhampton") as refused:
        trials.save_trial(trial, settings, actor=lead, now=NOW)
    assert set(refused.value.problems) == {"sites"}
    db.session.rollback()
    settings.status = TrialStatus.CLOSED
    trials.save_trial(trial, settings, actor=lead, now=NOW)
    db.session.commit()
    trials.upload_allocation_list(trial, LIST + b"wolverhampton,1,control\n", "more.csv",
                                  actor=lead, now=NOW)
    settings.status = TrialStatus.OPEN
    trials.save_trial(trial, settings, actor=lead, now=NOW)
    db.session.commit()
    allocation = decide(triage_referral(make_referral("wolverhampton")), lead).allocation
    assert (allocation.stratum, allocation.slot, allocation.arm) == (
        "wolverhampton", 1, Arm.CONTROL)


TWO_SITES = b"stratum,slot,arm\n" + b"".join(
    f"{site},{slot},{arm}\n".encode() for site in ("coventry", "wolverhampton")
    for slot, arm in enumerate(["treatment", "control"] * 3, 1))


def test_strata_a_stored_list_does_not_cover_are_refused_while_the_trial_is_open(
        make_trial, make_referral, triage_referral, lead):
    """A list for coventry and wolverhampton, then age-band strata turned
    on: refused, naming the strata the list lacks (it was saved, the list's
    SHA-256 kept, and the first eligible decision failed with "no slot 1
    for stratum coventry/14-17"). Closed, the change saves; it opens again
    only with a list for the new strata."""
    trial = make_trial(method="allocation_list", allocation_list=TWO_SITES)
    settings = trials.TrialSettings(name=trial.name, site_keys=["coventry", "wolverhampton"],
                                    stratify_by_age_band=True,
                                    method=AllocationMethod.ALLOCATION_LIST)
    with pytest.raises(trials.TrialError) as refused:
        trials.save_trial(trial, settings, actor=lead, now=NOW)
    assert set(refused.value.problems) == {"stratify_by_age_band"}
    assert ("no slots for strata coventry/14-17, coventry/18-24, coventry/25+, "
            "wolverhampton/14-17, wolverhampton/18-24 and wolverhampton/25+") \
        in str(refused.value)
    db.session.rollback()
    assert not db.session.get(type(trial), trial.id).stratify_by_age_band
    decided = decide(triage_referral(make_referral("coventry")), lead)
    assert decided.allocation.stratum == "coventry"

    # before anyone was randomised the change could be made closed; here the
    # strata are fixed, so a second trial shows it
    second = make_trial(sites=("birmingham",), key="second", method="allocation_list",
                        allocation_list=b"stratum,slot,arm\nbirmingham,1,control\n")
    settings = trials.TrialSettings(name="Second", site_keys=["birmingham"],
                                    stratify_by_age_band=True, status=TrialStatus.CLOSED,
                                    method=AllocationMethod.ALLOCATION_LIST)
    trials.save_trial(second, settings, actor=lead, now=NOW)
    db.session.commit()
    settings.status = TrialStatus.OPEN
    with pytest.raises(trials.TrialError, match="no slots for strata birmingham/14-17") as refused:
        trials.save_trial(second, settings, actor=lead, now=NOW)
    assert set(refused.value.problems) == {"status"}
    db.session.rollback()
    banded = b"stratum,slot,arm\n" + b"".join(
        f"birmingham/{band},1,control\n".encode() for band in ("14-17", "18-24", "25+"))
    trials.upload_allocation_list(second, banded, "banded.csv", actor=lead, now=NOW)
    trials.save_trial(second, settings, actor=lead, now=NOW)
    db.session.commit()
    assert db.session.get(type(second), second.id).is_open


def test_a_list_trial_opens_only_with_a_list_for_every_stratum(make_trial, lead):
    with pytest.raises(trials.TrialError, match="Upload the allocation list before opening") \
            as refused:
        make_trial(method="allocation_list")
    assert set(refused.value.problems) == {"status"}
    db.session.rollback()
    trial = make_trial(method="allocation_list", status=TrialStatus.CLOSED)
    settings = trials.TrialSettings(name=trial.name, site_keys=["coventry", "wolverhampton"],
                                    method=AllocationMethod.ALLOCATION_LIST)
    with pytest.raises(trials.TrialError, match="upload it on this page, then open the trial"):
        trials.save_trial(trial, settings, actor=lead, now=NOW)
    db.session.rollback()
    trials.upload_allocation_list(trial, LIST, "list.csv", actor=lead, now=NOW)
    db.session.commit()
    with pytest.raises(trials.TrialError, match="no slots for stratum wolverhampton"):
        trials.save_trial(trial, settings, actor=lead, now=NOW)
    db.session.rollback()
    # a trial by permuted blocks cannot switch to a list it lacks while open
    blocks = make_trial(sites=("birmingham",), key="blocks")
    with pytest.raises(trials.TrialError, match="no slots for stratum birmingham") as refused:
        trials.save_trial(blocks, trials.TrialSettings(
            name=blocks.name, site_keys=["birmingham"], method=AllocationMethod.ALLOCATION_LIST),
            actor=lead, now=NOW)
    assert set(refused.value.problems) == {"method"}
    db.session.rollback()

    trials.upload_allocation_list(trial, TWO_SITES, "both.csv", actor=lead, now=NOW)
    trials.save_trial(trial, settings, actor=lead, now=NOW)
    db.session.commit()
    # open, its list is replaced only by one for every stratum too
    with pytest.raises(trials.TrialError, match="no slots for stratum wolverhampton"):
        trials.upload_allocation_list(trial, LIST, "short.csv", actor=lead, now=NOW)
    db.session.rollback()
    assert db.session.get(type(trial), trial.id).allocation_list_filename == "both.csv"


def _decide_in_thread(app, triage_id, lead_id, results, barrier, decision="eligible", key=KEY):
    from casework.accounts.models import User

    try:
        with app.app_context():
            actor = db.session.get(User, lead_id)
            triage = db.session.get(Triage, triage_id)
            db.session.commit()  # SQLite: do not hold the write lock at the barrier
            barrier.wait()
            try:
                triage_services.decide(triage, decision, None, actor=actor,
                                       now=datetime.now(UTC), key=key)
                db.session.commit()
                results.append("ok")
            except triage_services.TriageError as error:
                db.session.rollback()
                results.append(error)
            finally:
                db.session.remove()
    except BaseException as error:  # reported by the test
        results.append(error)


def _run_concurrently(app, triage_ids, lead_id, keys=None):
    results: list = []
    barrier = threading.Barrier(len(triage_ids))
    threads = [threading.Thread(target=_decide_in_thread,
                                args=(app, tid, lead_id, results, barrier, "eligible", key))
               for tid, key in zip(triage_ids, keys or [KEY] * len(triage_ids), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_fifty_concurrent_randomisations_across_two_strata(
        app, make_trial, make_referral, triage_referral, lead):
    trial = make_trial()
    triage_ids = [triage_referral(make_referral(site)).id
                  for site in ["coventry", "wolverhampton"] * 25]
    lead_id, design = lead.id, trial.design
    db.session.commit()

    results = _run_concurrently(app, triage_ids, lead_id)

    assert results.count("ok") == 50, [r for r in results if r != "ok"]
    rows = db.session.execute(select(Allocation.stratum, Allocation.slot, Allocation.arm,
                                     Allocation.person_id).order_by(Allocation.slot)).all()
    assert len(rows) == 50
    assert len({(r.stratum, r.slot) for r in rows}) == 50  # no slot used twice
    assert len({r.person_id for r in rows}) == 50           # nobody allocated twice
    for stratum in ("coventry", "wolverhampton"):
        mine = [r for r in rows if r.stratum == stratum]
        assert [r.slot for r in mine] == list(range(1, 26))   # slots used in order
        difference = 0
        for r in mine:
            assert r.arm == sequence.slot(KEY, "cirv", stratum, r.slot, design).arm
            difference += 1 if r.arm == Arm.TREATMENT else -1
            assert abs(difference) <= 3                       # within the block bound


def test_the_first_allocations_made_at_once_under_two_keys_keep_to_one(
        app, make_trial, make_referral, triage_referral, lead):
    """Two servers configured with different keys randomise at once in a
    trial nobody is in yet, in different strata: the first allocation is
    made under a lock of the trial's key, so one key's decisions are taken
    and the other's refused (each saw no allocation to compare with)."""
    make_trial()
    triage_ids = [triage_referral(make_referral(site)).id
                  for site in ["coventry", "wolverhampton"] * 5]
    keys = [KEY, KEY, b"other-key", b"other-key"] * 2 + [KEY, b"other-key"]
    lead_id = lead.id
    db.session.commit()

    results = _run_concurrently(app, triage_ids, lead_id, keys)

    refused = [r for r in results if r != "ok"]
    assert all(isinstance(r, triage_services.TriageError) and "trial key has changed"
               in r.problems[None] for r in refused), refused
    assert results.count("ok") == 5 and len(refused) == 5
    versions = set(db.session.scalars(select(Allocation.sequence_version)))
    assert len(versions) == 1 and db.session.scalar(
        select(func.count()).select_from(Allocation)) == 5


def test_twenty_concurrent_decisions_for_one_person_give_one_allocation(
        app, make_trial, make_referral, triage_referral, lead):
    make_trial()
    triage_id = triage_referral(make_referral("coventry")).id
    lead_id = lead.id
    db.session.commit()

    results = _run_concurrently(app, [triage_id] * 20, lead_id)

    assert results.count("ok") == 1
    refusals = [r for r in results if r != "ok"]
    assert len(refusals) == 19
    assert all(isinstance(r, triage_services.TriageError) and "already decided" in str(r)
               for r in refusals)
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 1


def test_twenty_referrals_of_one_person_decided_at_once_give_one_allocation(
        app, make_trial, make_referral, triage_referral, lead):
    make_trial()
    first = make_referral("coventry")
    triage_ids = [triage_referral(first).id] + [
        triage_referral(make_referral("coventry", person=first.person)).id for _ in range(19)]
    lead_id = lead.id
    db.session.commit()

    results = _run_concurrently(app, triage_ids, lead_id)

    assert results.count("ok") == 1
    assert all(isinstance(r, triage_services.TriageError) and "C4" in str(r)
               for r in results if r != "ok")
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 1


def test_marking_an_allocation_in_error_leaves_it_unchanged(
        make_trial, make_referral, triage_referral, lead, make_user):
    trial = make_trial()
    allocation = decide(triage_referral(make_referral("coventry")), lead).allocation
    before = (allocation.stratum, allocation.slot, allocation.arm, allocation.person_id)
    admin = make_user("admin", ())
    with pytest.raises(trials.TrialError) as refused:
        trials.mark_in_error(trial, "coventry", 9, "", actor=admin, now=NOW)
    assert set(refused.value.problems) == {"slot", "reason"}
    db.session.rollback()
    trials.mark_in_error(trial, "coventry", 1, "Randomised before consent", actor=admin, now=NOW)
    db.session.commit()
    record = db.session.scalars(select(AllocationInError)).one()
    assert record.reason == "Randomised before consent" and record.recorded_by_id == admin.id
    allocation = db.session.get(Allocation, allocation.id)
    assert (allocation.stratum, allocation.slot, allocation.arm, allocation.person_id) == before
    with pytest.raises(trials.TrialError, match="already marked"):
        trials.mark_in_error(trial, "coventry", 1, "Again", actor=admin, now=NOW)
    db.session.rollback()
    assert "allocation:marked_in_error" in actions()


def test_the_allocation_report(make_trial, make_referral, triage_referral, lead, make_user):
    trial = make_trial()
    for site in ["coventry"] * 5 + ["wolverhampton"] * 2:
        decide(triage_referral(make_referral(site)), lead)
    report = trials.allocation_report(trial, site_ids=None)
    counts = {row.stratum: (row.treatment, row.control) for row in report.strata}
    expected = {}
    for stratum, n in (("coventry", 5), ("wolverhampton", 2)):
        drawn = [sequence.slot(KEY, "cirv", stratum, i, trial.design).arm for i in range(1, n + 1)]
        expected[stratum] = (drawn.count(Arm.TREATMENT), drawn.count(Arm.CONTROL))
    assert counts == expected
    for row in report.strata:
        assert report.imbalance(row) == row.treatment - row.control
    assert report.totals.total == 7 and len(report.recent) == 7
    # for those who randomise: how many at each site, no counts by arm or stratum
    deciders = report.for_deciders()
    assert not deciders.shows_balance and deciders.strata == []
    assert deciders.sites == [trials.SiteCount("coventry", 5, 0),
                              trials.SiteCount("wolverhampton", 2, 0)]
    coventry_only = trials.allocation_report(
        trial, site_ids=frozenset({make_referral("coventry").site_id}))
    assert [row.stratum for row in coventry_only.strata] == ["coventry"]
    assert {a.stratum for a in coventry_only.recent} == {"coventry"}


def test_trial_settings_freeze_once_people_are_randomised(make_trial, make_referral,
                                                          triage_referral, lead):
    trial = make_trial()
    decide(triage_referral(make_referral("coventry")), lead)
    settings = trials.TrialSettings(name="Renamed", site_keys=["coventry", "wolverhampton",
                                                               "birmingham"],
                                    block_sizes=[2, 4], status=TrialStatus.CLOSED)
    with pytest.raises(trials.TrialError) as refused:
        trials.save_trial(trial, settings, actor=lead, now=NOW)
    assert set(refused.value.problems) == {"block_sizes"}
    db.session.rollback()
    settings.block_sizes = [2, 4, 6]
    trials.save_trial(trial, settings, actor=lead, now=NOW)
    db.session.commit()
    assert trial.name == "Renamed" and len(trial.sites) == 3 and not trial.is_open
    settings.site_keys = ["coventry"]
    with pytest.raises(trials.TrialError, match="can be added, not removed"):
        trials.save_trial(trial, settings, actor=lead, now=NOW)
    db.session.rollback()


def test_one_open_trial_per_site(make_trial):
    make_trial()
    with pytest.raises(trials.TrialError, match="Coventry already has an open trial"):
        make_trial(sites=("coventry",), key="second")
    db.session.rollback()
    make_trial(sites=("coventry",), key="third", status=TrialStatus.CLOSED)


@pytest.mark.parametrize("change", ["arm", "delete", "bulk update", "bulk delete"])
def test_the_code_refuses_to_change_an_allocation_on_any_database(
        make_trial, make_referral, triage_referral, lead, make_user, change):
    """DESIGN.md: never updated or deleted, "enforced in the database on
    PostgreSQL as well as in the code". Only PostgreSQL's triggers refused
    it: on SQLite, the default, ``allocation.arm = "control"`` was committed
    (found by review). The ORM now refuses it everywhere, as it does for the
    other append-only records."""
    from sqlalchemy import delete, update

    from casework.audit.models import AuditEvent
    from casework.database import AppendOnlyViolation
    from casework.trial.models import AllocationInError

    trial = make_trial()
    allocation = decide(triage_referral(make_referral("coventry")), lead).allocation
    trials.mark_in_error(trial, "coventry", 1, "Test", actor=make_user("admin", ()), now=NOW)
    db.session.commit()
    arm = allocation.arm
    for model in (Allocation, AllocationInError, AuditEvent):
        row = db.session.scalars(select(model)).first()
        with pytest.raises(AppendOnlyViolation, match="append-only"):
            if change == "arm":
                if model is Allocation:
                    row.arm = "control" if arm == "treatment" else "treatment"
                else:
                    row.id = row.id + 1000
                db.session.commit()
            elif change == "delete":
                db.session.delete(row)
                db.session.commit()
            elif change == "bulk update":
                db.session.execute(update(model).values(id=model.id))
            else:
                db.session.execute(delete(model))
        db.session.rollback()
    assert db.session.scalars(select(Allocation)).one().arm == arm
    assert db.session.scalar(select(func.count()).select_from(AllocationInError)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["allocations", "allocations_in_error"])
@pytest.mark.parametrize("statement", [
    "UPDATE {table} SET id = id", "DELETE FROM {table}", "TRUNCATE {table} CASCADE"])
def test_postgres_refuses_to_change_allocations(make_trial, make_referral, triage_referral, lead,
                                                make_user, table, statement):
    trial = make_trial()
    decide(triage_referral(make_referral("coventry")), lead)
    trials.mark_in_error(trial, "coventry", 1, "Test", actor=make_user("admin", ()), now=NOW)
    db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(statement.format(table=table)))
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 1


@pytest.mark.postgres
def test_an_allocation_marked_in_error_twice_at_once_is_marked_once(
        app, make_trial, make_referral, triage_referral, lead, make_user):
    """Two requests marking one allocation in error at the same moment both
    found it unmarked, and the second met the unique index on
    allocations_in_error.allocation_id: a 500 (found by review). The second
    now waits for the first (the allocation's row lock) and is told it is
    marked already (422). Three rounds, as the race was not met every time."""
    from tests.integration.test_concurrent_writes import _sent_at_once

    trial = make_trial(sites=("coventry",))
    for _ in range(3):
        decide(triage_referral(make_referral("coventry")), lead)
    admin = make_user("admin", (), email="in-error@example.org")
    for slot in (1, 2, 3):
        results, errors = _sent_at_once(
            app, admin.email, f"/admin/trials/{trial.id}/in-error",
            *({"stratum": "coventry", "slot": str(slot), "reason": f"Reason {n}"}
              for n in (1, 2)))
        assert not errors and sorted(results.values()) == [302, 422], (slot, results, errors)
    assert db.session.scalar(select(func.count()).select_from(AllocationInError)) == 3
    assert actions().count("allocation:marked_in_error") == 3
