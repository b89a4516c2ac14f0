"""Referral intake: duplicate candidates, recording referrals, people, and
the referral status workflow. Services flush, never commit."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, lru_cache

from flask import current_app
from sqlalchemy import (
    Integer,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql import operators

from casework import submissions
from casework.accounts.models import Site, User
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import (
    COUNT_CAP,
    Paged,
    capped_count,
    check_unchanged,
    column_rows,
    counted,
    lock_for_update,
    lock_row,
    row_version,
)
from casework.dates import local_date, long_date
from casework.extensions import db
from casework.intake import matching, validation
from casework.intake.models import Person, Referral, format_reference, parse_reference
from casework.intake.reference import (
    CLOSE_REASONS,
    ETHNICITIES,
    GENDERS,
    LOCAL_AUTHORITIES,
    RISK_INDICATORS,
    SOURCES,
    InvalidTransition,
    ReferralStatus,
    transition,
)
from casework.words import listed

MAX_REASON_LENGTH = 5000


class IntakeError(Exception):
    """Input whose meaning is wrong; ``problems`` maps form fields to
    messages; ``shown``, the people a message tells of (the holder of a PNC
    reference), for the page to audit as shown (``candidates_shown``)."""

    def __init__(self, problems: dict[str | None, str], shown: Iterable[Candidate] = ()):
        self.problems = problems
        self.shown = list(shown)
        super().__init__("; ".join(problems.values()))


@dataclass
class PersonDetails:
    first_name: str
    last_name: str
    date_of_birth: date | None
    gender: str
    ethnicity: str
    local_authority: str
    other_names: str | None = None
    postcode: str | None = None
    pnc_reference: str | None = None

    def identity(self) -> matching.Identity:
        return matching.Identity(
            self.first_name, self.last_name, self.date_of_birth, self.pnc_reference
        )


@dataclass
class ReferralDetails:
    site_id: int | None  # None: none chosen
    referral_date: date | None
    source: str
    referrer_name: str
    reason: str
    referrer_organisation: str | None = None
    risk_indicators: list[str] = field(default_factory=list)


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def _person_problems(details: PersonDetails, *, today: date
                     ) -> tuple[dict[str | None, str], PersonDetails]:
    """What is wrong with ``details`` (each bad field's message), and the
    details normalised as far as they can be (a bad postcode or PNC
    reference left out)."""
    problems: dict[str | None, str] = {}
    first, last = (details.first_name or "").strip(), (details.last_name or "").strip()
    if not first:
        problems["first_name"] = "Enter a first name"
    if not last:
        problems["last_name"] = "Enter a last name"
    dob_problem = validation.date_of_birth_problem(details.date_of_birth, today)
    if dob_problem:
        problems["date_of_birth"] = dob_problem
    if details.gender not in GENDERS:
        problems["gender"] = "Select a gender"
    if details.ethnicity not in ETHNICITIES:
        problems["ethnicity"] = "Select an ethnicity from the list"
    if details.local_authority not in LOCAL_AUTHORITIES:
        problems["local_authority"] = "Select the local authority where the person lives"
    postcode = pnc = None
    if _clean(details.postcode):
        try:
            postcode = validation.normalise_postcode(details.postcode)
        except ValueError as error:
            problems["postcode"] = str(error)
    if _clean(details.pnc_reference):
        try:
            pnc = validation.normalise_pnc(details.pnc_reference)
        except ValueError as error:
            problems["pnc_reference"] = str(error)
    return problems, PersonDetails(
        first_name=first, last_name=last, other_names=_clean(details.other_names),
        date_of_birth=details.date_of_birth, gender=details.gender,
        ethnicity=details.ethnicity, local_authority=details.local_authority,
        postcode=postcode, pnc_reference=pnc,
    )


def check_person(details: PersonDetails, *, today: date) -> PersonDetails:
    """Validate and normalise person details; raise IntakeError naming each bad field."""
    problems, checked = _person_problems(details, today=today)
    if problems:
        raise IntakeError(problems)
    return checked


def check_referral(details: ReferralDetails, person: PersonDetails, *, actor: User,
                   today: date) -> ReferralDetails:
    """Validate a referral against its person and the actor's sites."""
    problems: dict[str | None, str] = {}
    if details.site_id is None:  # none chosen (or not a number)
        problems["site"] = "Select a site"
    elif actor.is_site_scoped and details.site_id not in actor.site_ids:
        problems["site"] = "Select one of your sites"
    elif db.session.get(Site, details.site_id) is None:
        problems["site"] = "Select a site"
    date_problem = validation.referral_date_problem(
        details.referral_date, person.date_of_birth, today
    )
    if date_problem:
        problems["referral_date"] = date_problem
    if details.source not in SOURCES:
        problems["source"] = "Select where the referral came from"
    if not (details.referrer_name or "").strip():
        problems["referrer_name"] = "Enter the referrer's name"
    reason = (details.reason or "").strip()
    if not reason:
        problems["reason"] = "Enter the reason for the referral"
    elif len(reason) > MAX_REASON_LENGTH:
        problems["reason"] = f"Reason must be {MAX_REASON_LENGTH} characters or fewer"
    unknown = [r for r in details.risk_indicators if r not in RISK_INDICATORS]
    if unknown:
        problems["risk_indicators"] = "Select risk indicators from the list"
    if problems:
        raise IntakeError(problems)
    return ReferralDetails(
        site_id=details.site_id, referral_date=details.referral_date, source=details.source,
        referrer_name=details.referrer_name.strip(),
        referrer_organisation=_clean(details.referrer_organisation), reason=reason,
        risk_indicators=sorted(set(details.risk_indicators), key=list(RISK_INDICATORS).index),
    )


def check_new_referral(person: PersonDetails, referral: ReferralDetails, *, actor: User,
                       today: date) -> tuple[PersonDetails, ReferralDetails]:
    """Validate a new referral and its person (check_person, check_referral),
    raising IntakeError with every problem of both at once: the person's
    were raised first, and the referral's shown only once they were put
    right (GOV.UK: an error summary lists every problem; found by review).
    A bad date of birth is not compared with the referral date."""
    problems, checked = _person_problems(person, today=today)
    try:
        referral = check_referral(
            referral, checked if "date_of_birth" not in problems
            else PersonDetails(**{**vars(checked), "date_of_birth": None}),
            actor=actor, today=today)
    except IntakeError as error:
        problems.update(error.problems)
    if problems:
        raise IntakeError(problems)
    return checked, referral


@dataclass(frozen=True)
class Candidate:
    """A person already held who may be the one referred, and why.
    ``held_by`` names the site holding a person the actor may not see: a
    strong match found beyond their sites, of whom they are shown that the
    person matches and why, and nothing else."""

    person: Person
    reasons: list[str]
    held_by: str | None = None

    @property
    def holds_the_pnc(self) -> bool:
        """A person with the PNC reference typed, at any site: a PNC
        reference identifies one person, so no new person may be recorded
        with it."""
        return matching.SAME_PNC in self.reasons

    @property
    def named(self) -> str:
        """Who they are, as far as the actor may be told."""
        return f"A person held by {self.held_by}" if self.held_by else self.person.full_name


# What the duplicates page sends to choose a person of another site begins so.
HELD_CHOICE = "held-"


def choice_of(candidate: Candidate) -> str:
    """What the duplicates page sends to choose ``candidate``: their id; for
    a person held by another site (``held_by``), whom the actor may not see,
    a token standing for it (keyed by the app's secret key), so the page
    carries no internal id of theirs. record_referral takes either."""
    if candidate.held_by is None:
        return str(candidate.person.id)
    secret = current_app.config["SECRET_KEY"]
    digest = hmac.new(secret.encode() if isinstance(secret, str) else secret,
                      f"held-person:{candidate.person.id}".encode(), hashlib.sha256)
    return HELD_CHOICE + digest.hexdigest()[:32]


class PossibleDuplicates(Exception):
    """People already held may be this person: the caseworker must choose."""

    def __init__(self, candidates: list[Candidate]):
        self.candidates = candidates
        super().__init__(f"{len(candidates)} possible duplicates")


def visible_people(actor: User) -> Select:
    """People the actor may see: those of their sites, and those with a
    referral at one of their sites."""
    stmt = select(Person)
    if actor.is_site_scoped:
        stmt = stmt.where(_at_sites(actor.site_ids))
    return stmt


def person_visible(person_id, actor: User):
    """A condition: ``actor`` may see the person ``person_id`` (a column of
    a record about a person, to correlate with) is about: one seek a record,
    the rule of ``visible_people``. A record about a person (a note, an
    assessment, a proposal) is seen by whoever may see the person, whatever
    site it was made at."""
    return (visible_people(actor).with_only_columns(Person.id)
            .where(Person.id == person_id).exists())


def _seen_by(actor: User):
    """Whether the actor may see a person, as a column (``visible_people``'s
    condition): a person found at every site comes with it."""
    return _at_sites(actor.site_ids) if actor.is_site_scoped else literal(True)


def _at_sites(ids):
    """The people a reader of the sites ``ids`` may see (a collection of ids,
    or an expanding parameter)."""
    return or_(Person.site_id.in_(ids),
               exists().where(and_(Referral.person_id == Person.id, Referral.site_id.in_(ids))))


def at_sites(site_ids):
    """A person whose case belongs to one of ``site_ids`` (a collection of
    ids, or an expanding parameter): their own site is one of them, or they
    have a referral at one. The rule of who may see the person
    (``_at_sites``, ``visible_people``), in a form checked person by person,
    so a lead's figures, the list behind each, the caseloads, reassignment
    and the overdue contacts count the people the lead can open, and no
    others. A person living at one site and referred and randomised at
    another belongs to both.

    One EXISTS over a UNION ALL of the two (as ``caseload.services.active``
    is), not the two
    OR'd: checked person by person, the first without reading a table, the
    second one seek in the referrals' (person, site) index; PostgreSQL made
    the OR'd EXISTS a hash of every referral of the sites, for any count.
    The statement must read ``Person``."""
    # correlated explicitly: left to itself, SQLAlchemy reads the first from
    # a people table of its own (correlating would leave it no FROM)
    return union_all(
        select(literal(1)).where(Person.site_id.in_(site_ids)).correlate(Person),
        select(literal(1)).where(Referral.person_id == Person.id,
                                 Referral.site_id.in_(site_ids)).correlate(Person),
    ).exists()


# What else of the person's case their page shows, each asked for only if
# the person has any: most people referred have no triage, allocation or
# review, and three queries that found nothing were a twelfth of the page.
# Each is an index seek, in the person's own query.
_RECORD_KINDS = ("allocations", "triages", "reviews")


@dataclass(frozen=True, slots=True)
class ReferralOnPage:
    """A referral as the person's page shows it, with its site's name."""

    id: int
    site_id: int
    site_name: str
    referral_date: date
    source: str
    referrer_name: str
    referrer_organisation: str | None
    reason: str
    risk_indicators: list[str]
    status: ReferralStatus
    closed_reason: str | None
    closed_at: datetime | None

    reference = Referral.reference


@dataclass(frozen=True, slots=True)
class PersonOnPage:
    """The person as their page shows them: their details, their site's and
    caseworker's names and their referrals, newest first, read as plain
    values in one statement. Built as ORM objects (the person, their site,
    referrals, the referrals' sites and the caseworker) they cost 0.35-0.39
    ms on SQLite and 1.5 ms on PostgreSQL, against 0.16-0.17 and 1.1-1.2 ms
    read so (the bench's data, interleaved)."""

    id: int
    site_id: int
    site_name: str
    first_name: str
    last_name: str
    other_names: str | None
    date_of_birth: date | None
    gender: str
    ethnicity: str
    postcode: str | None
    local_authority: str
    pnc_reference: str | None
    caseworker_name: str | None
    referrals: tuple[ReferralOnPage, ...]

    full_name = Person.full_name


_PERSON_COLUMNS = tuple(name for name in PersonOnPage.__slots__
                        if name not in {"site_name", "caseworker_name", "referrals"})
_REFERRAL_COLUMNS = tuple(name for name in ReferralOnPage.__slots__ if name != "site_name")


@cache
def _person_page(site_scoped: bool) -> Select:
    # Built once for each kind of reader, as visible_people would narrow it:
    # building it was a twentieth of the person page. A row for each of the
    # person's referrals (one with none if they have none), each with the
    # person's columns, which of their other records exist, and the names
    # the page shows.
    from casework.caseload.models import CaseReview
    from casework.triage.models import Triage
    from casework.trial.models import Allocation

    kinds = {"allocations": Allocation, "triages": Triage, "reviews": CaseReview}
    person_site, referral_site = aliased(Site), aliased(Site)
    caseworker = aliased(User)
    # an alias, so that the visibility test's own referrals (_at_sites) are
    # not taken for these
    referral = aliased(Referral)
    stmt = (select(*(getattr(Person, name) for name in _PERSON_COLUMNS),
                   person_site.name.label("site_name"),
                   caseworker.display_name.label("caseworker_name"),
                   *(exists().where(kinds[kind].person_id == Person.id).label(f"has_{kind}")
                     for kind in _RECORD_KINDS),
                   *(getattr(referral, name).label(f"referral_{name}")
                     for name in _REFERRAL_COLUMNS),
                   referral_site.name.label("referral_site_name"))
            .join(person_site, person_site.id == Person.site_id)
            .outerjoin(caseworker, caseworker.id == Person.caseworker_id)
            .outerjoin(referral, referral.person_id == Person.id)
            .outerjoin(referral_site, referral_site.id == referral.site_id)
            .where(Person.id == bindparam("person_id"))
            .order_by(referral.referral_date.desc(), referral.id.desc()))
    return stmt.where(_at_sites(bindparam("site_ids", expanding=True))) if site_scoped \
        else stmt


@dataclass(frozen=True)
class PersonPage:
    """The person, with their referrals and caseworker's name, and which
    other records of their case exist (``"allocations"``, ``"triages"``,
    ``"reviews"``)."""

    person: PersonOnPage
    has: frozenset[str]


def person_for_page(actor: User, person_id: int) -> PersonPage | None:
    """The person's page, if ``actor`` may see them (``visible_people``)."""
    params: dict = {"person_id": person_id}
    if actor.is_site_scoped:
        params["site_ids"] = sorted(actor.site_ids)
    rows = column_rows(_person_page(actor.is_site_scoped), params).mappings().all()
    if not rows:
        return None
    first = rows[0]
    referrals = tuple(
        ReferralOnPage(site_name=row["referral_site_name"],
                       **{name: row[f"referral_{name}"] for name in _REFERRAL_COLUMNS})
        for row in rows if row["referral_id"] is not None)
    person = PersonOnPage(site_name=first["site_name"], caseworker_name=first["caseworker_name"],
                          referrals=referrals,
                          **{name: first[name] for name in _PERSON_COLUMNS})
    return PersonPage(person, frozenset(kind for kind in _RECORD_KINDS
                                        if first[f"has_{kind}"]))


def case_sites(person: Person | PersonOnPage) -> list[int]:
    """The sites ``person``'s case belongs to (``at_sites``'s rule): their
    own, and each where they were referred. The events of their record
    viewed or changed are each one's, so the leads of a site that referred
    them read who opened or changed it, as the leads of their own site do.
    The person page's referrals are at hand; otherwise one query."""
    if isinstance(person, PersonOnPage):
        referred = {referral.site_id for referral in person.referrals}
    else:
        referred = set(db.session.scalars(
            select(Referral.site_id).where(Referral.person_id == person.id).distinct()))
    return sorted(referred | {person.site_id})


def working_site(person: Person, actor: User) -> int:
    """The site a record about ``person`` made by ``actor`` belongs to: the
    person's own site if the actor works there, otherwise the actor's site
    where the person was most recently referred (how the actor sees them)."""
    if not actor.is_site_scoped or person.site_id in actor.site_ids:
        return person.site_id
    site_id = db.session.scalar(
        select(Referral.site_id).where(Referral.person_id == person.id,
                                       Referral.site_id.in_(actor.site_ids))
        .order_by(Referral.referral_date.desc(), Referral.id.desc()).limit(1))
    return site_id if site_id is not None else person.site_id


# The near matches (DESIGN.md "Referral intake": a transposed date field, a
# similar surname) read, at most: each shares the first name's key, so only
# a name as common as can be, at the actor's sites, comes near it; those cut
# are the least alike (another surname), and the same ones every time.
NEAR_POOL = 200


def find_candidates(details: PersonDetails, *, actor: User) -> list[Candidate]:
    """People already held who may be this person, each with why it matched
    (``details`` as check_person gives them: the PNC reference normalised).

    Strong matches first, looked for at every site: the same PNC reference,
    or the same first name (``matching.same_first_name``: its key and its
    later parts), surname key and date of birth. A
    person referred again at another site is the same person, and one
    already in the trial is never randomised again (DESIGN.md "Triage", C4):
    looked for at the actor's sites alone, they were no candidate, and the
    copy made was randomised again. Each is an index seek, never cut,
    however many share the date of birth (a national service holds about
    250 a day). One the actor may not see is shown as held by their site,
    with those reasons alone (``Candidate.held_by``).

    Then near matches, among the people the actor may see: every match by
    name needs the same first name key (or the name written together or
    apart: ``matching.keys_written_together``), with a related date of
    birth (or, a date unknown, the same surname key); at most NEAR_POOL of
    them, the same surname first. ``matching.match_reasons`` decides each.
    """
    first_key = matching.first_name_key(details.first_name)
    last_key = matching.last_name_key(details.last_name)
    dob = details.date_of_birth
    strong = []
    if details.pnc_reference:
        strong.append(Person.pnc_reference == details.pnc_reference)
    if first_key and last_key and dob:
        strong.append(and_(Person.last_name_key == last_key, Person.first_name_key == first_key,
                           Person.date_of_birth == dob))
    rows = db.session.execute(
        select(Person, _seen_by(actor).label("seen")).where(or_(*strong)).order_by(Person.id)
    ).all() if strong else []
    pool = [person for person, seen in rows if seen]
    found = []
    for person, seen in rows:
        if seen:
            continue
        # the whole first name, not its key alone: twins Lily-Rose and
        # Lily-Mae share a key, a surname and a date of birth
        reasons = [reason for reason, same in (
            (matching.SAME_PNC, bool(details.pnc_reference)
             and person.pnc_reference == details.pnc_reference),
            (matching.SAME_NAME_AND_DATE_OF_BIRTH,
             (person.last_name_key, person.date_of_birth) == (last_key, dob)
             and matching.same_first_name(person.first_name, details.first_name)),
        ) if same]
        if reasons:
            found.append(Candidate(person, reasons, held_by=person.site.name))

    if first_key:
        if dob is None:
            near = Person.last_name_key == last_key
        else:
            near = or_(Person.date_of_birth.in_(sorted(matching.related_dates(dob))),
                       and_(Person.last_name_key == last_key, Person.date_of_birth.is_(None)))
        # their first name's key, or one of the name written together or apart
        # ("Anne-Marie" for "Annemarie"): each an index seek
        first_keys = sorted({first_key} | matching.keys_written_together(details.first_name))
        stmt = visible_people(actor).where(Person.first_name_key.in_(first_keys), near)
        if rows:
            stmt = stmt.where(Person.id.not_in([person.id for person, _ in rows]))
        pool += db.session.scalars(stmt.order_by(
            case((Person.last_name_key == last_key, 0), else_=1), Person.id).limit(NEAR_POOL))
    new = details.identity()
    for person in pool:
        reasons = matching.match_reasons(new, matching.Identity(
            person.first_name, person.last_name, person.date_of_birth, person.pnc_reference
        ))
        if reasons:
            found.append(Candidate(person, reasons))
    # (those held elsewhere not ordered by the names they are not shown with)
    found.sort(key=lambda c: (-len(c.reasons), "" if c.held_by else c.person.last_name,
                              c.person.id))
    return found


def lock_identity(details: PersonDetails | Person, *, pnc_only: bool = False) -> None:
    """Serialise, until the transaction ends, the writers of a person who
    would be a strong match for ``details`` (``find_candidates``): the PNC
    reference, and the name keys with the date of birth. The same child
    referred at two sites at one moment was two people (each request's
    duplicate check done before either wrote): now the second waits, and
    then finds the first as a candidate (``matching.identity_locks``). A
    lead's decision takes them for the ``Person`` decided, before C4 looks
    for a randomised strong match."""
    for name in matching.identity_locks(details.pnc_reference, details.first_name,
                                        details.last_name, details.date_of_birth,
                                        pnc_only=pnc_only):
        lock_for_update(db.session, name)


def _person_snapshot(person: Person) -> dict:
    return {name: getattr(person, name) for name in (
        "first_name", "last_name", "other_names", "date_of_birth", "gender", "ethnicity",
        "postcode", "local_authority", "pnc_reference",
    )}


def _apply(person: Person, details: PersonDetails) -> None:
    for name, value in vars(details).items():
        setattr(person, name, value)
    person.first_name_key = matching.first_name_key(details.first_name)
    person.last_name_key = matching.last_name_key(details.last_name)


def record_referral(
    person_details: PersonDetails,
    referral_details: ReferralDetails,
    *,
    existing_person_id: int | str | None,
    actor: User,
    now: datetime,
    new_person_confirmed: bool = True,
    submission: str | None = None,
) -> Referral:
    """Record a referral for an existing person or a new one.

    Validates everything and runs the duplicate check on every submission
    (the duplicate page re-posts what was typed). With candidates found and
    no choice made (no ``existing_person_id`` and ``new_person_confirmed``
    false), raises ``PossibleDuplicates`` and writes nothing. The choice is
    audited: linking to a person who was a candidate, or creating a new
    person despite the candidates shown. A person with the PNC reference
    typed, at any site, is never set aside for a new person (a PNC reference
    identifies one person); one with the same name and date of birth may be
    (two people can share them). The form sent again (a double
    click, or the duplicates page's choice twice: its ``submission`` key
    already claimed) raises submissions.AlreadySubmitted, before the
    duplicate check would offer the person it made.
    """
    submissions.check_earlier(submission, "referral", actor=actor)
    today = local_date(now)
    person_details, referral_details = check_new_referral(person_details, referral_details,
                                                          actor=actor, today=today)
    lock_identity(person_details)
    # again, under the locks: the same form sent at the same moment waited
    # for them, and its first sending, committed meanwhile, is now seen (the
    # duplicate check would otherwise offer the person it made)
    submissions.check_earlier(submission, "referral", actor=actor)
    candidates = find_candidates(person_details, actor=actor)
    candidate_ids = [c.person.id for c in candidates]
    if candidates and existing_person_id is None and not new_person_confirmed:
        raise PossibleDuplicates(candidates)

    # Only a candidate may be chosen: a person of another site is one only
    # as a strong match for what was typed, so no id sent by hand links a
    # referral to anyone else (and so shows them).
    chosen = None
    if existing_person_id is not None:
        chosen = next((c for c in candidates
                       if existing_person_id in (c.person.id, choice_of(c))), None)
        if chosen is None:
            raise IntakeError({"person": "Choose one of the people listed, or a new person"})
        # the referral joins the chosen person's record, so their date of
        # birth is the one its date must follow (check_referral checked the
        # one typed, which may be the one the duplicate check saw past)
        if problem := _before_birth_of(chosen, referral_details.referral_date, today):
            raise IntakeError({"referral_date": problem})
    else:
        held = next((c for c in candidates if c.holds_the_pnc), None)
        if held is not None:
            raise IntakeError({"pnc_reference": pnc_held(held)}, shown=[held])
    # Every check passed: claimed just before the writes (it waits for the
    # same form in flight), so a refused form leaves no claim.
    submissions.claim(submission, "referral", actor=actor, now=now)
    if chosen is not None:
        person = chosen.person
    else:
        person = Person(site_id=referral_details.site_id, created_at=now, created_by_id=actor.id)
        _apply(person, person_details)
        db.session.add(person)
        db.session.flush()
        audit.record(
            Action.PERSON_CREATED, actor=actor, now=now, subject_type="person",
            subject_id=person.id, site_id=person.site_id,
            detail={"fields": sorted(k for k, v in vars(person_details).items() if v)},
        )

    referral = Referral(
        person_id=person.id, status=ReferralStatus.RECEIVED, created_at=now,
        created_by_id=actor.id, **vars(referral_details),
    )
    db.session.add(referral)
    db.session.flush()
    submissions.settle(submission, referral.id)
    audit.record(
        Action.REFERRAL_CREATED, actor=actor, now=now, subject_type="referral",
        subject_id=referral.id, site_id=referral.site_id,
        detail={"person_id": person.id, "status": str(referral.status),
                "source": referral.source, "risk_indicators": referral.risk_indicators},
    )
    if existing_person_id is not None:
        audit.record(
            Action.PERSON_LINKED, actor=actor, now=now, subject_type="person",
            subject_id=person.id, sites=case_sites(person),
            detail={"referral_id": referral.id, "candidates": candidate_ids,
                    "reasons": chosen.reasons},
        )
    elif candidates:
        audit.record(
            Action.PERSON_CONFIRMED_NEW, actor=actor, now=now, subject_type="person",
            subject_id=person.id, site_id=referral.site_id,
            detail={"referral_id": referral.id, "candidates_set_aside": candidate_ids},
        )
    # The caseload package builds on intake, so it is imported here, not at the top.
    from casework.caseload.services import assign_if_unassigned

    assign_if_unassigned(person, actor, now)
    return referral


def _before_birth_of(chosen: Candidate, referral_date: date, today: date) -> str | None:
    """Why a referral dated ``referral_date`` cannot join ``chosen``'s
    record: it is dated before they were born. Their date of birth is named
    only if the actor may see them."""
    dob = chosen.person.date_of_birth
    if not validation.referral_date_problem(referral_date, dob, today):
        return None
    if chosen.held_by:
        return ("Referral date must be on or after the date of birth of the person chosen, "
                "who was born after it")
    return (f"Referral date must be on or after {chosen.person.full_name}'s date of birth, "
            f"{long_date(dob)}")


_DETAIL_NAMES = {"first_name": "first name", "last_name": "last name",
                 "other_names": "other names", "date_of_birth": "date of birth",
                 "gender": "gender", "ethnicity": "ethnicity",
                 "local_authority": "local authority", "postcode": "postcode",
                 "pnc_reference": "PNC reference"}


def details_set_aside(person: Person, details: PersonDetails, *, today: date) -> list[str]:
    """What was typed for a referral linked to ``person`` that their record
    holds otherwise, in words: a referral linked to someone keeps their
    details as they are (a change is made on their record's own page), so
    the caseworker is told what was not saved, not left to think it was."""
    typed = check_person(details, today=today)
    return [words for name, words in _DETAIL_NAMES.items()
            if getattr(typed, name) not in (None, "") and getattr(typed, name) != getattr(
                person, name)]


def pnc_held(candidate: Candidate, advice: str = "link the referral to them, or correct the "
             "reference") -> str:
    """Why nobody else may be given the PNC reference typed."""
    return f"{candidate.named} has this PNC reference. A PNC reference identifies one person: " \
        f"{advice}"


def person_version(person: Person) -> str:
    """The version of a person's details an edit form is drawn from."""
    return row_version(_person_snapshot(person))


def _born_after_a_referral(person: Person, dob: date | None, *, actor: User) -> str | None:
    """Why ``dob`` cannot be the person's date of birth: it comes after the
    date of one of their referrals (DESIGN.md "Referral intake": a referral
    date before the date of birth is bad input). The referral form checks
    its own date; an edit of the date of birth checked only against today,
    and C1 then read "Aged -1". Names the earliest such referral, by its
    reference if the actor may see it."""
    if dob is None:
        return None
    before = db.session.execute(
        select(Referral.id, Referral.site_id, Referral.referral_date)
        .where(Referral.person_id == person.id, Referral.referral_date < dob)
        .order_by(Referral.referral_date, Referral.id)).all()
    if not before:
        return None
    first = before[0]
    which = (f"referral {format_reference(first.id)}"
             if not actor.is_site_scoped or first.site_id in actor.site_ids
             else "a referral at another site")
    more = f" (and {len(before) - 1} more before {long_date(dob)})" if len(before) > 1 else ""
    return (f"Date of birth must be on or before the person's referral dates: {which} is "
            f"dated {long_date(first.referral_date)}{more}")


@dataclass(frozen=True)
class PersonSaved:
    """A person's details corrected: ``changes``, each changed field's
    before and after (as audited); ``notices``, what the editor must be told
    of decisions made on the details as they were
    (``decided_on_earlier_facts``)."""

    person: Person
    changes: dict
    notices: list[str]


def update_person(person: Person, details: PersonDetails, *, actor: User, now: datetime,
                  based_on: str | None = None, submission: str | None = None) -> PersonSaved:
    """Correct a person's details; the audit detail has each changed field's
    before and after values. Refused (ChangedMeanwhile) if they are no longer
    the version ``based_on`` the form was drawn from: a date of birth
    corrected meanwhile (it decides C1 and the age stratum) is not put back.
    A date of birth after one of their referral dates is refused. The form
    sent again (a double click: its ``submission`` key already claimed)
    raises submissions.AlreadySubmitted, claimed under the person's lock
    before the version check, which the first sending's change would fail
    as "someone else's". Returns the changes, and what the editor must be
    told of decisions made on the facts as they were (``PersonSaved``)."""
    problems, details = _person_problems(details, today=local_date(now))
    if problems:  # refused: every problem said at once (read with no lock)
        raise person_edit_problems(person, details, problems, actor=actor)
    # the PNC reference's lock first, then the person's row: a PNC reference
    # given to someone else at the same moment (by a referral or an edit) is
    # seen by _pnc_holder, not written twice
    lock_identity(details, pnc_only=True)
    lock_row(db.session, person)
    submissions.claim(submission, "person_edit", actor=actor, now=now)
    before = _person_snapshot(person)
    check_unchanged(based_on, before, vars(details))
    if (refused := person_edit_problems(person, details, {}, actor=actor)) is not None:
        raise refused
    _apply(person, details)
    db.session.flush()
    submissions.settle(submission, person.id)
    diff = audit.changes(before, _person_snapshot(person))
    if diff:
        audit.record(
            Action.PERSON_UPDATED, actor=actor, now=now, subject_type="person",
            subject_id=person.id, sites=case_sites(person), detail=diff,
        )
    return PersonSaved(person, diff, decided_on_earlier_facts(person, before, diff,
                                                               actor=actor))


# The person's details a triage decision, and an allocation, were made on
# (C1 their age on the referral date, C2 where they live; the age band and
# the site of their stratum).
DECIDED_FACTS = ("date_of_birth", "local_authority")


def decided_on_earlier_facts(person: Person, before: dict, changes: dict, *,
                             actor: User) -> list[str]:
    """What the editor of ``person`` must be told once ``changes`` (the
    audit's, from the details ``before``) change a fact a decision was made
    on, if a triage of theirs was decided or they were randomised: that
    the decisions keep the facts they were decided on (DESIGN.md "Triage":
    the decision locks the facts), and, for each allocation not marked in
    error, if the date of birth now recorded changes whether they were 14
    or over on its referral's date (C1), or its age band (a trial
    stratified by age), that an admin should consider marking it
    "randomised in error". The record was corrected silently, the
    decisions left as if made on it (found by review).

    A decided Checkpoint or Outcome 22 assessment was made on the date of
    birth too (K1, and O5's parent or carer under 16), so a corrected date
    of birth names the diversion decisions as well, and, for each decided
    Checkpoint assessment whose K1 the date of birth now recorded decides
    otherwise, says so and that the lead should review the diversion (the
    assessment is not changed). Only triage and allocations were looked at:
    a child decided eligible for Checkpoint, found to be 19 on the offence
    date, was told only "Changes saved" (found by review).

    By the rules themselves, as for K1, it also says: for each decided
    Outcome 22 assessment whose O5 the date of birth now recorded decides
    otherwise (a parent or carer must agree under 16), that the lead should
    review the diversion; for each decided eligible whose diversion has not
    ended, if the date of birth now recorded would close it with another
    outcome code (Outcome 23 for a child's deferred prosecution, 22
    otherwise), that the closing code follows the date of birth the
    assessment was decided on; and for each assessment not yet decided made
    on another date of birth, that it should be assessed again. Only K1 was
    looked at."""
    changed = [name for name in DECIDED_FACTS if name in changes]
    if not changed:
        return []
    # triage, trial and diversion build on intake, so they are imported here
    from casework.diversion.models import Assessment
    from casework.triage.models import Triage
    from casework.trial.models import Allocation

    allocations = list(db.session.scalars(
        select(Allocation).where(Allocation.person_id == person.id).order_by(Allocation.id)))
    triaged = bool(allocations) or bool(db.session.scalar(select(exists().where(
        Triage.person_id == person.id, Triage.decided_at.is_not(None)))))
    # an assessment reads the date of birth alone of these facts; one not
    # yet decided is no decision, but holds the date of birth it was made on
    assessments = list(db.session.scalars(
        select(Assessment).where(Assessment.person_id == person.id)
        .order_by(Assessment.id))) if "date_of_birth" in changed else []
    # An assessment assessed again (the same scheme and offence date) is
    # named no more unless a diversion was offered on it: the later one is
    # the one to decide or act on (each was named, once for every
    # assessment, found by review).
    latest = {(assessment.scheme, assessment.offence_date): assessment.id
              for assessment in assessments}
    current = [assessment for assessment in assessments if assessment.case is not None
               or latest[(assessment.scheme, assessment.offence_date)] == assessment.id]
    decided = [assessment for assessment in current if assessment.decided_at is not None]
    undecided = [notice for assessment in current if assessment.decided_at is None
                 and (notice := _assessed_on_another_birth_date(assessment, person))]
    kinds = (["triage"] if triaged else []) + (["diversion"] if decided else [])
    if not kinds:
        return undecided
    # the facts those decisions were made on that changed here
    changed = [name for name in changed if triaged or name == "date_of_birth"]
    facts = listed([_DETAIL_NAMES[name] for name in changed])
    notices = [f"The {listed(kinds)} decisions already made for {person.full_name} keep the "
               f"facts they were decided on: the {facts} changed here "
               f"{'does' if len(changed) == 1 else 'do'} not change them"]
    if "date_of_birth" in changed:
        notices += [notice for allocation in allocations if allocation.in_error is None
                    and (notice := _randomised_on_another_age(
                        allocation, person, before["date_of_birth"], actor=actor))]
        settings = _diversion_settings()
        for assessment in decided:
            notices += [notice for notice in (
                _decided_otherwise(assessment, person),
                _closed_on_another_age(assessment, person, settings)) if notice]
        notices += undecided
    return list(dict.fromkeys(notices))  # (the same words once)


def _diversion_settings():
    """What the deployment configures for diversion (its closing code)."""
    from casework.diversion.services import Settings

    return Settings.from_config(current_app.config)


def _assessed_on(assessment) -> date | None:
    """The date of birth ``assessment`` was made on (its facts'), or None."""
    born = assessment.facts.get("date_of_birth")
    return date.fromisoformat(born) if born else None


def _aged_on(dob: date | None, on: date) -> str:
    return "of unknown age" if dob is None else f"aged {validation.years_between(dob, on)}"


def _decided_as(assessment) -> str:
    return assessment.decision.replace("_", " ") if assessment.decision else "decided"


def _decided_otherwise(assessment, person: Person) -> str | None:
    """Why the lead should review the diversion decided on ``assessment``
    now that ``person``'s date of birth is another: the criterion of its
    scheme that reads the age (Checkpoint's K1, aged 10 to 17 on the offence
    date; Outcome 22's O5, agreement to engage, with a parent or carer's
    under 16, on the facts it was given) decides otherwise by the date of
    birth now recorded than the assessment did, by the scheme's own rule.
    None if not. (O5 at first said "review" whenever the agreement became
    needed or not, though a parent or carer who agreed, or a person who
    refused, is decided alike at any age: found by review.)"""
    from casework.eligibility import checkpoint, outcome22
    from casework.eligibility.outcomes import Outcome

    on, facts = assessment.offence_date, assessment.facts
    if assessment.scheme == checkpoint.SCHEME:
        scheme, criterion = "Checkpoint", "K1 (age)"
        now = checkpoint.k1(person.date_of_birth, on)
    elif assessment.scheme == outcome22.SCHEME:
        scheme, criterion = "Outcome 22", "O5 (agreement)"
        now = outcome22.o5(person.date_of_birth, on, variant=facts.get("variant"),
                           agrees_to_engage=facts.get("agrees_to_engage"),
                           parent_or_carer_agrees=facts.get("parent_or_carer_agrees"),
                           accepts_responsibility=facts.get("accepts_responsibility"))
    else:
        return None
    was = next((Outcome(c["outcome"]) for c in assessment.criteria
                if c["id"] == now.id), None)
    if was is None or now.outcome == was:
        return None
    return (f"{person.full_name}'s {scheme} assessment for the offence of {long_date(on)}, "
            f"decided {_decided_as(assessment)}, found {criterion} {was.label.lower()}; by "
            f"the date of birth now recorded it is {now.outcome.label.lower()}: {now.reason} "
            "The lead should review the diversion: the assessment is not changed")


def _closed_on_another_age(assessment, person: Person, settings) -> str | None:
    """What the editor must be told of the outcome code a diversion on
    ``assessment``, decided eligible and not yet ended (offered, active, or
    not yet offered), will close with now that ``person``'s date of birth is
    another: it follows the date of birth the assessment was made on
    (diversion's ``closing_code``: the configured Outcome 23 for a child's
    deferred prosecution, under 18 on the offence date), and the date of
    birth now recorded would close it otherwise. None if it would not (an
    Outcome 22 diversion, or Outcome 22 configured for every case, closes
    as 22 whatever the age)."""
    from casework.diversion import services as diversion
    from casework.eligibility import checkpoint
    from casework.eligibility.outcomes import Result

    case = assessment.case
    if assessment.decision != Result.ELIGIBLE or (
            case is not None and case.status in diversion.ENDINGS
            and case.status != diversion.CaseStatus.COMPLETED):
        return None
    would = diversion.closing_code_if_born(assessment, person.date_of_birth, settings)
    on = assessment.offence_date
    kind = ("Checkpoint" if assessment.scheme == checkpoint.SCHEME
            else "Outcome 22 deferred prosecution")
    if case is not None and case.status == diversion.CaseStatus.COMPLETED:
        # closed: its code recorded, never worked out again (a child's 23 on
        # someone found to be 18 was left unsaid, found by review)
        if case.outcome_code is None or case.outcome_code == would:
            return None
        return (f"The diversion on {person.full_name}'s {kind} assessment for the offence of "
                f"{long_date(on)} was completed and closed as Outcome {case.outcome_code}, by "
                f"the date of birth the assessment was decided on. By the date of birth now "
                f"recorded they were {_aged_on(person.date_of_birth, on)} on the offence date, "
                f"and it would have closed as Outcome {would}: a lead should review the "
                "outcome recorded")
    closes = diversion.closing_code(assessment, settings)
    if closes == would:
        return None
    return (f"A diversion on {person.full_name}'s {kind} assessment for the offence of "
            f"{long_date(on)} closes as Outcome {closes} when completed: the closing code "
            f"follows the date of birth the assessment was decided on, by which they were "
            f"{_aged_on(_assessed_on(assessment), on)} on the offence date. By the date of "
            f"birth now recorded they were {_aged_on(person.date_of_birth, on)}, and it would "
            f"close as Outcome {would} (Outcome {settings.closing_code} is for a child's "
            f"deferred prosecution, under {diversion.ADULT_AGE} on the offence date)")


def _assessed_on_another_birth_date(assessment, person: Person) -> str | None:
    """What the editor must be told of ``assessment``, not yet decided,
    made on a date of birth other than the one now recorded: a lead
    deciding it would decide on the earlier one (an assessment is never
    changed), so it should be assessed again. None if it was made on the
    date of birth now recorded."""
    from casework.diversion.services import SCHEMES

    was = _assessed_on(assessment)
    if was == person.date_of_birth:
        return None
    earlier = (f"on the earlier date of birth, {long_date(was)}" if was
               else "with no date of birth recorded")
    scheme = SCHEMES.get(assessment.scheme, assessment.scheme)
    return (f"{person.full_name}'s {scheme} assessment for the offence of "
            f"{long_date(assessment.offence_date)}, not yet decided, was assessed {earlier}: "
            f"assess again from their record ({scheme} assessment), then decide the new "
            "assessment, not this one, which is not changed")


def _randomised_on_another_age(allocation, person: Person, earlier: date | None, *,
                               actor: User) -> str | None:
    """Why ``allocation`` may be in error now that ``person``'s date of
    birth is no longer ``earlier``: their age on its referral's date is on
    the other side of C1's 14 (or no longer known), or in another age band
    than the one its stratum holds (a trial stratified by age). None if
    neither."""
    from casework.eligibility.cirv import MINIMUM_AGE
    from casework.trial.strata import age_band

    referral = db.session.get(Referral, allocation.referral_id)
    on = referral.referral_date
    was, now = (validation.years_between(dob, on) if dob else None
                for dob in (earlier, person.date_of_birth))

    def c1(age: int | None) -> bool | None:
        return None if age is None else age >= MINIMUM_AGE

    def band(age: int | None) -> str | None:
        try:
            return None if age is None else age_band(age)
        except ValueError:  # younger than the youngest band
            return None

    def aged(age: int | None) -> str:
        return "of unknown age" if age is None else f"aged {age}"

    # the band they were randomised in, as their stratum holds it
    # ("coventry/14-17"; none if the trial's strata are sites alone)
    randomised_in = allocation.stratum.partition("/")[2]
    if c1(was) != c1(now):
        why = f"C1 (aged {MINIMUM_AGE} or over) would not be decided as it was"
    elif randomised_in and band(now) is not None and band(now) != randomised_in:
        why = f"age band {band(now)}, not the {randomised_in} band they were randomised in"
    else:
        return None
    which = (f"referral {referral.reference}"
             if not actor.is_site_scoped or referral.site_id in actor.site_ids
             else "a referral at another site")
    return (f"{person.full_name} was randomised in {allocation.trial.name} on {which}: on its "
            f"date, {long_date(on)}, they were {aged(now)} by the date of birth now recorded, "
            f"and {aged(was)} by the one it replaces: {why}. An admin should consider marking "
            "the allocation \"randomised in error\"")


def person_edit_problems(person: Person, details: PersonDetails, problems: dict, *,
                         actor: User) -> IntakeError | None:
    """Every problem of an edit of ``person`` to ``details`` (normalised as
    far as they can be, with ``problems``, those _person_problems found):
    besides those, a date of birth after one of their referral dates, and
    a PNC reference someone else has, each checked only if its field is
    otherwise right. Each was found only once every other field was right:
    the form's errors put right, another problem came up (found by review).
    None if there is none."""
    problems = dict(problems)
    if "date_of_birth" not in problems and (
            problem := _born_after_a_referral(person, details.date_of_birth, actor=actor)):
        problems["date_of_birth"] = problem
    holder = None
    if "pnc_reference" not in problems:
        holder = _pnc_holder(person, details.pnc_reference, actor=actor)
        if holder:
            problems["pnc_reference"] = pnc_held(holder, "check it")
    return IntakeError(problems, shown=[holder] if holder else []) if problems else None


def edit_problems(person: Person, details: PersonDetails, *, actor: User,
                  today: date) -> IntakeError | None:
    """Every problem of ``details`` as an edit of ``person``
    (``person_edit_problems``), raising nothing: for an edit form with
    errors of its own, which is not saved, so each is shown with them."""
    problems, checked = _person_problems(details, today=today)
    return person_edit_problems(person, checked, problems, actor=actor)


def new_referral_problems(person: PersonDetails, referral: ReferralDetails, *, actor: User,
                          today: date) -> dict[str | None, str]:
    """Every problem of a new referral and its person (``check_new_referral``),
    raising nothing: for a referral form with errors of its own, which is
    not recorded, so each is shown with them."""
    try:
        check_new_referral(person, referral, actor=actor, today=today)
    except IntakeError as error:
        return error.problems
    return {}


def _pnc_holder(person: Person, pnc: str | None, *, actor: User) -> Candidate | None:
    """Another person, at any site, with the PNC reference ``pnc``, which
    ``person`` may therefore not be given (a PNC reference identifies one
    person, as a new referral's person may not be given it either): as a
    candidate, held by their site if the actor may not see them."""
    if not pnc or pnc == person.pnc_reference:
        return None
    found = db.session.execute(
        select(Person, _seen_by(actor).label("seen"))
        .where(Person.pnc_reference == pnc, Person.id != person.id).limit(1)).first()
    if found is None:
        return None
    other, seen = found
    return Candidate(other, [matching.SAME_PNC], held_by=None if seen else other.site.name)


def change_status(referral: Referral, target: ReferralStatus, *, actor: User | None,
                  now: datetime) -> Referral:
    """Move a referral along the workflow (reference.TRANSITIONS), audited."""
    before = referral.status
    referral.status = transition(before, target)
    db.session.flush()
    audit.record(
        Action.REFERRAL_STATUS_CHANGED, actor=actor, now=now, subject_type="referral",
        subject_id=referral.id, site_id=referral.site_id,
        detail=audit.changes({"status": str(before)}, {"status": str(target)}),
    )
    return referral


# A close reason that says the referral was triaged: offered, and taken,
# only for a referral that has a triage.
TRIAGE_COMPLETE = "triage_complete"
NOT_TRIAGED = ("Select another reason: this referral has not been triaged, so it cannot be "
               "closed as triage complete")


def _has_triage(referral: Referral) -> bool:
    # The triage package builds on intake, so it is imported here, not at the top.
    from casework.triage.models import Triage

    return bool(db.session.scalar(select(exists().where(Triage.referral_id == referral.id))))


def close_reasons(referral: Referral) -> dict[str, str]:
    """The reasons ``referral`` may be closed with (CLOSE_REASONS): "Triage
    complete, no further action" only once it has a triage. Offered to a
    referral never triaged, it was taken, and CONSORT counted a referral
    closed as triaged that never was (found by review)."""
    if _has_triage(referral):
        return dict(CLOSE_REASONS)
    return {code: label for code, label in CLOSE_REASONS.items() if code != TRIAGE_COMPLETE}


def close_referral(referral: Referral, reason: str, *, actor: User, now: datetime) -> Referral:
    """Close a referral with one of the fixed reasons (``close_reasons``:
    triage complete only for a referral that has a triage)."""
    if reason not in CLOSE_REASONS:
        raise IntakeError({"reason": "Select why the referral is being closed"})
    # Under the row's lock, as it is now: closed by a colleague (or the same
    # click twice) meanwhile, or gone into triage, is not closed again.
    # (A triage is recorded under the same lock: record_triage.)
    lock_row(db.session, referral)
    before = referral.status
    if before == ReferralStatus.CLOSED:
        raise IntakeError({None: f"Referral {referral.reference} is already closed"})
    if reason not in close_reasons(referral):
        raise IntakeError({"reason": NOT_TRIAGED})
    try:
        referral.status = transition(before, ReferralStatus.CLOSED)
    except InvalidTransition as error:
        raise IntakeError({None: str(error)}) from None
    referral.closed_reason = reason
    referral.closed_at = now
    db.session.flush()
    audit.record(
        Action.REFERRAL_CLOSED, actor=actor, now=now, subject_type="referral",
        subject_id=referral.id, site_id=referral.site_id,
        detail={**audit.changes({"status": str(before)}, {"status": "closed"}),
                "closed_reason": reason},
    )
    return referral


def record_person_view(person: PersonOnPage, shown: Iterable, *, actor: User,
                       now: datetime) -> None:
    """The person page was read: the event names the notes its record
    showed (their words are on it, up to 400 characters each), the
    restricted ones apart, as the notes search's event does; a note opened
    on its own page is ``note:viewed``."""
    notes = [item.record for item in shown if item.kind == "note"]
    detail = {"notes": [note.id for note in notes],
              "restricted_notes": [note.id for note in notes if note.restricted]}
    audit.record(Action.PERSON_VIEWED, actor=actor, now=now, subject_type="person",
                 subject_id=person.id, sites=case_sites(person),
                 detail={name: ids for name, ids in detail.items() if ids} or None)


def candidates_shown(candidates: list[Candidate], *, page: str | None) -> None:
    """The possible duplicates a new referral was checked against were
    shown: each the actor may see as a view of them (``person_shown``), each
    of another site as a match shown (that they match and why: no personal
    data), under the person's site, so its leads see who was told."""
    for candidate in candidates:
        if candidate.held_by is None:
            person_shown(candidate.person, page=page)
            continue
        audit.viewed(Action.PERSON_MATCH_VIEWED, subject_type="person",
                     subject_id=candidate.person.id, site_id=candidate.person.site_id,
                     page=page, matched_on=sorted(
                         _MATCHED_ON[reason] for reason in candidate.reasons))


_MATCHED_ON = {matching.SAME_PNC: "pnc_reference",
               matching.SAME_NAME_AND_DATE_OF_BIRTH: "name_and_date_of_birth"}


def person_shown(person: Person, *, page: str | None, site_id: int | None = None) -> None:
    """A page other than the person's record showed their details (a form
    about them, or a possible duplicate): audited as a view of the person,
    naming the page (its endpoint), under each site their case belongs to
    (``case_sites``), or ``site_id`` when the page is about a record of
    one site (a referral), so that site's leads see it."""
    audit.viewed(Action.PERSON_VIEWED, subject_type="person", subject_id=person.id,
                 site_id=site_id, sites=None if site_id else case_sites(person), page=page)


@dataclass(frozen=True)
class ReferralQuery:
    text: str | None = None
    status: str | None = None
    site_id: int | None = None
    source: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    sort: str = "newest"


SORTS = {
    "newest": (Referral.referral_date.desc(), Referral.id.desc()),
    "oldest": (Referral.referral_date.asc(), Referral.id.asc()),
    "name": (Person.last_name_key.asc(), Person.first_name_key.asc(), Referral.id.asc()),
}


@dataclass(frozen=True, slots=True)
class ListedReferral:
    """A row of the referrals list, read as plain values: building the page's
    referrals, their people and sites as ORM objects was a tenth of the
    page's work."""

    id: int
    person_id: int
    first_name: str
    last_name: str
    referral_date: date
    site_name: str
    source: str
    status: ReferralStatus

    @property
    def reference(self) -> str:
        return format_reference(self.id)


# Referrals are counted up to COUNT_CAP: counting every referral of a
# national service on each list page would read them all (a seq scan of a
# million rows); past it the list says "more than" and pages on by "Next".
@dataclass(frozen=True)
class ReferralPage(Paged):
    referrals: list[ListedReferral]
    total: int
    page: int
    per_page: int
    capped: bool = False  # more than ``total`` match
    has_next: bool = False


def _after(prefix: str) -> str:
    """The first key past every key starting with ``prefix``: a prefix match
    is written as a range, so a plain b-tree index serves it on SQLite and
    PostgreSQL alike (name keys hold only a-z and 0-9)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _starts_with(column, name: str, *, planned_once: bool):
    """``column`` starts with the parameters ``name`` (see ``_after``); if
    ``planned_once``, each bound is read as a one-row subquery.

    A search alone has the same best plan whatever the name (the name-key
    indexes, then each person's referrals: checked on the bench's data for
    rare and common names, one name or two, scoped to sites or not). But
    PostgreSQL, given the bounds themselves, estimated a narrow range of
    keys at one person and any range at 500, so once psycopg had prepared
    the search it still planned it afresh for every name (its plan for any
    name never looked as cheap), and planning was most of a millisecond of
    its two. A subquery's value is not known when the statement is planned,
    for one name or any: every plan is estimated alike (500 people), so once
    the search is prepared PostgreSQL plans it for its values the five times
    it always does, and from then on keeps the one plan (as it does for a
    search by reference, a key whatever its value). SQLite reads the
    subqueries once, and uses its index on the range just the same.

    Not for a search with a filter as well: every plan of it would then be
    estimated alike too, and PostgreSQL would keep one plan for every
    filter's values, where the best plan depends on them (a name and a rare
    status, or a day's dates: 2-4 times slower with the one plan). So it
    keeps its bounds in view, and is planned for its values."""
    if not planned_once:
        return and_(column >= bindparam(f"{name}_from"), column < bindparam(f"{name}_to"))

    def bound(end: str):
        return select(bindparam(f"{name}_{end}", type_=column.type)).scalar_subquery()

    return and_(column >= bound("from"), column < bound("to"))


# The filters a query may have, each comparing with the parameter of its name.
_FILTERS = {
    "status": Referral.status == bindparam("status"),
    "site_id": Referral.site_id == bindparam("site_id"),
    "source": Referral.source == bindparam("source"),
    "date_from": Referral.referral_date >= bindparam("date_from"),
    "date_to": Referral.referral_date <= bindparam("date_to"),
}


_LISTED = (Referral.id, Referral.person_id, Person.first_name, Person.last_name,
           Referral.referral_date, Site.name, Referral.source, Referral.status)


@dataclass(frozen=True)
class _ListStatements:
    """The statements of one shape of query (whether it is scoped to sites,
    which filters it has, how many names it searches for), its values left
    as parameters: built once for each shape, as building them was a
    twentieth of the list. Each page statement gives a page's rows (skip,
    take), each with the count of what matches, up to the cap."""

    count: Select  # how many match, up to the cap
    listed: Select  # any page
    searched: Select  # a page within the first cap + 1 (a search's)


def _named(word: str, planned_once: bool):
    """The ids of the people one word of a search names: the name-key
    indexes' (``word``: the parameters' prefix).

    The matching people first, then their referrals: driving from the
    referrals would look up the person of every referral at the user's
    sites. Each name key's people from its own index alone (the indexes
    hold the id: migration 0012), the lists appended: as one OR, PostgreSQL
    read every matching person's row from the table to check the condition
    again. A first name's key is looked for as the word is written and as
    its nickname's full name ("Chris" begins Christina, and is
    Christopher); a word that is no nickname has an empty second range."""
    return union_all(
        select(Person.id).where(_starts_with(Person.last_name_key, f"last{word}",
                                             planned_once=planned_once)),
        select(Person.id).where(_starts_with(Person.first_name_key, f"first{word}",
                                             planned_once=planned_once)),
        select(Person.id).where(_starts_with(Person.first_name_key, f"nickname{word}",
                                             planned_once=planned_once)),
    )


@lru_cache(maxsize=256)
def _list_statements(site_scoped: bool, by_reference: bool, names: tuple[int, ...],
                     filters: tuple[str, ...], sort: str, cap: int) -> _ListStatements:
    """The page's ids come from the referrals table and its (site, date) index
    alone, joining people only to search or sort by name; the page's rows
    join their people and sites to those ids alone.

    ``names``: how many words each way of reading a search's words has
    (``_word_groupings``): a person is found if every word of any one of
    them names them."""
    stmt = select(Referral.id)
    if sort == "name":
        stmt = stmt.join(Referral.person)
    if site_scoped:
        stmt = stmt.where(Referral.site_id.in_(bindparam("site_ids", expanding=True)))
    if by_reference:
        stmt = stmt.where(Referral.id == bindparam("ref_id"))
    planned_once = not filters  # see _starts_with
    if len(names) == 1:  # one reading: each word's people in turn
        stmt = stmt.where(*(Referral.person_id.in_(_named(f"0_{n}", planned_once))
                            for n in range(names[0])))
    elif names:
        # Several readings ("Al Hassan": Al and Hassan, or Al-Hassan): the
        # people any of them names, found together. Tried in turn, the
        # first that found anyone hid the rest: Omar Al-Hassan was not
        # found while an Ali Hassan was (found by review).
        # (Each reading's people a plain SELECT, so that the readings are
        # one compound: SQLite has none nested, nor precedence among them.)
        stmt = stmt.where(Referral.person_id.in_(union_all(*(
            select(Person.id).where(*(Person.id.in_(_named(f"{g}_{n}", planned_once))
                                      for n in range(words)))
            for g, words in enumerate(names)))))
    stmt = stmt.where(*(_FILTERS[name] for name in filters))
    sorts = SORTS.get(sort, SORTS["newest"])
    plain = not (filters or by_reference or names)
    count = capped_count(stmt, cap, written=plain)
    # A page of the list: the count (a subquery the database runs once), the
    # page's ids, and their rows, in the page's order, in one statement.
    # (The count is no row's: correlated with nothing.)
    #
    # The list unfiltered (the page a lead opens all day) has its bounds and
    # its count's written into the SQL (``literal_execute``, see
    # capped_count), and PostgreSQL then plans it once for every request (the
    # same plan: its referrals by date, backwards), where it planned each
    # page afresh (0.9 ms of its time, more than running it). A filtered
    # list's bounds stay parameters, which keeps it planned for its values:
    # planned once for all statuses, a list of a rare one read the whole date
    # index (77-100 ms, against 0.2 ms planned for it).
    skip, take = (bindparam(name, type_=Integer, literal_execute=plain)
                  for name in ("skip", "take"))
    listed = _rows_of(stmt.order_by(*sorts).offset(skip).limit(take).subquery("listed"),
                      count.scalar_subquery().correlate(None), sorts)
    # A search matches few referrals (those of the people it names): the
    # first cap + 1 in order, found once (a common table expression, which
    # both databases read twice but run once), are its count and its page.
    keys = [sort.element.label(f"key{n}") for n, sort in enumerate(sorts)]
    found = stmt.add_columns(*keys).order_by(*sorts).limit(cap + 1).cte("found")
    in_found = [found.c[key.name].desc() if sort.modifier is operators.desc_op
                else found.c[key.name].asc() for key, sort in zip(keys, sorts, strict=True)]
    searched = _rows_of(
        select(found.c.id).order_by(*in_found).offset(skip).limit(take).subquery("listed"),
        select(func.count()).select_from(found).scalar_subquery(), sorts)
    return _ListStatements(count, listed, searched)


def _rows_of(ids, total, sorts) -> Select:
    """The rows of the referrals ``ids`` (a subquery of them), in order, each
    with ``total``. The list shows the referral's site, not the person's:
    one site a row."""
    return (select(*_LISTED, total.label("total"))
            .select_from(ids)
            .join(Referral, Referral.id == ids.c.id)
            .join(Person, Person.id == Referral.person_id)
            .join(Site, Site.id == Referral.site_id)
            .order_by(*sorts))


REFERRALS_PER_PAGE = 25


def search_referrals(query: ReferralQuery, *, actor: User, page: int = 1,
                     per_page: int = REFERRALS_PER_PAGE) -> ReferralPage:
    """Referrals at the actor's sites, filtered, sorted and paginated.

    One query a page whatever its size: its rows, each with the count up to
    COUNT_CAP (a page past the end counts on its own, and shows the last).
    """
    page = max(1, page)
    if query.text and not searchable(query.text):  # nothing to look for: nobody matches
        return ReferralPage([], 0, 1, per_page)
    ref_id = parse_reference(query.text) if query.text else None
    readings = [] if ref_id is not None or not query.text else \
        _word_groupings(query.text.split())
    return _search_by_names(query, readings, ref_id, actor=actor, page=page,
                            per_page=per_page)


def searchable(text: str) -> bool:
    """Whether ``text`` is something a search can look for: a reference, or
    a word with a letter or digit a name is keyed by (``matching``). Text
    with none ("?", "--", a name in another script) gave no name to search
    for, and the list showed every referral as if each matched."""
    return parse_reference(text) is not None or any(
        matching.normalise_name(word) for word in text.split())


def _word_groupings(words: list[str]) -> list[list[str]]:
    """The ways a search's words are read, the people any of them names
    found together: each word a name; and, for a surname of several words
    typed with spaces ("De Souza", "van der Berg", "Smith Jones" for
    Smith-Jones, whose key is one word), the first word a name and the rest
    one surname, and all of them one surname; and, for three words or more,
    the first a first name and the last a surname, the words between them
    left out: the later parts of a first name typed with spaces ("Mary Jane
    Watson": "Mary Jane" is keyed by Mary alone) or a middle name ("Kate
    Louise Smith"), which no key holds."""
    # Words with nothing a name is keyed by ("?", "-") are no part of any
    # reading ("? Omar Al Hassan" read "?" as the first name); words are
    # joined by their keys, not as typed, or "Mary-Jane Smith" joined read
    # as the first name Mary (a hyphen ends a first name's first part), and
    # found every Mary (found by review). A joined reading is looked for as
    # a first name too ("Lee Ann" finds Leeann, "Al Ex" Alex).
    words = [word for word in words if matching.normalise_name(word)]
    keys = [matching.normalise_name(word) for word in words]
    tried = [words]
    if len(words) > 2:
        tried.append([words[0], "".join(keys[1:])])
        tried.append([words[0], words[-1]])
    if len(words) > 1:
        tried.append(["".join(keys)])
    return tried


def _name_keys(words: list[str]) -> list[tuple[str, str, str]]:
    """Each word's keys as a surname and as a first name (its first part, as
    written and by its nickname's form: "Bob" finds Robert and Bobbie,
    "Chris" Christopher and Christina, "Mary-Jane" Mary Jane), keyed as the
    people's names are (matching.first_name_key); a word with nothing a
    name is keyed by is left out."""
    return [
        (key, matching.plain_first_name_key(word) or key, matching.first_name_key(word) or key)
        for word, key in ((word, matching.normalise_name(word)) for word in words) if key
    ]


def _search_by_names(query: ReferralQuery, readings: list[list[str]], ref_id: int | None, *,
                     actor: User, page: int, per_page: int) -> ReferralPage:
    keyed: list[list[tuple[str, str, str]]] = []
    for reading in readings:  # (two may key alike: "? Smith" reads as Smith both ways)
        if (keys := _name_keys(reading)) and keys not in keyed:
            keyed.append(keys)
    params: dict = {}
    if actor.is_site_scoped:
        params["site_ids"] = sorted(actor.site_ids)
    if ref_id is not None:
        params["ref_id"] = ref_id
    for g, name_keys in enumerate(keyed):
        for n, (key, first, nickname) in enumerate(name_keys):
            # (the nickname's range empty if the word is none: from its key to it)
            word = f"{g}_{n}"
            params.update({f"last{word}_from": key, f"last{word}_to": _after(key),
                           f"first{word}_from": first, f"first{word}_to": _after(first),
                           f"nickname{word}_from": nickname,
                           f"nickname{word}_to": _after(nickname) if nickname != first
                           else nickname})
    filters = tuple(name for name in _FILTERS if getattr(query, name))
    params.update({name: getattr(query, name) for name in filters})
    statements = _list_statements(actor.is_site_scoped, ref_id is not None,
                                  tuple(len(keys) for keys in keyed), filters, query.sort,
                                  COUNT_CAP)
    take = per_page + 1  # one more: a next page?
    searching = ref_id is not None or bool(keyed)

    def page_of(number: int) -> list:
        skip = (number - 1) * per_page
        # a search's page past its first cap + 1 (a search matching more
        # than the cap) is read as a page of the list
        statement = statements.searched if searching and skip + take <= COUNT_CAP + 1 \
            else statements.listed
        return column_rows(statement, {**params, "skip": skip, "take": take}).all()

    rows = page_of(page)
    found = rows[0].total if rows else column_rows(statements.count, params).scalar()
    total, capped, within = counted(found, COUNT_CAP, page, per_page)
    if within != page:  # past the end: the last page
        page, rows = within, page_of(within)
    has_next = len(rows) > per_page
    listed = [ListedReferral(*row[:-1]) for row in rows[:per_page]]
    return ReferralPage(listed, total, page, per_page, capped, has_next)
