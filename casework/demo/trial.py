"""The demo trial (CIRV in Coventry and Wolverhampton) and some triaged
referrals, made through the real services so every step is audited and
every allocation comes from the trial key's sequence."""

from __future__ import annotations

import random
from datetime import datetime

from sqlalchemy import select

from casework.accounts import services as accounts
from casework.accounts.models import Site
from casework.eligibility import cirv
from casework.eligibility.outcomes import Result
from casework.extensions import db
from casework.intake.models import Person, Referral
from casework.intake.reference import ReferralStatus
from casework.pathways import services as pathways
from casework.triage import services as triage
from casework.trial import services as trials
from casework.trial.models import Trial
from casework.trial.sequence import Arm

DEMO_TRIAL_KEY = "cirv"


def seed_trial(*, now: datetime) -> Trial:
    """The demo trial, created once: 1:1, permuted blocks of 2, 4 and 6."""
    trial = db.session.scalars(select(Trial).where(Trial.key == DEMO_TRIAL_KEY)).first()
    if trial is None:
        trial = trials.save_trial(None, trials.TrialSettings(
            key=DEMO_TRIAL_KEY, name="CIRV randomised controlled trial",
            site_keys=["coventry", "wolverhampton"],
        ), actor=None, now=now)
    return trial


def seed_triage(count: int, seed: int, *, key: bytes | None, now: datetime) -> tuple[int, int]:
    """Triage ``count`` received referrals at the trial's sites and decide
    most of them, as the demo caseworker and lead. Returns (triaged, randomised)."""
    rng = random.Random(seed)  # noqa: S311 (synthetic data, reproducible by seed)
    caseworker = accounts.find_user_by_email("caseworker@casework.example")
    lead = accounts.find_user_by_email("lead@casework.example")
    referrals = db.session.scalars(
        select(Referral).join(Site, Site.id == Referral.site_id)
        .where(Referral.status == ReferralStatus.RECEIVED,
               Site.key.in_(["coventry", "wolverhampton"]))
        .order_by(Referral.referral_date, Referral.id).limit(count)
    ).all()
    randomised = 0
    proposed = deviated = False
    for referral in referrals:
        evidence = rng.sample(list(cirv.EVIDENCE), rng.choice([0, 1, 1, 2, 2, 3]))
        facts = triage.TriageFacts(
            group_violence_evidence=evidence,
            panel_confirmed=rng.choices([True, None, False], weights=[75, 15, 10])[0],
            exclusions=["other_focused_deterrence"] if rng.random() < 0.05 else [],
            recommendation="eligible" if evidence else "ineligible",
        )
        record = triage.record_triage(referral, facts, actor=caseworker, now=now)
        result = triage.assess(record).result
        if result != Result.NEEDS_REVIEW and rng.random() < 0.8:
            decided = triage.decide(record, str(result), None, actor=lead, now=now, key=key)
            randomised += result == Result.ELIGIBLE
            if decided.allocation is not None:
                proposed, deviated = _demo_pathway(decided.allocation, rng, proposed, deviated,
                                                   caseworker=caseworker, now=now)
    return len(referrals), randomised


def _demo_pathway(allocation, rng: random.Random, proposed: bool, deviated: bool, *,
                  caseworker, now: datetime) -> tuple[bool, bool]:
    """Move a newly treated person along (engaged or at-risk monitoring, one
    disruption proposal), and record one protocol deviation in the control arm."""
    person = db.session.get(Person, allocation.person_id)
    today = now.date()
    if allocation.arm == Arm.CONTROL:
        if not deviated:
            pathways.record_deviation(person, today, "Mentor phoned the wrong family member "
                                      "about a programme session.", actor=caseworker, now=now)
        return proposed, True
    target = rng.choice(["engaged", "engaged", "at_risk_monitoring", None])
    if target:
        pathways.move(person, pathways.MoveRequest(target, today), actor=caseworker, now=now)
        if not proposed:
            pathways.move(person, pathways.MoveRequest(
                "disruption", today, rationale="Arrested twice this month; refuses contact."),
                actor=caseworker, now=now)
            return True, deviated
    return proposed, deviated
