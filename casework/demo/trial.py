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
from casework.intake.models import Referral
from casework.intake.reference import ReferralStatus
from casework.triage import services as triage
from casework.trial import services as trials
from casework.trial.models import Trial

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
            triage.decide(record, str(result), None, actor=lead, now=now, key=key)
            randomised += result == Result.ELIGIBLE
    return len(referrals), randomised
