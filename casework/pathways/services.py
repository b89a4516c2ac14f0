"""Pathway moves for the treatment arm, disruption proposals and approvals,
protocol deviations, and the leads' summary. Services flush, never commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import contains_eager, joinedload

from casework import submissions
from casework.accounts.models import Site, User
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import check_unchanged, lock_for_update, lock_row, row_version
from casework.dates import local_date, long_date
from casework.extensions import db
from casework.intake import services as intake
from casework.intake.models import Person
from casework.notes.models import Note
from casework.pathways.models import (
    PathwayEpisode,
    PathwayProposal,
    ProposalStatus,
    ProtocolDeviation,
)
from casework.pathways.states import (
    EXIT_REASONS,
    TRANSITIONS,
    Authority,
    InvalidTransition,
    Pathway,
    date_problem,
    transition,
)
from casework.trial.models import Allocation
from casework.trial.sequence import Arm

MAX_TEXT_LENGTH = 5000


class PathwayError(Exception):
    """A pathway request that cannot be carried out; ``problems`` maps form
    fields to messages."""

    def __init__(self, problems: dict[str | None, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


def allocation_of(person_id: int) -> Allocation | None:
    """The person's most recent allocation (a person is in one trial at a time)."""
    return db.session.scalars(
        select(Allocation).where(Allocation.person_id == person_id)
        .order_by(Allocation.allocated_at.desc(), Allocation.id.desc())
    ).first()


def current_episode(person_id: int) -> PathwayEpisode | None:
    return db.session.scalars(select(PathwayEpisode).where(
        PathwayEpisode.person_id == person_id, PathwayEpisode.end_date.is_(None))).first()


def pending_proposal(person_id: int) -> PathwayProposal | None:
    return db.session.scalars(select(PathwayProposal).where(
        PathwayProposal.person_id == person_id,
        PathwayProposal.status == ProposalStatus.PENDING)).first()


def latest_proposal(person_id: int) -> PathwayProposal | None:
    """The person's latest proposal, with who made and who decided it."""
    return db.session.scalars(
        select(PathwayProposal).where(PathwayProposal.person_id == person_id)
        .options(joinedload(PathwayProposal.proposed_by), joinedload(PathwayProposal.decided_by))
        .order_by(PathwayProposal.proposed_at.desc(), PathwayProposal.id.desc()).limit(1)
    ).first()


def episodes(person_id: int) -> list[PathwayEpisode]:
    """The person's timeline, newest first (one query)."""
    return list(db.session.scalars(
        select(PathwayEpisode).where(PathwayEpisode.person_id == person_id)
        .options(joinedload(PathwayEpisode.proposed_by), joinedload(PathwayEpisode.approved_by))
        .order_by(PathwayEpisode.effective_date.desc(), PathwayEpisode.id.desc())
    ).unique())


@dataclass(frozen=True)
class PersonPathway:
    """What the person page shows: the arm, the timeline, a pending proposal
    and the protocol deviations recorded for a control-arm person.
    ``restricted_authors`` names, for each deviation flagged by a restricted
    contact note, that note's author; ``latest``, the person's latest
    proposal (pending, or decided)."""

    allocation: Allocation | None
    episodes: list[PathwayEpisode]
    latest: PathwayProposal | None
    deviations: list[ProtocolDeviation]
    restricted_authors: dict[int, int] = field(default_factory=dict)

    @property
    def current(self) -> PathwayEpisode | None:
        return next((e for e in self.episodes if e.end_date is None), None)

    @property
    def pending(self) -> PathwayProposal | None:
        """The proposal waiting for a lead: there is one at most, and none
        is made while it waits, so it is the latest."""
        latest = self.latest
        return latest if latest is not None and latest.status == ProposalStatus.PENDING else None

    @property
    def decided(self) -> PathwayProposal | None:
        """The latest proposal, once decided, until the person next moves:
        how it was decided (a rejection above all, which moves no one) is
        shown where it waited, for the caseworker who proposed it."""
        latest, current = self.latest, self.current
        if latest is None or latest.decided_at is None:
            return None
        if current is not None and current.created_at > latest.decided_at:
            return None
        return latest

    def deviations_seen_by(self, actor: User) -> list[ProtocolDeviation]:
        """The deviations ``actor`` may be shown: one flagged by a restricted
        note only to those who may read the note (its author, leads), as it
        tells that the note exists and its date. It is recorded and counted
        all the same (trial data: the summary, the dashboard, extracts)."""
        if actor.can(Permission.RESTRICTED_NOTE_READ):
            return self.deviations
        return [d for d in self.deviations
                if self.restricted_authors.get(d.id, actor.id) == actor.id]


def person_pathway(person_id: int,
                   allocations: list[Allocation] | None = None) -> PersonPathway:
    """The person page's pathway panel. ``allocations``, the person's
    allocations when the caller has them already, saves a query; a person
    never randomised has no episodes or proposals (both belong to an
    allocation), so none are looked for."""
    if allocations is None:
        allocation = allocation_of(person_id)
    else:
        allocation = max(allocations, key=lambda a: (a.allocated_at, a.id), default=None)
    if allocation is None:
        return PersonPathway(None, [], None, [])
    deviations = db.session.execute(
        select(ProtocolDeviation, Note.author_id)
        .outerjoin(Note, and_(Note.person_id == ProtocolDeviation.person_id,
                              Note.protocol_deviation_id == ProtocolDeviation.id,
                              Note.restricted.is_(True)))
        .where(ProtocolDeviation.person_id == person_id)
        .order_by(ProtocolDeviation.occurred_on, ProtocolDeviation.id)
    ).all() if allocation.arm == Arm.CONTROL else []
    return PersonPathway(
        allocation, episodes(person_id),
        latest_proposal(person_id) if allocation.arm == Arm.TREATMENT else None,
        [deviation for deviation, _ in deviations],
        {deviation.id: author for deviation, author in deviations if author is not None},
    )


def _treatment_allocation(person: Person) -> Allocation:
    """The control-arm guard: pathway actions exist only for treated people."""
    allocation = allocation_of(person.id)
    if allocation is None:
        raise PathwayError({None: f"{person.full_name} has not been randomised, so has no "
                                  "pathway"})
    if allocation.arm != Arm.TREATMENT:
        raise PathwayError({None: f"{person.full_name} is in the control arm: no programme "
                                  "action can be taken. Record any programme contact as a "
                                  "protocol deviation."})
    return allocation


def pathway_problem(person: Person) -> str | None:
    """Why no pathway action can be offered for ``person``, or None."""
    try:
        _treatment_allocation(person)
    except PathwayError as error:
        return str(error)
    if current_episode(person.id) is None:
        return f"{person.full_name} has no pathway yet"
    return None


def _new_episode(person: Person, allocation: Allocation, pathway: Pathway, effective: date, *,
                 previous: PathwayEpisode | None, reason: str | None, exit_reason: str | None,
                 rationale: str | None, proposed_by: User | None, approved_by: User | None,
                 actor: User | None, now: datetime) -> PathwayEpisode:
    if previous is not None:
        previous.end_date = effective
        db.session.flush()  # close it before the partial unique index sees the new one
    episode = PathwayEpisode(
        person_id=person.id, allocation_id=allocation.id, site_id=allocation.site_id,
        pathway=pathway, previous_pathway=previous.pathway if previous else None,
        effective_date=effective, reason=reason, exit_reason=exit_reason, rationale=rationale,
        proposed_by_id=proposed_by.id if proposed_by else None,
        approved_by_id=approved_by.id if approved_by else None, created_at=now,
    )
    db.session.add(episode)
    db.session.flush()
    audit.record(
        Action.PATHWAY_CHANGED, actor=actor, now=now, subject_type="person",
        subject_id=person.id, site_id=allocation.site_id,
        detail={"episode_id": episode.id,
                **audit.changes({"pathway": str(previous.pathway) if previous else None},
                                {"pathway": str(pathway)}),
                "effective_date": effective.isoformat(), "reason": reason,
                "exit_reason": exit_reason, "approved_by": approved_by.id if approved_by else None},
    )
    return episode


def start_awaiting_offer(allocation: Allocation, *, actor: User | None,
                         now: datetime) -> PathwayEpisode | None:
    """A newly treated person starts on "awaiting offer" from the day of
    randomisation; control allocations get no pathway."""
    if allocation.arm != Arm.TREATMENT:
        return None
    person = db.session.get(Person, allocation.person_id)
    return _new_episode(person, allocation, Pathway.AWAITING_OFFER,
                        local_date(allocation.allocated_at),
                        previous=None, reason="Randomised to treatment", exit_reason=None,
                        rationale=None, proposed_by=None, approved_by=None, actor=actor, now=now)


@dataclass
class MoveRequest:
    target: str
    effective_date: date | None
    exit_reason: str | None = None
    rationale: str | None = None
    based_on: str | None = None  # pathway_version of the episode the page showed
    submission: str | None = None  # the form's key (submissions): a resend moves once


def pathway_version(current: PathwayEpisode | None) -> str:
    """The version of a person's pathway a move form is drawn from: the
    episode it moves from."""
    return row_version({"episode": current.id if current else None})


def check_version(current: PathwayEpisode | None, based_on: str | None) -> None:
    """Raise ChangedMeanwhile if the person has moved since the move form
    ``based_on`` (its pathway_version) was drawn: its move was chosen from
    a pathway they are no longer on."""
    check_unchanged(based_on, {"episode": current.id if current else None})


def _clean_text(text: str | None) -> str | None:
    text = (text or "").strip() or None
    if text and len(text) > MAX_TEXT_LENGTH:
        raise PathwayError({"rationale": f"The rationale must be {MAX_TEXT_LENGTH} characters "
                                         "or fewer"})
    return text


def _check_move(person: Person, request: MoveRequest, *, actor: User, today: date):
    allocation = _treatment_allocation(person)
    current = current_episode(person.id)
    if current is None:
        raise PathwayError({None: f"{person.full_name} has no pathway yet"})
    check_version(current, request.based_on)
    try:
        target = Pathway(request.target)
    except ValueError:
        raise PathwayError({"target": "Select where the person is moving to"}) from None
    rationale = _clean_text(request.rationale)
    try:
        move = transition(current.pathway, target,
                          is_lead=actor.can(Permission.PATHWAY_DECIDE), rationale=rationale,
                          exit_reason=request.exit_reason, current_since=current.effective_date,
                          effective=request.effective_date)
    except InvalidTransition as error:
        raise PathwayError({error.field: str(error)}) from None
    problem = date_problem(request.effective_date, today=today,
                           randomised_on=local_date(allocation.allocated_at),
                           previous_change=current.effective_date)
    if problem:
        raise PathwayError({"effective_date": problem})
    return allocation, current, target, move, rationale


def move(person: Person, request: MoveRequest, *, actor: User,
         now: datetime) -> PathwayEpisode | PathwayProposal:
    """Record a pathway move, or propose it when the table needs a lead's
    approval (entering disruption). Serialised per person. Sent again (its
    ``submission`` key claimed), raises submissions.AlreadySubmitted: a
    second click waits for the first's lock, and would otherwise find the
    person moved "by someone else".

    A proposal waiting for a lead stops a second proposal, not a move:
    a death, custody or accepted support is recorded when it happens (the
    caseworker's to record, DESIGN.md), and ends the waiting proposal as
    lapsed (``_lapse``), under the same lock, which approve and reject take
    too."""
    lock_for_update(db.session, f"pathway:person:{person.id}")
    submissions.claim(request.submission, "pathway_move", actor=actor, now=now)
    allocation, current, target, rule, rationale = _check_move(
        person, request, actor=actor, today=local_date(now))
    if rule.authority == Authority.LEAD_APPROVAL:
        if pending_proposal(person.id) is not None:
            raise PathwayError({None: "A proposal for this person is already waiting for a "
                                      "lead"})
        proposal = PathwayProposal(
            person_id=person.id, allocation_id=allocation.id, site_id=allocation.site_id,
            from_pathway=current.pathway, to_pathway=target,
            effective_date=request.effective_date, rationale=rationale,
            proposed_by_id=actor.id, proposed_at=now,
        )
        db.session.add(proposal)
        db.session.flush()
        submissions.settle(request.submission, person.id)  # (the person moved or proposed)
        audit.record(Action.PATHWAY_PROPOSED, actor=actor, now=now, subject_type="person",
                     subject_id=person.id, site_id=allocation.site_id,
                     detail={"proposal_id": proposal.id, "from": str(current.pathway),
                             "to": str(target),
                             "effective_date": request.effective_date.isoformat()})
        return proposal
    submissions.settle(request.submission, person.id)
    waiting = pending_proposal(person.id)
    if waiting is not None:
        _lapse(waiting, person, target, request.effective_date, actor=actor, now=now)
    return _new_episode(
        person, allocation, target, request.effective_date, previous=current,
        reason=EXIT_REASONS[request.exit_reason] if rule.needs_exit_reason else rule.reason,
        exit_reason=request.exit_reason if rule.needs_exit_reason else None,
        rationale=rationale, proposed_by=actor, approved_by=None, actor=actor, now=now,
    )


def _lapse(proposal: PathwayProposal, person: Person, target: Pathway, effective: date, *,
           actor: User, now: datetime) -> None:
    """End ``proposal``, still waiting, as lapsed: ``person`` is moved to
    ``target`` from ``effective`` before a lead decided it. No one decided
    it, so it has no decider (``decided_by``: the lead who approved or
    rejected); who recorded the move is the episode's and the audit
    event's actor. The note says what overtook it, for the proposal's
    page, the person's record and a lead who opens it afterwards. The
    caller holds the person's lock, which a decision takes first: the
    proposal, found pending under it, stays so until this ends it."""
    proposal.status = ProposalStatus.LAPSED
    proposal.decided_by_id, proposal.decided_at = None, now
    # (no name: a name corrected later would not follow it into the note)
    proposal.decision_note = (f"moved to {target.label.lower()} on {long_date(effective)} "
                              "before it was decided")
    db.session.flush()
    audit.record(Action.PATHWAY_PROPOSAL_LAPSED, actor=actor, now=now, subject_type="person",
                 subject_id=person.id, site_id=proposal.site_id,
                 detail={"proposal_id": proposal.id, "to": str(proposal.to_pathway),
                         "moved_to": str(target), "effective_date": effective.isoformat()})


def _lock_pending(proposal: PathwayProposal) -> None:
    lock_for_update(db.session, f"pathway:person:{proposal.person_id}")
    lock_row(db.session, proposal)
    if proposal.status == ProposalStatus.LAPSED:
        raise PathwayError({None: f"This proposal lapsed: {proposal.person.full_name} "
                                  f"{proposal.decision_note}"})
    if proposal.status != ProposalStatus.PENDING:
        raise PathwayError({None: f"This proposal was already {proposal.status.value}"})


def approve(proposal: PathwayProposal, *, actor: User, now: datetime) -> PathwayEpisode:
    """A lead approves a proposal: the move takes effect from its date.

    Refused if the person has moved since it was proposed (propose again),
    and for the lead who proposed it (approval is a second person's check).
    """
    _lock_pending(proposal)
    if proposal.proposed_by_id == actor.id:
        raise PathwayError({None: "Another lead must approve a proposal you made"})
    person = proposal.person
    current = current_episode(person.id)
    if current is None or current.pathway != proposal.from_pathway \
            or current.effective_date > proposal.effective_date:
        raise PathwayError({None: "The person's pathway has changed since this was proposed; "
                                  "reject it and propose again"})
    allocation = _treatment_allocation(person)
    proposal.status = ProposalStatus.APPROVED
    proposal.decided_by_id, proposal.decided_at = actor.id, now
    db.session.flush()
    audit.record(Action.PATHWAY_APPROVED, actor=actor, now=now, subject_type="person",
                 subject_id=person.id, site_id=proposal.site_id,
                 detail={"proposal_id": proposal.id, "to": str(proposal.to_pathway)})
    rule = TRANSITIONS[(proposal.from_pathway, proposal.to_pathway)]
    return _new_episode(person, allocation, proposal.to_pathway, proposal.effective_date,
                        previous=current, reason=rule.reason, exit_reason=None,
                        rationale=proposal.rationale, proposed_by=proposal.proposed_by,
                        approved_by=actor, actor=actor, now=now)


def reject(proposal: PathwayProposal, note: str | None, *, actor: User,
           now: datetime) -> PathwayProposal:
    """A lead rejects a proposal, saying why; the person stays where they are."""
    note = (note or "").strip()
    if not note:
        raise PathwayError({"note": "Say why the proposal is rejected"})
    if len(note) > MAX_TEXT_LENGTH:
        raise PathwayError({"note": f"The note must be {MAX_TEXT_LENGTH} characters or fewer"})
    _lock_pending(proposal)
    proposal.status = ProposalStatus.REJECTED
    proposal.decided_by_id, proposal.decided_at = actor.id, now
    proposal.decision_note = note
    db.session.flush()
    audit.record(Action.PATHWAY_REJECTED, actor=actor, now=now, subject_type="person",
                 subject_id=proposal.person_id, site_id=proposal.site_id,
                 detail={"proposal_id": proposal.id, "to": str(proposal.to_pathway)})
    return proposal


def visible_proposals(actor: User) -> Select:
    """Proposals about people ``actor`` may see: a proposal is made at the
    site of the person's allocation, but the person belongs to their own
    site and every site they were referred at (intake.visible_people), and
    the leads of each may open it, as they may open the person's page."""
    return select(PathwayProposal).where(intake.person_visible(PathwayProposal.person_id, actor))


def pending_proposals(site_ids: frozenset[int] | None) -> list[PathwayProposal]:
    """Proposals waiting for a lead, about people whose case belongs to
    ``site_ids`` (``intake.at_sites``: the rule of who may open them,
    ``visible_proposals``), oldest first (one query). By the proposal's own
    site, a lead of the person's home site could decide a proposal the
    queue never showed them (found by review)."""
    stmt = (select(PathwayProposal).join(Person, Person.id == PathwayProposal.person_id)
            .where(PathwayProposal.status == ProposalStatus.PENDING)
            .options(contains_eager(PathwayProposal.person),
                     joinedload(PathwayProposal.proposed_by))
            .order_by(PathwayProposal.proposed_at, PathwayProposal.id))
    if site_ids is not None:
        stmt = stmt.where(intake.at_sites(sorted(site_ids)))
    return list(db.session.scalars(stmt).unique())


# protocol deviations

DEVIATION_KINDS = {"programme_contact": "Programme contact with a control-arm person"}


def _not_in_control(person: Person, allocation: Allocation | None) -> str | None:
    if allocation is None:
        return (f"{person.full_name} has not been randomised, so is in neither arm: contact "
                "with them is no protocol deviation. Record it as a contact on their record.")
    if allocation.arm != Arm.CONTROL:
        return (f"{person.full_name} is in the treatment arm, not the control arm: contact "
                "with them is no protocol deviation. Record it as a contact on their record.")
    return None


def deviation_problem(person: Person) -> str | None:
    """Why no protocol deviation can be recorded for ``person`` (only a
    programme contact with a control-arm person is one), or None."""
    return _not_in_control(person, allocation_of(person.id))


def record_deviation(person: Person, occurred_on: date | None, description: str | None, *,
                     actor: User, now: datetime, kind: str = "programme_contact",
                     submission: str | None = None) -> ProtocolDeviation:
    """Record a programme contact with a control-arm person (a protocol
    deviation). For anyone else it is not a deviation, and is refused.

    Deviations are append-only (on PostgreSQL by trigger): a form sent
    twice (a double click, a resend) would record one that could never be
    taken away, so its ``submission`` key is claimed, and a form sent again
    raises submissions.AlreadySubmitted."""
    allocation = allocation_of(person.id)
    problem = _not_in_control(person, allocation)
    if problem:
        raise PathwayError({None: problem})
    problems: dict[str | None, str] = {}
    if occurred_on is None:
        problems["occurred_on"] = "Enter the date of the contact"
    elif occurred_on > local_date(now):
        problems["occurred_on"] = "The date cannot be in the future"
    elif occurred_on < (randomised_on := local_date(allocation.allocated_at)):
        problems["occurred_on"] = (f"The date cannot be before {long_date(randomised_on)}, when "
                                   "they were randomised: before that they were in no arm")
    description = (description or "").strip()
    if not description:
        problems["description"] = "Describe the contact"
    elif len(description) > MAX_TEXT_LENGTH:
        problems["description"] = f"The description must be {MAX_TEXT_LENGTH} characters or fewer"
    if kind not in DEVIATION_KINDS:
        problems["kind"] = "Select the kind of deviation"
    if problems:
        raise PathwayError(problems)
    submissions.claim(submission, "deviation", actor=actor, now=now)
    deviation = ProtocolDeviation(
        person_id=person.id, allocation_id=allocation.id, site_id=allocation.site_id, kind=kind,
        occurred_on=occurred_on, description=description, recorded_by_id=actor.id,
        recorded_at=now)
    db.session.add(deviation)
    db.session.flush()
    submissions.settle(submission, deviation.id)
    audit.record(Action.DEVIATION_RECORDED, actor=actor, now=now, subject_type="person",
                 subject_id=person.id, site_id=allocation.site_id,
                 detail={"deviation_id": deviation.id, "kind": kind,
                         "occurred_on": occurred_on.isoformat()})
    return deviation


DEVIATIONS_SHOWN = 200  # the most the list shows (it says when there are more)


def deviations(site_ids: frozenset[int] | None, *,
               limit: int = DEVIATIONS_SHOWN) -> list[ProtocolDeviation]:
    """The protocol deviations at ``site_ids``, the latest first, at most
    ``limit``: one query."""
    stmt = (select(ProtocolDeviation).options(joinedload(ProtocolDeviation.person),
                                              joinedload(ProtocolDeviation.recorded_by))
            .order_by(ProtocolDeviation.occurred_on.desc(), ProtocolDeviation.id.desc())
            .limit(limit))
    if site_ids is not None:
        stmt = stmt.where(ProtocolDeviation.site_id.in_(site_ids))
    return list(db.session.scalars(stmt).unique())


# the leads' summary

@dataclass(frozen=True)
class SiteSummary:
    site: Site
    now: dict[Pathway, int]
    deviations: int

    @property
    def total(self) -> int:
        return sum(self.now.values())


@dataclass(frozen=True)
class PathwaySummary:
    sites: list[SiteSummary]
    moves: dict[tuple[Pathway, Pathway], int]
    date_from: date
    date_to: date

    @property
    def totals(self) -> dict[Pathway, int]:
        return {p: sum(s.now[p] for s in self.sites) for p in Pathway}


def summary(site_ids: frozenset[int] | None, *, date_from: date, date_to: date
            ) -> PathwaySummary:
    """Counts now by site and pathway (open episodes), protocol deviations
    by site, and moves between pathways with effective dates in the range.
    Four queries whatever the size."""
    sites_stmt = select(Site).order_by(Site.name)
    now_stmt = (select(PathwayEpisode.site_id, PathwayEpisode.pathway, func.count())
                .where(PathwayEpisode.end_date.is_(None))
                .group_by(PathwayEpisode.site_id, PathwayEpisode.pathway))
    dev_stmt = (select(ProtocolDeviation.site_id, func.count())
                .group_by(ProtocolDeviation.site_id))
    moves_stmt = (select(PathwayEpisode.previous_pathway, PathwayEpisode.pathway, func.count())
                  .where(PathwayEpisode.previous_pathway.is_not(None),
                         PathwayEpisode.effective_date >= date_from,
                         PathwayEpisode.effective_date <= date_to)
                  .group_by(PathwayEpisode.previous_pathway, PathwayEpisode.pathway))
    if site_ids is not None:
        sites_stmt = sites_stmt.where(Site.id.in_(site_ids))
        now_stmt = now_stmt.where(PathwayEpisode.site_id.in_(site_ids))
        dev_stmt = dev_stmt.where(ProtocolDeviation.site_id.in_(site_ids))
        moves_stmt = moves_stmt.where(PathwayEpisode.site_id.in_(site_ids))
    counts: dict[int, dict[Pathway, int]] = {}
    for site_id, pathway, number in db.session.execute(now_stmt):
        counts.setdefault(site_id, {p: 0 for p in Pathway})[Pathway(pathway)] = number
    deviation_counts = dict(db.session.execute(dev_stmt).all())
    sites = [SiteSummary(site, counts.get(site.id, {p: 0 for p in Pathway}),
                         deviation_counts.get(site.id, 0))
             for site in db.session.scalars(sites_stmt)]
    moves = {(Pathway(a), Pathway(b)): n for a, b, n in db.session.execute(moves_stmt)}
    return PathwaySummary(sites, moves, date_from, date_to)
