"""Caseload oversight: the lead dashboard, caseloads per caseworker, the
case list behind every figure, reassignment and periodic reviews.

Every function here runs a fixed number of queries whatever the size of
the data (tests/integration/test_caseload.py counts them). Services flush,
never commit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

from cachetools import TTLCache
from dateutil.relativedelta import relativedelta
from flask import current_app
from sqlalchemy import (
    Date,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import aliased, joinedload, lazyload

from casework import submissions
from casework.accounts.models import Site, User, user_sites
from casework.accounts.roles import Role
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.caseload.models import REVIEW_OUTCOMES, CaseAssignment, CaseReview
from casework.database import COUNT_CAP, Paged, count_up_to, page_within, utcnow
from casework.dates import local_date
from casework.diversion import services as diversion
from casework.diversion.models import DiversionCase
from casework.diversion.states import CaseStatus
from casework.extensions import db
from casework.intake import services as intake
from casework.intake.models import Person, Referral
from casework.intake.services import at_sites
from casework.notes import services as notes
from casework.pathways.models import (
    PathwayEpisode,
    PathwayProposal,
    ProposalStatus,
    ProtocolDeviation,
)
from casework.pathways.states import Pathway
from casework.triage.models import Triage
from casework.trial.models import Allocation

WEEKS = 26
DUE_SOON_DAYS = 14
MAX_REASON_LENGTH = 2000
MAX_CASES_AT_ONCE = 200  # a reassignment's people (a case list's page is 50)
TOO_MANY_CASES = f"Reassign at most {MAX_CASES_AT_ONCE} cases at a time"
NO_CASES = "Select at least one case"


class CaseloadError(Exception):
    """A request whose meaning is wrong; ``problems`` maps form fields to messages."""

    def __init__(self, problems: dict[str | None, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


def active():
    """A person whose case is open: a referral still in play, a treated
    person not exited, or a diversion offered or under way.

    One EXISTS over the three, not three OR'd: PostgreSQL turns each of
    those into a hash of every open referral in the country (a scan of
    the table) even to check a page of people; this one it checks person
    by person, through the indexes on ``person_id``."""
    return union_all(
        select(literal(1)).where(Referral.person_id == Person.id,
                                 Referral.status.in_(("received", "in_triage", "eligible"))),
        select(literal(1)).where(PathwayEpisode.person_id == Person.id,
                                 PathwayEpisode.end_date.is_(None),
                                 PathwayEpisode.pathway != Pathway.EXITED),
        select(literal(1)).where(DiversionCase.person_id == Person.id,
                                 DiversionCase.status.in_((CaseStatus.OFFERED,
                                                           CaseStatus.ACTIVE))),
    ).exists()


def _in_two_parts(stmt: Select, site_ids) -> tuple[Select, Select]:
    """``stmt`` (on ``Person``) narrowed to ``at_sites(site_ids)`` in two
    parts, each read through an index on site: the people whose own site is
    one of them, and those referred at one who live elsewhere (few).
    Counted in that order up to a cap, the second is read only when the
    first falls short of it."""
    return (stmt.where(Person.site_id.in_(site_ids)),
            stmt.where(Person.site_id.not_in(site_ids), exists().where(
                Referral.person_id == Person.id, Referral.site_id.in_(site_ids))))


# who may hold a case at a site (``assignable``)
_HOLDERS = (User.active.is_(True), User.role.in_((Role.CASEWORKER, Role.LEAD)))


def unfit_holders() -> list[int]:
    """The users who hold a case at a site where they may not hold one
    (deactivated, no longer a caseworker or lead, or no longer working
    there): one query, read from the index on each person's caseworker and
    site, its pairs (a few per caseworker) checked against the memberships
    (2.3 ms at 30,000 demo people on PostgreSQL)."""
    held = (select(Person.caseworker_id, Person.site_id)
            .where(Person.caseworker_id.is_not(None))
            .group_by(Person.caseworker_id, Person.site_id).subquery())
    return list(db.session.scalars(select(held.c.caseworker_id).where(~exists().where(
        user_sites.c.user_id == held.c.caseworker_id, user_sites.c.site_id == held.c.site_id,
        User.id == user_sites.c.user_id, *_HOLDERS)).distinct()))


def needs_caseworker(holders):
    """A person whose case no one holds who could be given it now: no
    caseworker, or one deactivated, no longer a caseworker or lead, or
    working at none of the sites the case belongs to (``at_sites``).
    ``holders``: ``unfit_holders()`` (a list, or an expanding parameter).
    A leaver's cases, which a lead must give to someone, were on no
    caseload and not among the cases with no caseworker.

    The people of those holders (and those with none) first, through the
    index on caseworker, then whether the caseworker may hold the case at
    the person's own site or at a site they were referred at, one NOT
    EXISTS over a UNION ALL checked person by person. Checked for every
    case of the sites, the case list of one site of seven took 106 ms at
    30,000 demo people on PostgreSQL (4 ms with this)."""
    memberships = user_sites.join(User, User.id == user_sites.c.user_id)
    return and_(
        or_(Person.caseworker_id.is_(None), Person.caseworker_id.in_(holders)),
        ~union_all(
            select(literal(1)).select_from(memberships)
            .where(user_sites.c.user_id == Person.caseworker_id,
                   user_sites.c.site_id == Person.site_id, *_HOLDERS).correlate(Person),
            select(literal(1)).select_from(Referral)
            .join(memberships, user_sites.c.site_id == Referral.site_id)
            .where(Referral.person_id == Person.id,
                   user_sites.c.user_id == Person.caseworker_id, *_HOLDERS).correlate(Person),
        ).exists())


def latest_reviews():
    """Each person's latest review (its next review date counts): the one
    with the latest review date, of those on one day the last recorded, as
    the person page shows it (``_reviews``). Not the last recorded: a
    review entered late, dated months back, is not the latest, and its
    next review date, long past, made the person overdue here while their
    page gave the date the latest review set.

    The review no later one exists for, so a condition on its next review
    date is applied as the rows are read (index on person and date)."""
    later = aliased(CaseReview)
    return (select(CaseReview.person_id, CaseReview.next_review_on)
            .where(~exists().where(
                later.person_id == CaseReview.person_id,
                or_(later.reviewed_on > CaseReview.reviewed_on,
                    and_(later.reviewed_on == CaseReview.reviewed_on,
                         later.id > CaseReview.id))))
            .subquery())


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Dashboard:
    today: date
    worked_out_at: datetime
    treated: dict[Pathway, int]
    control: int
    referrals_by_week: list[tuple[date, int]]
    triage_waiting: int
    triage_oldest_days: int | None
    approvals_pending: int
    overdue_contacts: int
    diversion_due: int
    diversion_overdue: int
    deviations: int
    reviews_due: int
    reviews_overdue: int

    @property
    def treated_total(self) -> int:
        return sum(self.treated.values())


def dashboard(site_ids: frozenset[int], *, actor: User, today: date,
              thresholds: dict[str, int]) -> Dashboard:
    """The lead's figures for ``site_ids``: six queries. Records that have a
    site of their own (referrals, triages, deviations) count at it; people
    (by arm and pathway, overdue contacts, reviews) and their disruption
    proposals and diversion cases count at every site their case belongs to
    (``at_sites``), each once: the list behind each figure lists the same
    people and cases."""
    sites = sorted(site_ids)
    # people by arm and, for the treated, pathway now
    arms = db.session.execute(
        select(Allocation.arm, PathwayEpisode.pathway,
               func.count(Allocation.person_id.distinct()))
        .join(Person, Person.id == Allocation.person_id)
        .outerjoin(PathwayEpisode, and_(PathwayEpisode.allocation_id == Allocation.id,
                                        PathwayEpisode.end_date.is_(None)))
        .where(at_sites(sites))
        .group_by(Allocation.arm, PathwayEpisode.pathway)).all()
    treated = {p: 0 for p in Pathway}
    control = 0
    for arm, pathway, number in arms:
        if arm == "control":
            control += number
        elif pathway is not None:
            treated[Pathway(pathway)] += number
    # referrals per week, the last 26 weeks including this one
    first = _monday(today) - timedelta(weeks=WEEKS - 1)
    per_day = db.session.execute(
        select(Referral.referral_date, func.count())
        .where(Referral.site_id.in_(sites), Referral.referral_date >= first,
               Referral.referral_date <= today)
        .group_by(Referral.referral_date)).all()
    weeks = {first + timedelta(weeks=n): 0 for n in range(WEEKS)}
    for day, number in per_day:
        weeks[_monday(day)] += number
    waiting, oldest = db.session.execute(
        select(func.count(), func.min(Triage.submitted_at)).join(Triage.referral)
        .where(Triage.decided_at.is_(None), Triage.site_id.in_(sites),
               Referral.status == "in_triage")).one()
    # three counts in one query (scalar subqueries)
    overdue = (notes.overdue_people(actor, today=today, thresholds=thresholds)
               .join(Person, Person.id == PathwayEpisode.person_id)
               .where(at_sites(sites)).subquery())
    approvals, overdue_count, deviations = db.session.execute(select(
        # as the queue the figure links to lists them (pathways.pending_proposals)
        select(func.count()).select_from(PathwayProposal)
        .join(Person, Person.id == PathwayProposal.person_id)
        .where(PathwayProposal.status == ProposalStatus.PENDING, at_sites(sites))
        .scalar_subquery(),
        select(func.count(overdue.c.person_id.distinct())).scalar_subquery(),
        select(func.count()).select_from(ProtocolDeviation)
        .where(ProtocolDeviation.site_id.in_(sites)).scalar_subquery(),
    )).one()
    # counted as the lists the figures link to list them (diversion.services.cases)
    due, late = diversion.due_counts(site_ids, today)
    reviews = latest_reviews()
    reviews_due, reviews_late = db.session.execute(
        select(func.count(case((reviews.c.next_review_on >= today, 1))),
               func.count(case((reviews.c.next_review_on < today, 1))))
        .select_from(reviews).join(Person, Person.id == reviews.c.person_id)
        .where(at_sites(sites), active(),
               reviews.c.next_review_on <= today + timedelta(days=DUE_SOON_DAYS))).one()
    return Dashboard(
        today=today, worked_out_at=utcnow(), treated=treated, control=control,
        referrals_by_week=sorted(weeks.items()),
        triage_waiting=waiting,
        triage_oldest_days=(today - local_date(oldest)).days if oldest else None,
        approvals_pending=approvals, overdue_contacts=overdue_count,
        diversion_due=due, diversion_overdue=late, deviations=deviations,
        reviews_due=reviews_due, reviews_overdue=reviews_late,
    )


_KEPT = "casework.dashboard_figures"
_kept_lock = threading.Lock()


def kept_dashboard(site_ids: frozenset[int], *, actor: User, today: date,
                   thresholds: dict[str, int]) -> Dashboard:
    """``dashboard``'s figures, kept for DASHBOARD_FIGURES_SECONDS (0: never
    kept) for everyone who would get the same figures: the same sites, day
    and thresholds, and the same reach into restricted notes (the overdue
    count reads contacts). They are counts only, no one's details; the page
    says when they were worked out. A dashboard is opened again and again,
    and its six queries read every referral of the last half year and the
    last contact of every open episode; kept, a load costs a lookup."""
    seconds = current_app.config["DASHBOARD_FIGURES_SECONDS"]
    if not seconds:
        return dashboard(site_ids, actor=actor, today=today, thresholds=thresholds)
    reach = "all" if notes.can_read_restricted(actor) else actor.id
    key = (site_ids, today, tuple(sorted(thresholds.items())), reach)
    kept = current_app.extensions.get(_KEPT)
    if kept is None:
        with _kept_lock:
            kept = current_app.extensions.setdefault(_KEPT, TTLCache(maxsize=1024, ttl=seconds))
    with _kept_lock:
        figures = kept.get(key)
    if figures is None:
        figures = dashboard(site_ids, actor=actor, today=today, thresholds=thresholds)
        with _kept_lock:
            kept[key] = figures
    return figures


# caseloads per caseworker

@dataclass
class Caseload:
    caseworker: User
    active: int = 0
    by_pathway: dict[Pathway, int] = field(default_factory=lambda: {p: 0 for p in Pathway})
    overdue: int = 0
    longest_without_contact_days: int | None = None
    last_contact: date | None = None


CASEWORKERS_PER_PAGE = 25


@dataclass(frozen=True)
class CaseloadPage(Paged):
    rows: list[Caseload]
    total: int
    page: int
    per_page: int
    # open cases of the sites that need a caseworker (``needs_caseworker``),
    # counted up to COUNT_CAP; whether there are more
    needing: int = 0
    needing_capped: bool = False


def caseloads(site_ids: frozenset[int], *, actor: User, today: date,
              thresholds: dict[str, int], only: int | None = None, page: int = 1,
              per_page: int = CASEWORKERS_PER_PAGE) -> CaseloadPage:
    """A page of caseworkers (and leads) of ``site_ids`` by name, with their
    cases that belong to those sites (``at_sites``), and how many open
    cases of the sites need a caseworker (``needs_caseworker``: a leaver's
    have no row here): six queries whatever the number of caseworkers or
    cases, each reading the cases of the page's caseworkers only (a
    national service has thousands of caseworkers). ``only`` narrows it to
    one user (and counts no cases needing a caseworker)."""
    reads_all = notes.can_read_restricted(actor)
    statements = _caseload_statements(only is not None, reads_all, tuple(thresholds))
    params = {"sites": sorted(site_ids), "only": only, "reader": actor.id,
              "holders": [] if only is not None else unfit_holders(),
              **{f"due_{pathway}": today - timedelta(days=days)
                 for pathway, days in thresholds.items()}}
    total, needing = db.session.execute(statements.count, params).one()
    needing, needing_capped = (min(needing, COUNT_CAP), needing > COUNT_CAP) \
        if needing is not None else (0, False)
    page = page_within(page, total, per_page)
    if not total:
        return CaseloadPage([], 0, page, per_page, needing, needing_capped)
    rows = {u.id: Caseload(u) for u in db.session.scalars(
        statements.users, {**params, "skip": (page - 1) * per_page, "take": per_page})}
    params["ids"] = list(rows)
    for user_id, number, last in db.session.execute(statements.active, params):
        rows[user_id].active, rows[user_id].last_contact = number, last
    for user_id, pathway, number in db.session.execute(statements.pathways, params):
        rows[user_id].by_pathway[Pathway(pathway)] = number
    for user_id, number, oldest in db.session.execute(statements.overdue, params):
        rows[user_id].overdue = number
        rows[user_id].longest_without_contact_days = (today - oldest).days
    return CaseloadPage(list(rows.values()), total, page, per_page, needing, needing_capped)


@dataclass(frozen=True)
class _CaseloadStatements:
    count: Select  # the caseworkers of the sites, and the open cases needing one (or None)
    users: Select  # a page of them
    active: Select  # (caseworker, open cases, latest attended contact)
    pathways: Select  # (caseworker, pathway, people on it)
    overdue: Select  # (caseworker, overdue contacts, the oldest clock's start)


@cache
def _caseload_statements(only: bool, reads_all: bool,
                         pathways: tuple[str, ...]) -> _CaseloadStatements:
    """The caseloads page's statements, built once for each shape (one user
    or all, a reader of every restricted note or not, the pathways with a
    contact threshold), every value a parameter: building them again for
    each page was a fifth of its time."""
    sites = bindparam("sites", expanding=True)
    # Each user checked once against the sites' members (a list SQLite and
    # PostgreSQL build once), not joined to their sites and made distinct:
    # that probed every (user, site) pair, 14,000 probes for 2,000 users
    # and seven sites, twice a page.
    working = [User.active.is_(True), User.role.in_((Role.CASEWORKER, Role.LEAD)),
               User.id.in_(select(user_sites.c.user_id).where(user_sites.c.site_id.in_(sites)))]
    if only:
        working.append(User.id == bindparam("only"))
    mine = and_(Person.caseworker_id.in_(bindparam("ids", expanding=True)), at_sites(sites))
    reads = true() if reads_all else notes.readable_by(bindparam("reader"))
    overdue = notes.overdue_before(reads, {pathway: bindparam(f"due_{pathway}", type_=Date)
                                           for pathway in pathways}).subquery()
    # each person's last contact is one seek, not a read of all their contacts
    last_contact = notes.last_contact_of(Person.id, reads).scalar_subquery()
    needing = None
    if not only:
        # the case list's condition (caseworker=needed), up to its cap
        needing = select(func.count()).select_from(
            select(Person.id).where(needs_caseworker(bindparam("holders", expanding=True)),
                                    at_sites(sites), active())
            .limit(COUNT_CAP + 1).subquery()).scalar_subquery()
    return _CaseloadStatements(
        count=select(select(func.count()).select_from(User).where(*working).scalar_subquery(),
                     needing if needing is not None else null()),
        users=(select(User).where(*working).order_by(User.display_name, User.id)
               .offset(bindparam("skip")).limit(bindparam("take"))
               .options(lazyload(User.sites))),
        # one read of their cases for both (the page's count of cases
        # needing a caseworker took the query this saves)
        active=(select(Person.caseworker_id, func.count(case((active(), 1))),
                       func.max(last_contact))
                .where(mine).group_by(Person.caseworker_id)),
        pathways=(select(Person.caseworker_id, PathwayEpisode.pathway, func.count())
                  .join(PathwayEpisode, and_(PathwayEpisode.person_id == Person.id,
                                             PathwayEpisode.end_date.is_(None)))
                  .where(mine).group_by(Person.caseworker_id, PathwayEpisode.pathway)),
        overdue=(select(Person.caseworker_id, func.count(), func.min(overdue.c.started))
                 .join(overdue, overdue.c.person_id == Person.id).where(mine)
                 .group_by(Person.caseworker_id)),
    )


# the case list behind every figure

@dataclass(frozen=True)
class CaseFilter:
    site_id: int | None = None
    caseworker_id: int | None = None
    unassigned: bool = False
    needs_caseworker: bool = False  # ``needs_caseworker()``: none, or one who cannot hold it
    pathway: str | None = None
    arm: str | None = None
    signal: str | None = None  # overdue, review_due, review_overdue
    include_closed: bool = False


@dataclass(frozen=True)
class CaseRow:
    person: Person
    pathway: PathwayEpisode | None
    last_contact: date | None
    next_review: date | None
    sites: frozenset[int] = frozenset()  # the sites the case belongs to (``at_sites``)


@dataclass(frozen=True)
class CasePage(Paged):
    rows: list[CaseRow]
    total: int
    page: int
    per_page: int
    capped: bool = False  # more than ``total`` match (counted up to COUNT_CAP)
    has_next: bool = False


def case_list(filters: CaseFilter, site_ids: frozenset[int] | None, *, actor: User,
              today: date, thresholds: dict[str, int], page: int = 1,
              per_page: int = 50) -> CasePage:
    """People whose case belongs to ``site_ids`` (``at_sites``; None: every
    site) matching ``filters``, by surname: a count (up to COUNT_CAP), a
    page, and four queries for the page's sites, pathways, contacts and
    reviews."""
    stmt = select(Person.id)
    if filters.site_id:
        site_ids = frozenset({filters.site_id}) if site_ids is None \
            else site_ids & {filters.site_id}
    if filters.unassigned:
        stmt = stmt.where(Person.caseworker_id.is_(None))
    elif filters.needs_caseworker:
        stmt = stmt.where(needs_caseworker(unfit_holders()))
    elif filters.caseworker_id:
        stmt = stmt.where(Person.caseworker_id == filters.caseworker_id)
    if not filters.include_closed:
        stmt = stmt.where(active())
    if filters.pathway:
        stmt = stmt.where(exists().where(
            PathwayEpisode.person_id == Person.id, PathwayEpisode.end_date.is_(None),
            PathwayEpisode.pathway == filters.pathway))
    if filters.arm:
        stmt = stmt.where(exists().where(Allocation.person_id == Person.id,
                                         Allocation.arm == filters.arm))
    if filters.signal == "overdue":
        overdue = notes.overdue_people(actor, today=today, thresholds=thresholds).subquery()
        stmt = stmt.where(Person.id.in_(select(overdue.c.person_id)))
    elif filters.signal in ("review_due", "review_overdue"):
        reviews = latest_reviews()
        window = (reviews.c.next_review_on < today if filters.signal == "review_overdue"
                  else and_(reviews.c.next_review_on >= today,
                            reviews.c.next_review_on <= today + timedelta(days=DUE_SOON_DAYS)))
        stmt = stmt.where(Person.id.in_(select(reviews.c.person_id).where(window)))
    order = (Person.last_name_key, Person.first_name_key, Person.id)
    if site_ids is None:
        total, capped, page = count_up_to(db.session, stmt, COUNT_CAP, page, per_page)
        listed = stmt.order_by(*order)
    else:
        # Counted in two parts (_in_two_parts): the count stops at the cap,
        # so the second part of a site with more open cases than that is
        # never read. A page of a list longer than the cap walks the name
        # index, each person checked (at_sites): a few rows for each of the
        # page's. A shorter list is read whole from the two parts and
        # sorted: checked person by person, a small site's list walked
        # every name in the country (as the count did for any site).
        sites = sorted(site_ids)
        own, elsewhere = _in_two_parts(stmt, sites)
        total, capped, page = count_up_to(db.session, union_all(own, elsewhere), COUNT_CAP,
                                          page, per_page)
        if capped:
            listed = stmt.where(at_sites(sites)).order_by(*order)
        else:
            both = union_all(own.add_columns(*order[:2]),
                             elsewhere.add_columns(*order[:2])).subquery()
            listed = select(both.c.id).order_by(both.c.last_name_key, both.c.first_name_key,
                                                both.c.id)
    # one more than a page: is there a next?
    ids = list(db.session.scalars(listed.offset((page - 1) * per_page).limit(per_page + 1)))
    has_next = len(ids) > per_page
    ids = ids[:per_page]
    if not ids:
        return CasePage([], total, page, per_page, capped)
    people = {p.id: p for p in db.session.scalars(
        select(Person).where(Person.id.in_(ids))
        # the caseworker's name only: not their sites (a query more whenever a row has one)
        .options(joinedload(Person.caseworker).lazyload(User.sites)))}
    episodes = {e.person_id: e for e in db.session.scalars(select(PathwayEpisode).where(
        PathwayEpisode.person_id.in_(ids), PathwayEpisode.end_date.is_(None)))}
    contacts = dict(db.session.execute(
        select(notes.Note.person_id, func.max(notes.Note.contact_date))
        .where(notes.Note.person_id.in_(ids), notes.Note.kind == "contact",
               notes.Note.attended.is_(True), notes.readable(actor))
        .group_by(notes.Note.person_id)).all())
    reviews = latest_reviews()
    next_reviews = dict(db.session.execute(
        select(reviews.c.person_id, reviews.c.next_review_on)
        .where(reviews.c.person_id.in_(ids))).all())
    sites = _sites_of_cases(people.values())
    rows = [CaseRow(people[i], episodes.get(i), contacts.get(i), next_reviews.get(i), sites[i])
            for i in ids]
    return CasePage(rows, total, page, per_page, capped, has_next)


# reassignment

def assignable(site_ids: frozenset[int]) -> list[User]:
    """Active caseworkers and leads of ``site_ids``: who can take a case."""
    return list(db.session.scalars(
        select(User).join(user_sites, user_sites.c.user_id == User.id)
        .where(user_sites.c.site_id.in_(list(site_ids)), User.active.is_(True),
               User.role.in_((Role.CASEWORKER, Role.LEAD)))
        .order_by(User.display_name).distinct()))


def hidden_from(actor: User, person_ids: list[int]) -> dict[int, int | None]:
    """Those of ``person_ids`` the actor may not see (``at_sites``, the rule
    of ``intake.services.visible_people``), each with their site (None: no
    such person): one query."""
    if not person_ids:
        return {}
    seen = at_sites(sorted(actor.site_ids)) if actor.is_site_scoped else true()
    found = {person_id: (site_id, visible) for person_id, site_id, visible in db.session.execute(
        select(Person.id, Person.site_id, seen).where(Person.id.in_(person_ids)))}
    return {person_id: found[person_id][0] if person_id in found else None
            for person_id in person_ids
            if person_id not in found or not found[person_id][1]}


def sites_of_cases(person_ids: list[int]) -> dict[int, frozenset[int]]:
    """The sites each of ``person_ids`` (those that exist) belongs to
    (``at_sites``): two queries."""
    return _sites_of_cases(db.session.execute(
        select(Person.id, Person.site_id).where(Person.id.in_(person_ids))))


def _sites_of_cases(people) -> dict[int, frozenset[int]]:
    """The sites each of ``people`` (each with ``id`` and ``site_id``)
    belongs to (``at_sites``): their own, and those of their referrals (one
    query)."""
    sites = {p.id: {p.site_id} for p in people}
    if sites:
        for person_id, site_id in db.session.execute(
                select(Referral.person_id, Referral.site_id)
                .where(Referral.person_id.in_(list(sites))).distinct()):
            sites[person_id].add(site_id)
    return {person_id: frozenset(ids) for person_id, ids in sites.items()}


def assign(person: Person, to_user: User, reason: str, *, actor: User | None,
           now: datetime) -> CaseAssignment:
    """Give ``person``'s case to ``to_user``; recorded and audited
    (``case:assigned`` the first time, ``case:reassigned`` after)."""
    assignment = CaseAssignment(person_id=person.id, from_user_id=person.caseworker_id,
                                to_user_id=to_user.id, reason=reason,
                                assigned_by_id=actor.id if actor else None, assigned_at=now)
    db.session.add(assignment)
    before = person.caseworker_id
    person.caseworker_id = to_user.id
    db.session.flush()
    action = Action.CASE_ASSIGNED if before is None else Action.CASE_REASSIGNED
    # under the site of the lead's the case was handed over at (a person
    # living at another site is theirs through a referral there), so the
    # lead who did it finds it in their audit log
    audit.record(action, actor=actor, now=now, subject_type="person",
                 subject_id=person.id,
                 site_id=intake.working_site(person, actor) if actor else person.site_id,
                 detail={**audit.changes({"caseworker_id": before},
                                         {"caseworker_id": to_user.id}),
                         "assignment_id": assignment.id})
    return assignment


def reassign(person_ids: list[int], to_user_id: int | None, reason: str | None, *,
             actor: User, now: datetime) -> list[CaseAssignment]:
    """Reassign one or several cases the actor may see (``at_sites``: the
    person's site or a site where they were referred is one of the actor's)
    to another caseworker or lead, with a reason. All or nothing. Each case
    goes to someone who works at one of the sites it belongs to that the
    actor holds: a lead of the site where a person was referred can give
    them to a caseworker there, though the person lives elsewhere."""
    problems: dict[str | None, str] = {}
    reason = (reason or "").strip()
    if not reason:
        problems["reason"] = "Say why the cases are being reassigned"
    elif len(reason) > MAX_REASON_LENGTH:
        problems["reason"] = f"The reason must be {MAX_REASON_LENGTH} characters or fewer"
    person_ids = list(dict.fromkeys(person_ids))
    if not person_ids:
        problems["people"] = NO_CASES
    elif len(person_ids) > MAX_CASES_AT_ONCE:
        problems["people"] = TOO_MANY_CASES
    to_user = db.session.get(User, to_user_id) if to_user_id else None
    if to_user is None or not to_user.active or to_user.role not in (Role.CASEWORKER,
                                                                      Role.LEAD):
        problems["to_user"] = "Select the caseworker taking the cases"
    if problems:
        raise CaseloadError(problems)
    # Their rows locked (in id order, so two reassignments of overlapping
    # cases cannot deadlock) and read as they are now: a handover recorded
    # from the caseworker who holds the case, not the one the page showed.
    stmt = (select(Person).where(Person.id.in_(person_ids)).order_by(Person.id)
            .with_for_update(of=Person).execution_options(populate_existing=True))
    if actor.is_site_scoped:
        stmt = stmt.where(at_sites(sorted(actor.site_ids)))
    people = list(db.session.scalars(stmt))
    if len(people) != len(person_ids):
        raise CaseloadError({"people": "Some of the selected cases are not at your sites"})
    sites = _sites_of_cases(people)
    if actor.is_site_scoped:
        sites = {person_id: ids & actor.site_ids for person_id, ids in sites.items()}
    elsewhere = [p.full_name for p in people if not sites[p.id] & to_user.site_ids]
    if elsewhere:
        raise CaseloadError({"to_user": f"{to_user.display_name} does not work at the site of "
                                        f"{', '.join(elsewhere[:3])}"})
    already = [p.full_name for p in people if p.caseworker_id == to_user.id]
    if already:
        raise CaseloadError({"people": f"{', '.join(already[:3])} already with "
                                       f"{to_user.display_name}"})
    return [assign(p, to_user, reason, actor=actor, now=now) for p in people]


def assign_if_unassigned(person: Person, actor: User, now: datetime) -> None:
    """A caseworker who records a referral for an unassigned person takes the case."""
    if person.caseworker_id is None and actor is not None and actor.role == Role.CASEWORKER:
        assign(person, actor, "Recorded the referral", actor=actor, now=now)


# reviews

@dataclass
class ReviewDetails:
    reviewed_on: date | None
    outcome: str | None
    next_review_on: date | None
    note: str | None = None
    submission: str | None = None  # the form's key (submissions): a resend records once


# A review dated 1 January 0001 with its next on 31 December 9999 was kept
# (found by review): it fed the review signals and the dashboard.
EARLIEST_REVIEW = date(1900, 1, 1)


def record_review(person: Person, details: ReviewDetails, *, actor: User,
                  now: datetime) -> CaseReview:
    """A lead's periodic review; the next review date sets when it is due,
    within a year of it (a case is reviewed at least yearly). Sent again
    (its ``submission`` key claimed), raises submissions.AlreadySubmitted."""
    problems: dict[str | None, str] = {}
    if details.reviewed_on is None:
        problems["reviewed_on"] = "Enter the date of the review"
    elif details.reviewed_on > local_date(now):
        problems["reviewed_on"] = "The review date cannot be in the future"
    elif details.reviewed_on < (person.date_of_birth or EARLIEST_REVIEW):
        problems["reviewed_on"] = ("The review date cannot be before the person's date of birth"
                                   if person.date_of_birth else
                                   "The review date must be 1900 or later")
    if details.outcome not in REVIEW_OUTCOMES:
        problems["outcome"] = "Select the outcome of the review"
    if details.next_review_on is None:
        problems["next_review_on"] = "Enter the date of the next review"
    elif details.reviewed_on and details.next_review_on <= details.reviewed_on:
        problems["next_review_on"] = "The next review must be after this one"
    elif details.reviewed_on and \
            details.next_review_on > details.reviewed_on + relativedelta(years=1):
        problems["next_review_on"] = "The next review must be within a year of this one"
    note = (details.note or "").replace("\x00", "").strip() or None
    if note and len(note) > 5000:
        problems["note"] = "The note must be 5000 characters or fewer"
    if problems:
        raise CaseloadError(problems)
    submissions.claim(details.submission, "case_review", actor=actor, now=now)
    review = CaseReview(person_id=person.id, site_id=intake.working_site(person, actor),
                        reviewed_on=details.reviewed_on, outcome=details.outcome,
                        next_review_on=details.next_review_on, note=note,
                        reviewed_by_id=actor.id, recorded_at=now)
    db.session.add(review)
    db.session.flush()
    submissions.settle(details.submission, review.id)
    # under the review's site: a lead of another site, where the person was
    # referred, finds their own review in their sites' audit log
    audit.record(Action.CASE_REVIEWED, actor=actor, now=now, subject_type="person",
                 subject_id=person.id, site_id=review.site_id,
                 detail={"review_id": review.id, "outcome": review.outcome,
                         "reviewed_on": review.reviewed_on.isoformat(),
                         "next_review_on": review.next_review_on.isoformat()})
    return review


def latest_review(person_id: int) -> CaseReview | None:
    """A person's latest case review (the person page shows it, not who made it)."""
    return db.session.scalars(_latest_review(), {"person_id": person_id}).first()


def _reviews():
    return (select(CaseReview).where(CaseReview.person_id == bindparam("person_id"))
            .order_by(CaseReview.reviewed_on.desc(), CaseReview.id.desc()))


@cache
def _latest_review():
    # built once: the person page runs it on every view
    return _reviews().options(lazyload(CaseReview.reviewed_by)).limit(1)


def reviews_for(person_id: int) -> list[CaseReview]:
    return list(db.session.scalars(_reviews(), {"person_id": person_id}).unique())


def sites_of(actor: User) -> list[Site]:
    return list(actor.sites) if actor.is_site_scoped else list(
        db.session.scalars(select(Site).order_by(Site.name)))
