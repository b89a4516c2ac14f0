"""The demo trial (CIRV in Coventry and Wolverhampton) and some triaged
referrals, made through the real services so every step is audited and
every allocation comes from the trial key's sequence."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial

from sqlalchemy import select

from casework.accounts.models import Site, User
from casework.dates import local_date
from casework.demo.people import anchor_day, working_moment
from casework.eligibility import cirv
from casework.eligibility.outcomes import Result
from casework.extensions import db
from casework.intake.models import Person, Referral
from casework.intake.reference import ReferralStatus
from casework.pathways import services as pathways
from casework.triage import services as triage
from casework.triage.models import Triage as TriageRecord
from casework.trial import services as trials
from casework.trial.models import Trial
from casework.trial.sequence import Arm

DEMO_TRIAL_KEY = "cirv"


def demo_trial() -> Trial | None:
    return db.session.scalars(select(Trial).where(Trial.key == DEMO_TRIAL_KEY)).first()


def seed_trial(*, now: datetime) -> Trial:
    """The demo trial, created once: 1:1, permuted blocks of 2, 4 and 6."""
    trial = demo_trial()
    if trial is None:
        trial = trials.save_trial(None, trials.TrialSettings(
            key=DEMO_TRIAL_KEY, name="CIRV randomised controlled trial",
            site_keys=["coventry", "wolverhampton"],
        ), actor=None, now=now)
    return trial


@dataclass
class TrialHistory:
    """The demo trial's history, planned before the seed's time-ordered pass
    and run in it (``steps``, each at its moment, through the services), so
    its audit events come in time order among the notes' and their ids rise
    with their timestamps: written after the rest, they went back two years
    after ``demo:seeded`` (found by review).

    ``control_since`` is filled as the steps run (each person randomised to
    control, and the day), for the notes written after: a control-arm
    person has no programme contact, and one recorded is a protocol
    deviation. ``decided_at`` is when each person's triage is to be decided."""

    steps: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)
    decided_at: dict[int, datetime] = field(default_factory=dict)
    control_since: dict[int, date] = field(default_factory=dict)
    triaged: int = 0
    randomised: int = 0
    proposed: bool = False
    deviated: bool = False


def plan_triage(count: int, seed: int, *, leads: Mapping[int, User], key: bytes | None,
                now: datetime) -> TrialHistory:
    """Plan the triage of up to ``count`` received referrals at the trial's
    sites, each by the person's caseworker within days of the referral, and
    the lead of the site deciding them a few weeks later; the person's
    caseworker then moves a treated person along. Every step is made at its
    moment in the seed's timeline, none later than ``now``: a triage whose
    decision would fall after now, and some of the last eight weeks', are
    still waiting on the lead's queue.

    Every action was the demo caseworker's and lead's, made at the moment
    the seed ran: the caseworker triaged at Wolverhampton, which they do not
    hold, and a referral of two years ago was randomised today, its person
    perhaps in another age band by then (found by review).

    The referrals are chosen from the last year's (the dashboard's charts),
    a quarter of them from the last six weeks'; earlier ones if there are too
    few. The steps run in the seed's time-ordered pass (``seed_activity``);
    the history then counts what they triaged and randomised."""
    rng = random.Random(seed)  # noqa: S311 (synthetic data, reproducible by seed)
    anchor = anchor_day(now)
    candidates = db.session.execute(
        select(Referral.id, Referral.person_id, Referral.referral_date, Person.caseworker_id)
        .join(Site, Site.id == Referral.site_id).join(Person, Person.id == Referral.person_id)
        .where(Referral.status == ReferralStatus.RECEIVED,
               Site.key.in_(["coventry", "wolverhampton"]),
               Person.caseworker_id.is_not(None))
        .order_by(Referral.referral_date.desc(), Referral.id.desc())).all()
    # a quarter from the last six weeks (on the lead's queue still, some of
    # them), the rest from the year before; earlier ones if there are too few
    recent = [row for row in candidates if row.referral_date > anchor - timedelta(days=42)]
    year = [row for row in candidates[len(recent):]
            if row.referral_date > anchor - timedelta(days=365)]
    chosen = rng.sample(recent, min(len(recent), max(count // 4, 1)))
    chosen += rng.sample(year, min(len(year), count - len(chosen)))
    chosen += candidates[len(recent) + len(year):][:count - len(chosen)]
    workers = {user.id: user for user in db.session.scalars(select(User).where(
        User.id.in_({row.caseworker_id for row in chosen})))}

    history = TrialHistory()
    records: dict[int, TriageRecord] = {}
    # Every draw is made whatever the time of day, so the same seed on the
    # same day gives the same steps; only which of them have happened yet
    # depends on the moment the seed runs.
    for row in sorted(chosen, key=lambda row: (row.referral_date, row.id)):
        # the day after it came in at the earliest (the import is that day's)
        triaged_at = working_moment(rng, row.referral_date + timedelta(days=rng.randint(1, 10)))
        decided_at = working_moment(rng, triaged_at.date() + timedelta(days=rng.randint(2, 28)))
        moved_at = working_moment(rng, decided_at.date() + timedelta(days=rng.randint(3, 30)))
        evidence = rng.sample(list(cirv.EVIDENCE), rng.choice([0, 1, 1, 2, 2, 3]))
        roll, panel = rng.random(), rng.choices([True, None, False], weights=[75, 15, 10])[0]
        target = rng.choice(["engaged", "engaged", "at_risk_monitoring", None])
        if triaged_at > now:
            continue
        worker = workers[row.caseworker_id]
        # on the lead's queue: not decided yet, or triaged in the last eight
        # weeks and waiting for the panel (two in five of those)
        waiting = decided_at > now or (now - triaged_at < timedelta(weeks=8) and roll > 0.6)
        facts = triage.TriageFacts(
            group_violence_evidence=evidence,
            # the panel has met on the cases decided by now
            panel_confirmed=(roll < 0.85) if not waiting else panel,
            exclusions=["other_focused_deterrence"] if roll > 0.95 else [],
            recommendation="eligible" if evidence else "ineligible",
        )
        history.steps.append((triaged_at, row.id, partial(
            _triage, history, records, row.id, facts, worker=worker, now=triaged_at)))
        if waiting:
            continue
        history.decided_at[row.person_id] = decided_at
        history.steps.append((decided_at, row.id, partial(
            _decide, history, records, row.id, leads=leads, key=key, now=decided_at)))
        if moved_at <= now:
            history.steps.append((moved_at, row.id, partial(
                _demo_pathway, history, records, row.id, target, caseworker=worker,
                now=moved_at)))
    history.steps.sort(key=lambda step: step[:2])
    return history


def _triage(history: TrialHistory, records: dict[int, TriageRecord], referral_id: int,
            facts: triage.TriageFacts, *, worker: User, now: datetime) -> None:
    referral = db.session.get(Referral, referral_id)
    records[referral_id] = triage.record_triage(referral, facts, actor=worker, now=now)
    history.triaged += 1


def _decide(history: TrialHistory, records: dict[int, TriageRecord], referral_id: int, *,
            leads: Mapping[int, User], key: bytes | None, now: datetime) -> None:
    record = records[referral_id]
    result = triage.assess(record).result
    decision, rationale = str(result), None
    if result == Result.NEEDS_REVIEW:
        decision, rationale = "ineligible", ("Not enough evidence of group involvement "
                                             "to offer the programme.")
    decided = triage.decide(record, decision, rationale, actor=leads[record.site_id],
                            now=now, key=key)
    allocation = decided.allocation
    if allocation is not None:
        history.randomised += 1
        if allocation.arm == Arm.CONTROL:
            history.control_since[allocation.person_id] = local_date(allocation.allocated_at)


def _demo_pathway(history: TrialHistory, records: dict[int, TriageRecord], referral_id: int,
                  target: str | None, *, caseworker: User, now: datetime) -> None:
    """Move a newly treated person along (to ``target``: engaged or at-risk
    monitoring; one disruption proposal), and record one protocol deviation
    in the control arm, as the person's caseworker at ``now``."""
    allocation = records[referral_id].allocation
    if allocation is None:
        return
    person = db.session.get(Person, allocation.person_id)
    today = local_date(now)
    if allocation.arm == Arm.CONTROL:
        if not history.deviated:
            pathways.record_deviation(person, today, "Mentor phoned the wrong family member "
                                      "about a programme session.", actor=caseworker, now=now)
            history.deviated = True
        return
    if target:
        pathways.move(person, pathways.MoveRequest(target, today), actor=caseworker, now=now)
        if not history.proposed:
            pathways.move(person, pathways.MoveRequest(
                "disruption", today, rationale="Arrested twice this month; refuses contact."),
                actor=caseworker, now=now)
            history.proposed = True
