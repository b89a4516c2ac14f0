"""Checkpoint and Outcome 22: assessments against the rules, the lead's
decision, and diversion cases from offer to completion or failure.
Services flush, never commit; free text never goes into the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from marshmallow import ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy import case as when  # (``case`` is a diversion case here)
from sqlalchemy.orm import contains_eager

from casework import submissions
from casework.accounts.models import User
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import check_unchanged, lock_row, row_version
from casework.dates import local_date, long_date
from casework.diversion.models import Assessment, DiversionCase, Offence, OutcomeCode
from casework.diversion.states import (
    TRANSITIONS,
    CaseStatus,
    InvalidTransition,
    due_date,
    is_overdue,
    transition,
)
from casework.eligibility import checkpoint, outcome22, schemas
from casework.eligibility.offences import CATEGORIES
from casework.eligibility.offences import Offence as OffenceRule
from casework.eligibility.outcomes import Outcome, Result, combine
from casework.extensions import db
from casework.intake import services as intake
from casework.intake.models import Person
from casework.intake.validation import years_between

SCHEMES = {"checkpoint": "Checkpoint", "outcome22": "Outcome 22"}
MAX_TEXT_LENGTH = 5000
ADULT_AGE = 18
# What no decision can override, by scheme (see the rule modules).
LOCKED_CRITERIA = {checkpoint.SCHEME: checkpoint.LOCKED_CRITERIA,
                   outcome22.SCHEME: outcome22.LOCKED_CRITERIA}


class DiversionError(Exception):
    """A request whose meaning is wrong; ``problems`` maps form fields to messages."""

    def __init__(self, problems: dict[str | None, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


@dataclass(frozen=True)
class Settings:
    """What the deployment configures (casework/config.py)."""

    weeks: dict[str, int]
    closing_code: int
    minimum_intensity: dict[int, str | None]

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls({"checkpoint": config["DIVERSION_WEEKS_CHECKPOINT"],
                    "outcome22": config["DIVERSION_WEEKS_OUTCOME22"]},
                   config["DIVERSION_CLOSING_CODE"], config["OUTCOME22_INTENSITY"])


# who may see what

def visible_assessments(actor: User) -> Select:
    """Assessments of the people ``actor`` may see, as the person's page and
    timeline show them: of their own site and of every site they were
    referred at. An assessment's own site is where it was made (the
    assessor's); read by that alone, the person's home site saw it on the
    timeline and met 404 following it."""
    return select(Assessment).where(intake.person_visible(Assessment.person_id, actor))


def visible_cases(actor: User) -> Select:
    """Diversion cases of the people ``actor`` may see (as ``visible_assessments``)."""
    return select(DiversionCase).where(intake.person_visible(DiversionCase.person_id, actor))


# reference data

def catalogue() -> dict[str, OffenceRule]:
    """The offence catalogue as the rules take it (one query)."""
    return {o.key: OffenceRule(o.key, o.title, o.legislation, o.category, o.gravity,
                               o.outcome22_permitted)
            for o in db.session.scalars(select(Offence).order_by(Offence.title))}


def offences() -> list[Offence]:
    return list(db.session.scalars(select(Offence).order_by(Offence.title)))


def outcome_codes() -> dict[int, str]:
    return dict(db.session.execute(select(OutcomeCode.code, OutcomeCode.title)
                                   .order_by(OutcomeCode.code)).all())


@dataclass
class OffenceChange:
    title: str
    legislation: str
    category: str
    gravity: int | None
    outcome22_permitted: bool


def _offence_snapshot(offence: Offence) -> dict:
    return {"title": offence.title, "legislation": offence.legislation,
            "category": offence.category, "gravity": offence.gravity,
            "outcome22_permitted": offence.outcome22_permitted}


def offence_version(offence: Offence) -> str:
    """The version of a catalogue entry its edit form is drawn from."""
    return row_version(_offence_snapshot(offence))


def update_offence(offence: Offence, change: OffenceChange, *, actor: User,
                   now: datetime, based_on: str | None = None) -> Offence:
    """An admin corrects a catalogue entry; audited with before and after.
    Refused (ChangedMeanwhile) if it is no longer the version ``based_on``
    the form was drawn from."""
    problems: dict[str | None, str] = {}
    if not (change.title or "").strip():
        problems["title"] = "Enter the offence's title"
    if not (change.legislation or "").strip():
        problems["legislation"] = "Enter the legislation"
    if change.category not in CATEGORIES:
        problems["category"] = "Select a category"
    if change.gravity not in (1, 2, 3, 4, 5):
        problems["gravity"] = "Gravity must be a whole number from 1 to 5"
    if problems:
        raise DiversionError(problems)
    typed = {"title": change.title.strip(), "legislation": change.legislation.strip(),
             "category": change.category, "gravity": change.gravity,
             "outcome22_permitted": bool(change.outcome22_permitted)}
    lock_row(db.session, offence)
    before = _offence_snapshot(offence)
    check_unchanged(based_on, before, typed)
    for name, value in typed.items():
        setattr(offence, name, value)
    offence.updated_at = now
    db.session.flush()
    diff = audit.changes(before, _offence_snapshot(offence))
    if diff:
        audit.record(Action.OFFENCE_UPDATED, actor=actor, now=now, subject_type="offence",
                     subject_id=offence.key, detail=diff)
    return offence


def update_outcome_code(code: OutcomeCode, title: str, *, actor: User,
                        now: datetime) -> OutcomeCode:
    title = (title or "").strip()
    if not title:
        raise DiversionError({"title": "Enter the outcome's title"})
    before = code.title
    code.title = title[:200]
    db.session.flush()
    if before != code.title:
        audit.record(Action.OUTCOME_CODE_UPDATED, actor=actor, now=now,
                     subject_type="outcome_code", subject_id=code.code,
                     detail=audit.changes({"title": before}, {"title": code.title}))
    return code


# assessments

def _jsonable(value):
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple, frozenset, set)):
        return sorted(_jsonable(v) for v in value) if isinstance(value, (set, frozenset)) \
            else [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _previous_snapshot(previous: checkpoint.PreviousOutcome) -> dict:
    """A previous outcome as the facts give it (schemas.PreviousOutcomeSchema):
    its offence's key, or, for one not in the catalogue, its category and
    any description."""
    if previous.offence is not None:
        named = {"offence": previous.offence.key}
    else:
        named = {"category": previous.category}
        if previous.description:
            named["description"] = previous.description
    return {**named, "outcome_code": previous.outcome_code, "date": previous.on.isoformat()}


def _snapshot(facts, intensity: dict[int, str | None] | None) -> dict:
    """The facts as given, with offences by key, for the assessment record;
    and, under ``reference_data``, what the rules read besides the facts as
    it stood: each offence's catalogue entry (an admin may correct its
    gravity or category later) and, for Outcome 22, the configured table of
    minimum intensities. The rule-set version names the rules' code; these
    name their data, so an assessment can be explained after either changes."""
    data = {}
    offences = {}
    for name, value in vars(facts).items():
        if isinstance(value, OffenceRule):
            offences[value.key] = value
            value = value.key
        elif name == "previous_outcomes":
            offences.update((p.offence.key, p.offence) for p in value if p.offence)
            value = [_previous_snapshot(p) for p in value]
        data[name] = _jsonable(value)
    reference = {"offences": {key: {"key": key, **_offence_snapshot(offence)}
                              for key, offence in sorted(offences.items())}}
    if intensity is not None:
        reference["minimum_intensity"] = {str(score): level
                                          for score, level in sorted(intensity.items())}
    data["reference_data"] = reference
    return data


def _problems(error: ValidationError) -> dict[str | None, str]:
    """marshmallow's messages as form problems, each under its field's path
    (a nested row's: ``previous_outcomes.1.date``, its row in the facts
    given), the first for each."""
    problems: dict[str | None, str] = {}
    for line in schemas.messages(error):
        path, _, message = line.partition(": ")
        problems.setdefault(path, message)
    return problems


def assess_data(person: Person, scheme: str, data: dict, *, actor: User, now: datetime,
                settings: Settings, submission: str | None = None) -> Assessment:
    """Validate facts in the shape ``eligibility assess`` reads (the same
    marshmallow schemas), then assess them (``submission``: as ``assess``)."""
    schema = {"checkpoint": schemas.CheckpointFactsSchema,
              "outcome22": schemas.Outcome22FactsSchema}.get(scheme)
    if schema is None:
        raise DiversionError({"scheme": "Choose Checkpoint or Outcome 22"})
    try:
        loaded = schema().load(data)
        build = schemas.checkpoint_facts if scheme == "checkpoint" else schemas.outcome22_facts
        facts = build(loaded, catalogue())
    except ValidationError as error:
        raise DiversionError(_problems(error)) from None
    return assess(person, scheme, facts, actor=actor, now=now, settings=settings,
                  submission=submission)


def assess(person: Person, scheme: str, facts, *, actor: User, now: datetime,
           settings: Settings, submission: str | None = None) -> Assessment:
    """Apply a scheme's rules to ``facts`` and keep the assessment: the facts,
    the rule-set version, the result and a reason per criterion. A form sent
    again (its ``submission`` key claimed) raises submissions.AlreadySubmitted:
    each assessment can be decided and offered a diversion, so a second made
    by a double click gave one offence two diversions."""
    if scheme == "checkpoint":
        result = checkpoint.assess(facts)
    elif scheme == "outcome22":
        result = outcome22.assess(facts, outcome22.Outcome22Rules(settings.minimum_intensity))
    else:
        raise DiversionError({"scheme": "Choose Checkpoint or Outcome 22"})
    if facts.offence_date > local_date(now):
        raise DiversionError({"offence_date": "The offence date cannot be in the future"})
    # every check passed: claimed just before the write (it waits for the
    # same form in flight), so a refused form leaves no claim
    submissions.claim(submission, "assessment", actor=actor, now=now)
    assessment = Assessment(
        person_id=person.id, site_id=intake.working_site(person, actor), scheme=scheme,
        offence_key=facts.offence.key, offence_date=facts.offence_date,
        facts=_snapshot(facts, settings.minimum_intensity if scheme == "outcome22" else None),
        ruleset_version=result.ruleset_version,
        result=str(result.result), criteria=[c.to_dict() for c in result.criteria],
        assessed_by_id=actor.id, assessed_at=now,
    )
    db.session.add(assessment)
    db.session.flush()
    submissions.settle(submission, assessment.id)
    audit.record(Action.ASSESSMENT_RECORDED, actor=actor, now=now, subject_type="assessment",
                 subject_id=assessment.id, site_id=assessment.site_id,
                 detail={"person_id": person.id, "scheme": scheme,
                         "offence": assessment.offence_key,
                         "ruleset_version": assessment.ruleset_version,
                         "result": assessment.result,
                         "outcomes": {c.id: str(c.outcome) for c in result.criteria}})
    return assessment


def decision_refusal(assessment: Assessment) -> str | None:
    """Why ``assessment`` cannot be decided now, or None."""
    return "This assessment has already been decided" if assessment.decided_at else None


# What lets a lead decide when a criterion defining the scheme is not known:
# an assessment is never edited, and its date of birth is the person's record's
# when it was made (found by review: "record what is missing on the
# assessment" named nothing anyone could do)
_ASSESS_AGAIN = "Assess again once it is known, then decide."
_WHEN_UNKNOWN = {"K1": "Record their date of birth on the person's record, then assess "
                       "again and decide."}


def decide(assessment: Assessment, decision: str, rationale: str | None, *, actor: User,
           now: datetime) -> Assessment:
    """A lead's decision on an assessment. Deciding against the rules' result
    needs a rationale (an audited override). Deciding an Outcome 22
    assessment eligible needs one in any case: it is the decision maker's
    record of why further action is not in the public interest, which meets
    O3 (kept as O3's outcome and reason, and the rules' result worked out
    again with it). A rationale typed with the facts is a proposal and meets
    nothing (outcome22._o3)."""
    _lock(Assessment, assessment)
    if (refusal := decision_refusal(assessment)) is not None:
        raise DiversionError({None: refusal})
    if decision not in (Result.ELIGIBLE, Result.INELIGIBLE):
        raise DiversionError({"decision": "Decide eligible or ineligible"})
    rationale = (rationale or "").strip() or None
    if rationale and len(rationale) > MAX_TEXT_LENGTH:
        raise DiversionError({"rationale": f"The rationale must be {MAX_TEXT_LENGTH} "
                                           "characters or fewer"})
    if decision == Result.ELIGIBLE:
        for criterion in assessment.criteria:
            if criterion["id"] in LOCKED_CRITERIA[assessment.scheme] \
                    and criterion["outcome"] != Outcome.PASS:
                # not known is not "not met": the lead is told the way on
                # (found by review, as for CIRV's C1)
                raise DiversionError({"decision": (
                    f"{criterion['id']} is not met and cannot be overridden: "
                    f"{criterion['reason']}" if criterion["outcome"] == Outcome.FAIL else
                    f"{criterion['id']} is not known, and cannot be overridden: "
                    f"{criterion['reason']} {_WHEN_UNKNOWN.get(criterion['id'], _ASSESS_AGAIN)}"
                )})
    records_o3 = assessment.scheme == outcome22.SCHEME and decision == Result.ELIGIBLE
    if records_o3 and not rationale:
        raise DiversionError({"rationale": "Record why further action is not in the public "
                                           "interest: Outcome 22 (O3) needs the deciding "
                                           "lead's rationale to decide eligible"})
    criteria, result = assessment.criteria, assessment.result
    if records_o3:  # O3 is met by the lead's rationale, and the rules' result with it
        recorded = outcome22.public_interest_recorded().to_dict()
        criteria = [recorded if c["id"] == recorded["id"] else c for c in criteria]
        result = str(combine(Outcome(c["outcome"]) for c in criteria))
    overridden = decision != result
    if overridden and not rationale:
        computed = Result(result).label.lower()
        raise DiversionError({"rationale": f"The rules give {computed}; give a rationale to "
                                           f"decide {decision}"})
    assessment.criteria, assessment.result = criteria, result
    assessment.decision, assessment.decision_rationale = decision, rationale
    assessment.decided_by_id, assessment.decided_at = actor.id, now
    db.session.flush()
    audit.record(Action.ASSESSMENT_DECIDED, actor=actor, now=now, subject_type="assessment",
                 subject_id=assessment.id, site_id=assessment.site_id,
                 detail={"result": assessment.result, "decision": decision,
                         "overridden": overridden, "rationale_given": bool(rationale),
                         **({"public_interest_recorded": records_o3}
                            if assessment.scheme == outcome22.SCHEME else {})})
    return assessment


# diversion cases

def _lock(model, record) -> None:
    """Concurrent steps on one record run one after another, each on the
    record as the one before left it."""
    lock_row(db.session, record)


def offer(assessment: Assessment, *, actor: User, now: datetime,
          submission: str | None = None) -> DiversionCase:
    """Offer diversion after a lead decided the assessment eligible. The
    offer sent again (its ``submission`` key claimed) raises
    submissions.AlreadySubmitted, before the case it made is found: a
    double click is told it was saved, not that a case already exists."""
    _lock(Assessment, assessment)
    submissions.check_earlier(submission, "diversion_case", actor=actor)
    if assessment.decision != Result.ELIGIBLE:
        raise DiversionError({None: "A diversion can be offered only after a lead decides "
                                    "the assessment eligible"})
    existing = db.session.scalar(select(DiversionCase.id).where(
        DiversionCase.assessment_id == assessment.id))
    if existing is not None:
        raise DiversionError({None: "A diversion case already exists for this assessment"})
    submissions.claim(submission, "diversion_case", actor=actor, now=now)
    case = DiversionCase(assessment=assessment, person_id=assessment.person_id,
                         site_id=assessment.site_id, scheme=assessment.scheme,
                         status=CaseStatus.OFFERED, offered_at=now, offered_by_id=actor.id,
                         updated_at=now)
    db.session.add(case)
    db.session.flush()
    submissions.settle(submission, case.id)
    _audit_step(Action.DIVERSION_OFFERED, case, actor, now)
    return case


def _audit_step(action: Action, case: DiversionCase, actor: User, now: datetime,
                **detail) -> None:
    audit.record(action, actor=actor, now=now, subject_type="diversion_case",
                 subject_id=case.id, site_id=case.site_id,
                 detail={"scheme": case.scheme, "status": str(case.status), **detail})


@dataclass
class Step:
    target: str
    on: date | None
    reason: str | None = None
    based_on: str | None = None  # case_version of the case the page showed
    submission: str | None = None  # the form's key (submissions): a resend steps once


# How a case ends is a lead's decision (DESIGN: leads "decide diversion
# outcomes"); caseworkers offer and start cases.
ENDINGS = frozenset({CaseStatus.COMPLETED, CaseStatus.FAILED, CaseStatus.WITHDRAWN})


def steps_for(case: DiversionCase, actor: User) -> list[CaseStatus]:
    """The steps ``actor`` may take on ``case`` now, in the workflow's order."""
    decides = actor.can(Permission.DIVERSION_DECIDE)
    return [status for status in CaseStatus
            if status in TRANSITIONS[case.status] and (decides or status not in ENDINGS)]


def case_version(case: DiversionCase) -> str:
    """The version of a case a step form is drawn from: its status, which
    decides the steps the form offers."""
    return row_version({"status": str(case.status)})


def moved_on(case: DiversionCase, based_on: str | None) -> str | None:
    """Why no step chosen on a page drawn from ``based_on`` (``case_version``;
    None: not known) can be taken now, or None: the case has ended, or has
    moved on since. Checked before the step chosen is: judged against the
    steps offered now, a stale choice was "not one of the options", or
    "cannot be completed" where a race had just ended the case."""
    if not TRANSITIONS[case.status]:
        return f"This diversion has ended ({case.status.label.lower()})"
    if based_on and based_on != case_version(case):
        return ("This diversion was changed after this page was opened: it is now "
                f"{case.status.label.lower()}.")
    return None


def step_refusal(case: DiversionCase, actor: User, based_on: str | None = None) -> str | None:
    """Why ``actor`` can take no step on ``case`` now (from a page drawn
    from ``based_on``), or None."""
    if (refusal := moved_on(case, based_on)) is not None:
        return refusal
    if not steps_for(case, actor):
        return "A lead records how this diversion ends"
    return None


def closing_code(assessment: Assessment, settings: Settings) -> int:
    """The outcome code a completed case closes with: Outcome 22, or the
    configured Outcome 23 (children's deferred prosecution) for a child's
    deferred prosecution only: Checkpoint, or the Outcome 22 deferred
    prosecution variant for someone under 18 on the offence date. An Outcome
    22 diversion, or an adult's, closes as 22 whatever is configured. The
    age is by the date of birth the assessment was made on (its facts)."""
    born = assessment.facts.get("date_of_birth")
    return closing_code_if_born(assessment, date.fromisoformat(born) if born else None,
                                settings)


def closing_code_if_born(assessment: Assessment, date_of_birth: date | None,
                         settings: Settings) -> int:
    """``closing_code`` had ``assessment`` been made on ``date_of_birth``
    (None: not known, so not known to be a child): for a date of birth
    corrected after it (intake's notice of decisions made on earlier facts)."""
    deferred = (assessment.scheme == "checkpoint"
                or assessment.facts.get("variant") == "deferred_prosecution")
    child = date_of_birth is not None and years_between(
        date_of_birth, assessment.offence_date) < ADULT_AGE
    return settings.closing_code if deferred and child else 22


STEP_ACTIONS = {
    CaseStatus.ACTIVE: Action.DIVERSION_STARTED,
    CaseStatus.COMPLETED: Action.DIVERSION_COMPLETED,
    CaseStatus.FAILED: Action.DIVERSION_FAILED,
    CaseStatus.WITHDRAWN: Action.DIVERSION_WITHDRAWN,
}


def advance(case: DiversionCase, step: Step, *, actor: User, now: datetime,
            settings: Settings) -> DiversionCase:
    """Move a case along: start it (the due date follows from the scheme's
    weeks), complete it (closing outcome code), fail it (re-referred to
    police, with a reason) or withdraw it (with a reason). Refused, saying
    so, if the case has ended or moved on from the page ``step.based_on``
    names (two leads ending it at once: the second waits for the first's
    lock, then finds it ended). Sent again (its ``submission`` key claimed),
    raises submissions.AlreadySubmitted rather than "changed after this page
    was opened": the change was the first click's."""
    _lock(DiversionCase, case)
    submissions.claim(step.submission, "diversion_step", actor=actor, now=now)
    if (refusal := moved_on(case, step.based_on)) is not None:
        raise DiversionError({None: refusal})
    try:
        target = CaseStatus(step.target)
        transition(case.status, target)
    except ValueError:
        raise DiversionError({"target": "Choose what happened"}) from None
    except InvalidTransition as error:
        raise DiversionError({"target": str(error)}) from None
    if target in ENDINGS and not actor.can(Permission.DIVERSION_DECIDE):
        raise DiversionError({"target": "A lead decides how a diversion ends"})
    problems: dict[str | None, str] = {}
    if step.on is None:
        problems["on"] = "Enter the date"
    elif step.on > local_date(now):
        problems["on"] = "The date cannot be in the future"
    elif case.started_on and step.on < case.started_on:
        problems["on"] = f"The date cannot be before the start ({long_date(case.started_on)})"
    elif step.on < (offered_on := local_date(case.offered_at)):
        problems["on"] = f"The date cannot be before the offer ({long_date(offered_on)})"
    reason = (step.reason or "").strip() or None
    if target in (CaseStatus.FAILED, CaseStatus.WITHDRAWN) and not reason:
        problems["reason"] = "Say why"
    elif reason and len(reason) > MAX_TEXT_LENGTH:
        problems["reason"] = f"The reason must be {MAX_TEXT_LENGTH} characters or fewer"
    if problems:
        raise DiversionError(problems)
    before = case.status
    case.status = target
    if target == CaseStatus.ACTIVE:
        case.started_on = step.on
        case.due_date = due_date(step.on, settings.weeks[case.scheme])
    else:
        case.ended_on, case.end_reason = step.on, reason
        if target == CaseStatus.COMPLETED:
            case.outcome_code = closing_code(case.assessment, settings)
    case.updated_at = now
    db.session.flush()
    submissions.settle(step.submission, case.id)
    _audit_step(STEP_ACTIONS[target], case, actor, now, previous=str(before),
                on=step.on.isoformat(),
                due_date=case.due_date.isoformat() if case.due_date else None,
                outcome_code=case.outcome_code)
    return case


def later_outcome_refusal(case: DiversionCase) -> str | None:
    """Why a later outcome cannot be recorded for ``case`` now, or None. It
    is recorded once: the page offers no second (a page left open while
    someone else recorded it would otherwise replace theirs)."""
    if case.status != CaseStatus.FAILED:
        return "A later outcome is recorded only for a failed case"
    if case.later_outcome_code is not None:
        return "The later outcome has already been recorded"
    return None


def record_later_outcome(case: DiversionCase, code: int | None, *, actor: User,
                         now: datetime) -> DiversionCase:
    """After a failed case, the criminal justice outcome, when it is known."""
    _lock(DiversionCase, case)
    if (refusal := later_outcome_refusal(case)) is not None:
        raise DiversionError({None: refusal})
    if code not in outcome_codes():
        raise DiversionError({"code": "Select the outcome code"})
    case.later_outcome_code, case.updated_at = code, now
    db.session.flush()
    _audit_step(Action.DIVERSION_OUTCOME_RECORDED, case, actor, now, later_outcome_code=code)
    return case


# "Due soon": due within this many days (the lead dashboard's figure and
# the list behind it)
DUE_SOON_DAYS = 14
# the most cases a list shows (the page says when there are more)
CASES_SHOWN = 500


def _of_people_at(stmt: Select, site_ids: frozenset[int] | None) -> Select:
    """``stmt`` (on DiversionCase, its person read with it) narrowed to the
    cases of people whose case belongs to ``site_ids`` (``intake.at_sites``:
    their own site or a referral's; None: every site): the rule of who may
    open them (``visible_cases``), so a list and a figure count the cases
    its reader can open, a case at each site the person belongs to."""
    stmt = stmt.join(Person, Person.id == DiversionCase.person_id)
    return stmt if site_ids is None else stmt.where(intake.at_sites(sorted(site_ids)))


def cases(site_ids: frozenset[int] | None, *,
          status: str | tuple[str, ...] | None = None, overdue_on: date | None = None,
          due_soon_on: date | None = None, limit: int = CASES_SHOWN) -> list[DiversionCase]:
    """Diversion cases of the people of ``site_ids`` (``_of_people_at``), of
    ``status`` (one or several), by due date; with ``overdue_on``, only
    active cases past their due date on that day; with ``due_soon_on``, only
    active cases due from that day to DUE_SOON_DAYS after it. At most
    ``limit``. One query."""
    stmt = (_of_people_at(select(DiversionCase), site_ids)
            .options(contains_eager(DiversionCase.person))
            .order_by(DiversionCase.due_date.is_(None), DiversionCase.due_date,
                      DiversionCase.id).limit(limit))
    if status:
        stmt = stmt.where(DiversionCase.status.in_((status,) if isinstance(status, str)
                                                   else status))
    if overdue_on is not None:
        stmt = stmt.where(DiversionCase.status == CaseStatus.ACTIVE,
                          DiversionCase.due_date < overdue_on)
    if due_soon_on is not None:
        stmt = stmt.where(DiversionCase.status == CaseStatus.ACTIVE,
                          DiversionCase.due_date >= due_soon_on,
                          DiversionCase.due_date <= due_soon_on + timedelta(days=DUE_SOON_DAYS))
    return list(db.session.scalars(stmt))


def due_counts(site_ids: frozenset[int] | None, today: date) -> tuple[int, int]:
    """(due soon, overdue) on ``today``: how many cases ``cases`` lists with
    ``due_soon_on`` and with ``overdue_on`` (the dashboard's figures, which
    link to those lists). One query."""
    stmt = _of_people_at(select(
        func.count(when((DiversionCase.due_date >= today, 1))),
        func.count(when((DiversionCase.due_date < today, 1)))).select_from(DiversionCase),
        site_ids).where(DiversionCase.status == CaseStatus.ACTIVE,
                        DiversionCase.due_date <= today + timedelta(days=DUE_SOON_DAYS))
    due, late = db.session.execute(stmt).one()
    return due, late


def overdue(case: DiversionCase, today: date) -> bool:
    return is_overdue(case.status, case.due_date, today)
