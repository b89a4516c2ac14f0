"""Triage: caseworkers record CIRV facts and a recommendation; a lead
decides, and an eligible decision randomises in the same transaction.
Services flush, never commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

from sqlalchemy import Select, and_, bindparam, exists, or_, select
from sqlalchemy.orm import joinedload, lazyload

from casework import submissions
from casework.accounts.models import Site, User
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import (
    COUNT_CAP,
    ChangedMeanwhile,
    Paged,
    check_unchanged,
    count_up_to,
    lock_for_update,
    lock_row,
    row_version,
)
from casework.dates import local_date, long_date
from casework.eligibility import cirv
from casework.eligibility.outcomes import Assessment, Result
from casework.extensions import db
from casework.intake import matching
from casework.intake import services as intake
from casework.intake.models import Person, Referral
from casework.intake.reference import (
    CLOSE_REASONS,
    LOCAL_AUTHORITIES,
    InvalidTransition,
    ReferralStatus,
    transition,
)
from casework.pathways import services as pathways
from casework.triage import exclusions
from casework.triage.models import Triage
from casework.trial import services as trials
from casework.trial.models import Allocation, Trial, TrialStatus

MAX_TEXT_LENGTH = 5000
# The version a blank triage form is drawn with (no triage yet): sent back
# when one exists, it was recorded by someone else meanwhile.
NEW_TRIAGE = "new"
RECOMMENDATIONS = {"eligible": "Eligible", "ineligible": "Ineligible"}


class TriageError(Exception):
    """A triage request whose meaning is wrong; ``problems`` maps fields to messages."""

    def __init__(self, problems: dict[str | None, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


@dataclass
class TriageFacts:
    group_violence_evidence: list[str] = field(default_factory=list)
    panel_confirmed: bool | None = None
    exclusions: list[str] = field(default_factory=list)
    recommendation: str = ""
    recommendation_note: str | None = None


def _check_text(problems: dict, name: str, text: str | None, what: str) -> str | None:
    text = (text or "").strip() or None
    if text and len(text) > MAX_TEXT_LENGTH:
        problems[name] = f"{what} must be {MAX_TEXT_LENGTH} characters or fewer"
    return text


def _check_facts(facts: TriageFacts) -> TriageFacts:
    """The facts as recorded, or TriageError. Exclusions are any of the
    table's (exclusions.titles), offered now or not: the form offers only
    those offered, and those a triage already recorded, which it keeps."""
    problems: dict[str | None, str] = {}
    if any(e not in cirv.EVIDENCE for e in facts.group_violence_evidence):
        problems["group_violence_evidence"] = "Select evidence from the list"
    known = exclusions.titles(facts.exclusions)  # (in the table's order)
    if any(e not in known for e in facts.exclusions):
        problems["exclusions"] = "Select exclusions from the list"
    if facts.recommendation not in RECOMMENDATIONS:
        problems["recommendation"] = "Select your recommendation"
    note = _check_text(problems, "recommendation_note", facts.recommendation_note, "The note")
    if problems:
        raise TriageError(problems)
    return TriageFacts(
        group_violence_evidence=[e for e in cirv.EVIDENCE if e in facts.group_violence_evidence],
        panel_confirmed=facts.panel_confirmed,
        exclusions=list(known),
        recommendation=facts.recommendation, recommendation_note=note,
    )


def _facts_snapshot(triage: Triage) -> dict:
    return {
        "group_violence_evidence": list(triage.group_violence_evidence or []),
        "panel_confirmed": triage.panel_confirmed,
        "exclusions": list(triage.exclusions or []),
        "recommendation": triage.recommendation,
        "recommendation_note_given": bool(triage.recommendation_note),
    }


def _editable(triage: Triage) -> dict:
    return {"group_violence_evidence": sorted(triage.group_violence_evidence or []),
            "panel_confirmed": triage.panel_confirmed,
            "exclusions": sorted(triage.exclusions or []),
            "recommendation": triage.recommendation,
            "recommendation_note": triage.recommendation_note}


def triage_version(triage: Triage) -> str:
    """The version of a triage's facts their form is drawn from."""
    return row_version(_editable(triage))


def decision_version(triage: Triage, assessment: Assessment) -> str:
    """What a lead's decision form is drawn from: the triage's facts and
    what the rules give on them, criterion by criterion (a date of birth
    corrected, or an allocation made for the person, changes the second
    without the first)."""
    return row_version({"facts": _editable(triage),
                        "criteria": [c.to_dict() for c in assessment.criteria],
                        "ruleset_version": assessment.ruleset_version})


class FactsChanged(ChangedMeanwhile):
    """A lead's decision sent from a page showing facts, or a result of the
    rules, that have changed since: decided as it is, it would rule on what
    the lead never read. ``version`` is the decision_version now."""

    def __init__(self, version: str):
        self.version = version
        Exception.__init__(
            self, "The facts of this triage, or what the rules give on them, changed since you "
                  "opened this page: your decision was not recorded. Check the facts and the "
                  "rules' result below, then record your decision again.")


def triages_by_referral(person_id: int) -> dict[int, Triage]:
    """A person's triages, keyed by referral id (one query). Their referrals
    are not joined in again: a page that wants them has them already."""
    return {t.referral_id: t for t in db.session.scalars(_triages_of_person(),
                                                         {"person_id": person_id})}


@cache
def _triages_of_person():
    # built once: the person page runs it on every view
    return (select(Triage).where(Triage.person_id == bindparam("person_id"))
            .options(lazyload(Triage.referral)))


def triage_for(referral: Referral) -> Triage | None:
    return db.session.scalars(select(Triage).where(Triage.referral_id == referral.id)).first()


def record_triage(referral: Referral, facts: TriageFacts, *, actor: User,
                  now: datetime, based_on: str | None = None,
                  submission: str | None = None) -> Triage:
    """Record or change a referral's triage facts and recommendation.

    The first record moves the referral into triage and onto the lead's
    queue; once a lead has decided, the facts are locked. A change is
    refused (ChangedMeanwhile) if the facts are no longer the version
    ``based_on`` its form was drawn from: NEW_TRIAGE, a blank form's, once
    someone else has recorded the first. The form sent again (its
    ``submission`` key claimed: a double click) raises
    submissions.AlreadySubmitted, where it would find the facts changed
    "by someone else", by its own first sending.
    """
    facts = _check_facts(facts)
    # The referral's row, then its triage's (the order decide() takes them):
    # as they are now, not as the page found them. A lead's decision or a
    # colleague's close committed meanwhile is seen; a second click of the
    # first save waits for the first, then finds its key claimed.
    lock_row(db.session, referral)
    submissions.claim(submission, "triage_facts", actor=actor, now=now)
    triage = triage_for(referral)
    if triage is not None:
        lock_row(db.session, triage)
    if triage is not None and triage.is_decided:
        raise TriageError({None: facts_locked(triage)})
    if triage is not None:  # (NEW_TRIAGE is no version: a triage was recorded meanwhile)
        check_unchanged(based_on, _editable(triage), {
            "group_violence_evidence": sorted(facts.group_violence_evidence),
            "panel_confirmed": facts.panel_confirmed, "exclusions": sorted(facts.exclusions),
            "recommendation": facts.recommendation,
            "recommendation_note": facts.recommendation_note})
    if referral.status not in (ReferralStatus.RECEIVED, ReferralStatus.IN_TRIAGE):
        raise TriageError({None: closed(referral, "triaged")
                           or f"A referral that is {referral.status.label.lower()} "
                              "cannot be triaged"})
    creating = triage is None
    before = {} if creating else _facts_snapshot(triage)
    if creating:
        triage = Triage(referral_id=referral.id, person_id=referral.person_id,
                        site_id=referral.site_id, submitted_by_id=actor.id, submitted_at=now)
        db.session.add(triage)
    triage.group_violence_evidence = facts.group_violence_evidence
    triage.panel_confirmed = facts.panel_confirmed
    triage.exclusions = facts.exclusions
    triage.recommendation = facts.recommendation
    triage.recommendation_note = facts.recommendation_note
    triage.updated_at = now
    db.session.flush()
    submissions.settle(submission, triage.id)
    if creating:
        audit.record(Action.TRIAGE_RECORDED, actor=actor, now=now, subject_type="triage",
                     subject_id=triage.id, site_id=triage.site_id,
                     detail={"referral_id": referral.id, **_facts_snapshot(triage)})
        if referral.status == ReferralStatus.RECEIVED:
            referral.status = transition(referral.status, ReferralStatus.IN_TRIAGE)
            audit.record(Action.REFERRAL_STATUS_CHANGED, actor=actor, now=now,
                         subject_type="referral", subject_id=referral.id,
                         site_id=referral.site_id,
                         detail=audit.changes({"status": "received"}, {"status": "in_triage"}))
    else:
        diff = audit.changes(before, _facts_snapshot(triage))
        if diff:
            audit.record(Action.TRIAGE_UPDATED, actor=actor, now=now, subject_type="triage",
                         subject_id=triage.id, site_id=triage.site_id, detail=diff)
    return triage


def closed(referral: Referral, what: str) -> str | None:
    """Why a closed referral cannot be ``what`` ("triaged", "decided"), or
    None if it is not closed."""
    if referral.status != ReferralStatus.CLOSED:
        return None
    when = f" on {long_date(local_date(referral.closed_at))}" if referral.closed_at else ""
    why = (f" ({CLOSE_REASONS[referral.closed_reason].lower()})"
           if referral.closed_reason in CLOSE_REASONS else "")
    return f"This referral was closed{when}{why}: a closed referral cannot be {what}"


def closed_undecided(triage: Triage) -> str | None:
    """Why a triage not decided before its referral was closed never will be,
    or None."""
    return None if triage.is_decided else closed(triage.referral, "decided")


def facts_locked(triage: Triage) -> str:
    """Why facts sent for a decided triage were not saved."""
    return (f"A lead decided this triage on {long_date(local_date(triage.decided_at))}: its "
            "facts are locked, and the changes below were not saved")


def existing_allocation(triage: Triage) -> Allocation | None:
    """The person's allocation, if they have one: in the triage's trial, else
    their first in any trial. A person is randomised once (C4), so a
    re-referral at a site outside that trial, or after it closed, is linked
    to it too."""
    return _existing_allocation(triage, _trial(triage))


def _existing_allocation(triage: Triage, trial: Trial | None) -> Allocation | None:
    return trials.allocation_of_person(triage.person_id, preferring=trial.id if trial else None)


def _trial(triage: Triage) -> Trial | None:
    """The trial this triage is for: once decided, the one it was decided
    under; until then, the one open at the referral's site now, so the same
    facts give the same result whenever the triage began (the trial open
    then may since have closed, or been followed by another); with none
    there, the one open where the person lives (C2: a Coventry resident
    referred at Birmingham is in Coventry's trial, and its stratum)."""
    if triage.is_decided:
        return triage.trial
    return trials.open_trial_for_site(triage.site_id) \
        or _open_trial_where_they_live(triage.referral.person)


def _open_trial_where_they_live(person: Person) -> Trial | None:
    return db.session.scalars(
        select(Trial).join(Trial.sites)
        .where(Trial.status == TrialStatus.OPEN, Site.key == person.local_authority)
        .order_by(Trial.id)
    ).first()


def assess(triage: Triage) -> Assessment:
    """C1 to C5 on the triage's facts as they stand now, under the trial
    it is for (``_trial``)."""
    return review(triage)[0]


def review(triage: Triage) -> tuple[Assessment, Allocation | None]:
    """What the triage page shows of a triage: the rules' assessment and
    the person's allocation, if any, under the trial it is for, each looked
    up once."""
    trial = _trial(triage)
    allocation = _existing_allocation(triage, trial)
    return _assess(triage, trial, allocation), allocation


def _assess(triage: Triage, trial: Trial | None, allocation: Allocation | None) -> Assessment:
    """C1 to C5 under ``trial``, the person's ``allocation`` deciding C4
    (or, with none, another record's: ``randomised_match``)."""
    return _apply_rules(_cirv_facts(triage, allocation), trial)


def _apply_rules(facts: cirv.CirvFacts, trial: Trial | None) -> Assessment:
    """C1 to C5 under ``trial``'s sites, C5 naming the exclusions recorded
    by their titles as admins keep them (exclusions.titles)."""
    return cirv.assess(facts, cirv.CirvRules(trial_sites=trials.rule_sites(trial),
                                             exclusions=exclusions.titles(facts.exclusions)))


def _cirv_facts(triage: Triage, allocation: Allocation | None) -> cirv.CirvFacts:
    """What the rules read: the triage's facts, and the referral's and the
    person's as their records say now."""
    referral, person = triage.referral, triage.referral.person
    already = allocation is not None and allocation.id != triage.allocation_id
    return cirv.CirvFacts(
        referral_date=referral.referral_date,
        site=referral.site.key,
        home=person.local_authority,
        date_of_birth=person.date_of_birth,
        group_violence_evidence=frozenset(triage.group_violence_evidence or []),
        panel_confirmed=triage.panel_confirmed,
        already_randomised=already,
        exclusions=tuple(triage.exclusions or []),
        randomised_match=None if allocation is not None else randomised_match(person),
    )


# The facts the rules read that live outside the triage, in the order a
# decided triage's page shows them: on the referral, then the person's record.
DECISION_FACTS = ("referral_date", "site", "date_of_birth", "home")


def _decision_facts(referral_date: date, site: str, date_of_birth: date | None,
                    home: str | None) -> dict:
    """Those facts as triages.decision_facts keeps them: ISO dates and keys."""
    return {"referral_date": referral_date.isoformat(), "site": site,
            "date_of_birth": date_of_birth.isoformat() if date_of_birth else None,
            "home": home}


@dataclass(frozen=True)
class DecidedFact:
    """One fact a decided triage was decided on, as a reader sees it: as it
    stood then and, where its record now says otherwise, what it says now."""

    name: str  # one of DECISION_FACTS
    label: str
    then: str
    now: str | None  # None: the record says the same now
    whose: str  # whose record it is: "the referral", "their record"


_DECIDED_FACT_LABELS = {
    "referral_date": ("Referral date", "the referral"),
    "site": ("Referral site", "the referral"),
    "date_of_birth": ("Date of birth when decided", "their record"),
    "home": ("Local authority when decided", "their record"),
}


def decided_on(triage: Triage) -> list[DecidedFact] | None:
    """The facts outside the triage a decided triage was decided on, as
    kept with the decision (DESIGN.md: the decision locks the facts), each
    beside what its record says now if that differs: a date of birth
    corrected after the decision is shown as such, not as the one the
    criteria were worked out from. None for a triage not decided, or
    decided before the decision kept them (migration 0023)."""
    kept = triage.decision_facts if triage.is_decided else None
    if kept is None:
        return None
    referral, person = triage.referral, triage.referral.person
    now = _decision_facts(referral.referral_date, referral.site.key, person.date_of_birth,
                          person.local_authority)
    facts = []
    for name in DECISION_FACTS:
        label, whose = _DECIDED_FACT_LABELS[name]
        then, current = kept.get(name), now[name]
        facts.append(DecidedFact(
            name, label, _shown(name, then, referral),
            None if then == current else _shown(name, current, referral), whose))
    return facts


def _shown(name: str, value: str | None, referral: Referral) -> str:
    if value is None:
        return "Not known"
    if name in ("referral_date", "date_of_birth"):
        return long_date(date.fromisoformat(value))
    if name == "site":
        if value == referral.site.key:
            return referral.site.name
        site = db.session.scalars(select(Site).where(Site.key == value)).first()
        return site.name if site else value
    return LOCAL_AUTHORITIES.get(value, value)


def randomised_match(person: Person) -> str | None:
    """Another record that may be ``person`` and is randomised, as C4 names
    it, or None. Intake's strong matches, looked for at every site as there
    (intake.services.find_candidates): the same PNC reference, or the same
    first name, surname and date of birth. A caseworker may record a new
    person over one (two people can share a name and a date of birth), and
    a copy of someone already in the trial was randomised again; now a lead
    rules. Named by the site holding it and why it matched, never by name
    or id: the triage's readers may not see that site's people (and the
    duplicates page names none of theirs by id either)."""
    strong = []
    if person.pnc_reference:
        strong.append(Person.pnc_reference == person.pnc_reference)
    if person.date_of_birth and person.first_name_key and person.last_name_key:
        strong.append(and_(Person.last_name_key == person.last_name_key,
                           Person.first_name_key == person.first_name_key,
                           Person.date_of_birth == person.date_of_birth))
    if not strong:
        return None
    others = db.session.scalars(
        select(Person).where(or_(*strong), Person.id != person.id,
                             exists().where(Allocation.person_id == Person.id))
        .order_by(Person.id))
    for other in others:
        if person.pnc_reference and other.pnc_reference == person.pnc_reference:
            why = "the same PNC reference"
        elif matching.same_first_name(other.first_name, person.first_name):
            why = "the same name and date of birth"  # (not twins Lily-Rose and Lily-Mae)
        else:
            continue
        return f"a record held by {other.site.name} (with {why})"
    return None


def decide(triage: Triage, decision: str, rationale: str | None, *, actor: User,
           now: datetime, key: bytes | None, based_on: str | None = None,
           submission: str | None = None) -> Triage:
    """Record a lead's decision; an eligible decision randomises the person
    in the same transaction (DESIGN.md "Randomisation").

    The triage row is locked first, so of two concurrent decisions on one
    triage only the first is recorded; the rules are applied under that
    lock and the person's identity locks (intake's), so "already
    randomised" (C4) sees every committed allocation, this record's or a
    strong match's.
    A decision sent from a page (``based_on``: the decision_version it was
    drawn from) is refused, FactsChanged, if the facts or the rules' result
    on them are no longer what that page showed; None (a caller reading
    them in this transaction) is not checked. The form sent again (its
    ``submission`` key already claimed: a double click) raises
    submissions.AlreadySubmitted, claimed under the triage's lock, where
    the first sending's decision made it "already decided".
    """
    _lock(triage)
    submissions.claim(submission, "triage_decision", actor=actor, now=now)
    if triage.is_decided:
        decided_on = long_date(local_date(triage.decided_at))
        raise TriageError({None: f"This triage was already decided ({triage.decision}) on "
                                 f"{decided_on}"})
    if (refusal := closed_undecided(triage)) is not None:  # (closed while the page was open)
        raise TriageError({None: refusal})
    lock_for_update(db.session, f"allocation:trial:person:{triage.person_id}")
    # and another record of the same child, decided at another site at the
    # same moment: each C4 looked before the other's allocation was
    # committed, and the one child was randomised twice
    intake.lock_identity(triage.referral.person)
    # the trial open at the site now, for the rules and the randomisation
    # alike; recorded with the decision, whichever way it goes
    trial = _trial(triage)
    earlier = _existing_allocation(triage, trial)
    facts = _cirv_facts(triage, earlier)
    assessment = _apply_rules(facts, trial)
    if based_on is not None:
        seen_now = decision_version(triage, assessment)
        if based_on != seen_now:
            raise FactsChanged(seen_now)
    problems: dict[str | None, str] = {}
    rationale = _check_text(problems, "rationale", rationale, "The rationale")
    if problems:
        raise TriageError(problems)
    try:
        chosen = Result(decision)
    except ValueError:
        raise TriageError({"decision": "Decide eligible or ineligible"}) from None
    problem = cirv.decision_problem(assessment, chosen, rationale)
    if problem:
        field_name, message = problem
        raise TriageError({field_name: message})
    referral = triage.referral
    try:
        referral.status = transition(
            referral.status,
            ReferralStatus.ELIGIBLE if chosen == Result.ELIGIBLE else ReferralStatus.INELIGIBLE,
        )
    except InvalidTransition as error:
        raise TriageError({None: str(error)}) from None
    overridden = chosen != assessment.result
    triage.computed_result = str(assessment.result)
    triage.decision = str(chosen)
    triage.override_rationale = rationale if overridden else None
    triage.ruleset_version = assessment.ruleset_version
    triage.criteria = [c.to_dict() for c in assessment.criteria]
    # and the facts they were worked out from that live elsewhere: the
    # person's record may change after, the decision does not
    triage.decision_facts = _decision_facts(facts.referral_date, facts.site,
                                            facts.date_of_birth, facts.home)
    triage.decided_by_id = actor.id
    triage.decided_at = now
    triage.trial = trial
    if chosen == Result.ELIGIBLE:
        try:
            allocation = trials.randomise(trial, referral, actor=actor, now=now, key=key)
        except trials.TrialError as error:
            raise TriageError(error.problems) from None
        triage.allocation_id = allocation.id
        if allocation.referral_id == referral.id:  # newly allocated, not an earlier one
            pathways.start_awaiting_offer(allocation, actor=actor, now=now)
    else:
        triage.allocation_id = earlier.id if earlier else None  # a re-referral keeps it
    db.session.flush()
    submissions.settle(submission, triage.id)
    audit.record(
        Action.TRIAGE_DECIDED, actor=actor, now=now, subject_type="triage",
        subject_id=triage.id, site_id=triage.site_id,
        detail={"referral_id": referral.id, "trial": trial.key if trial else None,
                "computed_result": triage.computed_result,
                "decision": triage.decision, "overridden": overridden,
                "ruleset_version": triage.ruleset_version,
                "outcomes": {c.id: str(c.outcome) for c in assessment.criteria},
                # whether the facts kept with it that may be missing were
                # known: flags only, never their values (a referral always
                # has its date and site)
                "date_of_birth_known": facts.date_of_birth is not None,
                "home_known": facts.home is not None,
                "allocation_id": triage.allocation_id},
    )
    if overridden:
        audit.record(
            Action.TRIAGE_OVERRIDDEN, actor=actor, now=now, subject_type="triage",
            subject_id=triage.id, site_id=triage.site_id,
            detail={"computed_result": triage.computed_result, "decision": triage.decision},
        )
    audit.record(Action.REFERRAL_STATUS_CHANGED, actor=actor, now=now, subject_type="referral",
                 subject_id=referral.id, site_id=referral.site_id,
                 detail=audit.changes({"status": "in_triage"}, {"status": str(referral.status)}))
    return triage


def _lock(triage: Triage) -> None:
    """Lock the referral's row, then the triage's, and reload both
    (PostgreSQL SELECT … FOR UPDATE; on SQLite the transaction already holds
    the write lock). record_triage takes them in the same order."""
    lock_row(db.session, triage.referral)
    lock_row(db.session, triage)


@dataclass(frozen=True)
class QueueItem:
    triage: Triage
    age_days: int


# A page of the queue: the lead works down it oldest first, and Next reaches
# the newest however long it grows (it stopped at 200 before).
QUEUE_PER_PAGE = 50


@dataclass(frozen=True)
class QueuePage(Paged):
    items: list[QueueItem]
    total: int
    page: int
    per_page: int
    capped: bool = False  # more than ``total`` wait (counted up to COUNT_CAP)
    has_next: bool = False


def _waiting(stmt: Select, site_ids: frozenset[int] | None) -> Select:
    stmt = stmt.join(Triage.referral).where(Triage.decided_at.is_(None),
                                            Referral.status == ReferralStatus.IN_TRIAGE)
    if site_ids is not None:
        stmt = stmt.where(Triage.site_id.in_(site_ids))
    return stmt


def triage_queue(site_ids: frozenset[int] | None, *, now: datetime, page: int = 1,
                 per_page: int = QUEUE_PER_PAGE) -> QueuePage:
    """Undecided triages at ``site_ids``, oldest first, a page at a time,
    with each one's age in days since its facts were first submitted: a
    count (up to COUNT_CAP, as the other lists) and the page, two queries
    however long the queue."""
    total, capped, page = count_up_to(db.session, _waiting(select(Triage.id), site_ids),
                                      COUNT_CAP, page, per_page)
    rows = list(db.session.scalars(
        _waiting(select(Triage), site_ids)
        # the submitter's name only: not their sites (a query more a page)
        .options(joinedload(Triage.person), joinedload(Triage.submitted_by).lazyload(User.sites))
        .order_by(Triage.submitted_at.asc(), Triage.id.asc())
        .offset((page - 1) * per_page).limit(per_page + 1)).unique())  # one more: a next page?
    today = local_date(now)
    items = [QueueItem(t, (today - local_date(t.submitted_at)).days) for t in rows[:per_page]]
    return QueuePage(items, total, page, per_page, capped, has_next=len(rows) > per_page)
