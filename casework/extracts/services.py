"""Evaluator outputs: cohort extracts streamed in constant memory, their
k-anonymity report, suppressed aggregate tables and the CONSORT flow.

Rows are read in keyset-paged batches of ``BATCH`` with a fixed number of
queries per batch, so memory does not grow with the cohort.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, distinct, false, func, or_, select, true
from sqlalchemy.orm import aliased

from casework.accounts.models import Site, User
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import column_rows, from_replica
from casework.dates import LOCAL_ZONE, local_date
from casework.diversion.models import Assessment, DiversionCase
from casework.eligibility import cirv
from casework.extensions import db
from casework.extracts import consort, privacy
from casework.extracts.schemas import SCHEMAS, csv_values, dictionary_rows, dumper
from casework.intake.models import Person, Referral
from casework.intake.reference import CLOSE_REASONS, ETHNICITIES, SOURCES, ReferralStatus
from casework.intake.validation import years_between
from casework.notes.models import Note
from casework.notes.reference import CONTACT_TYPES
from casework.pathways.models import PathwayEpisode, ProtocolDeviation
from casework.pathways.states import EXIT_REASONS, Pathway
from casework.triage.models import Triage
from casework.trial.models import (
    Allocation,
    AllocationInError,
    Trial,
    TrialStatus,
    trial_sites,
)

BATCH = 1000
FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
UNITS = ("person", "referral")


# Under the project key a person has one pseudonym in every extract, so an
# extract narrowed to a day, matched with a whole one, dates each pseudonym
# in it (found by review): narrowing takes a key of its own.
NARROWED_NEEDS_ONE_OFF_KEY = (
    "Choose a one-off key for a date range, or clear the dates: under the project key, "
    "an extract of a few days would show the day each person in it was randomised "
    "(or referred) in every other extract")


WHOLE_PERIODS = "At this level of detail a date range covers whole {0}s"


class ExtractError(Exception):
    def __init__(self, problems: dict[str | None, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


@dataclass(frozen=True)
class ExtractRequest:
    trial_id: int
    site_ids: tuple[int, ...] = ()      # empty: all the trial's sites
    date_from: date | None = None
    date_to: date | None = None
    unit: str = "person"
    format: str = "csv"
    level: int = 1                       # generalisation ladder level
    per_extract_key: bool = False

    def check(self) -> ExtractRequest:
        problems: dict[str | None, str] = {}
        if db.session.get(Trial, self.trial_id) is None:
            problems["trial"] = "Select a trial"
        if self.unit not in UNITS:
            problems["unit"] = "Select person or referral rows"
        if self.format not in FORMATS:
            problems["format"] = "Select CSV or JSON Lines"
        if self.level not in privacy.LEVELS:
            problems["level"] = "Select a level of detail"
        if self.date_from and self.date_to and self.date_from > self.date_to:
            problems["date_to"] = "The end must be on or after the start"
        problems.update(self.linkable_problem())
        if problems:
            raise ExtractError(problems)
        return self

    @property
    def narrowed(self) -> bool:
        """Rows chosen by date (the day randomised, or referred)."""
        return bool(self.date_from or self.date_to)

    def linkable_problem(self) -> dict[str, str]:
        """A narrowed extract under the project key: its pseudonyms link to
        every other extract's, and its dates would date them there. Under a
        one-off key too its rows, matched with a whole extract's on their
        other values, link to its pseudonyms (found by review): a range
        covers whole periods at the extract's level, so a row's place in it
        says no more than its period does."""
        if self.narrowed and not self.per_extract_key:
            return {"date_from" if self.date_from else "date_to": NARROWED_NEEDS_ONE_OFF_KEY}
        name = privacy.PERIOD_NAMES.get(self.level)
        if name is None:
            return {}
        if self.date_from and not privacy.starts_period(self.date_from, self.level):
            return {"date_from": f"{WHOLE_PERIODS.format(name)}: start it on the first day "
                                 f"of a {name}"}
        if self.date_to and not privacy.ends_period(self.date_to, self.level):
            return {"date_to": f"{WHOLE_PERIODS.format(name)}: end it on the last day of a "
                               f"{name}"}
        return {}

    @property
    def coarsest_level(self) -> int:
        """The least detail the extract may be written at: where its range,
        if any, still covers whole periods (a range of whole months written
        by the year would give the month)."""
        return max((level for level in privacy.LEVELS if level >= self.level and (
            not self.date_from or privacy.starts_period(self.date_from, level)) and (
            not self.date_to or privacy.ends_period(self.date_to, level))), default=self.level)

    def parameters(self) -> dict:
        data = asdict(self)
        data["date_from"] = self.date_from.isoformat() if self.date_from else None
        data["date_to"] = self.date_to.isoformat() if self.date_to else None
        data["site_ids"] = list(self.site_ids)
        return data


def _trial_sites(req: ExtractRequest) -> list[int]:
    with from_replica(False):  # the trial as it is now, even if a replica lags
        trial = db.session.get(Trial, req.trial_id)
    return [s.id for s in trial.sites]


def _site_filter(req: ExtractRequest, column):
    """The rows of the sites asked for, among the trial's; asked for none,
    every row of the trial (``column``: the trial site a row is at, its
    stratum's or the one its referral counted for, so the whole extract
    holds what CONSORT counts)."""
    if not req.site_ids:
        return true()
    trial_sites = _trial_sites(req)
    return column.in_([s for s in req.site_ids if s in trial_sites])


# A person is randomised in the stratum of the trial site C2 passed on: the
# referral's, or the one they live in when referred at a site outside the
# trial (``trials.stratum_for``). The allocation's site stays the referral's
# (who may see the case), so an evaluator's site is the stratum's: the part
# of ``coventry`` or ``coventry/14-17`` before any "/", matched exactly (a
# key's "_" would be a wildcard to LIKE), a few sites for each row.
StratumSite = aliased(Site, name="stratum_site")
HomeSite = aliased(Site, name="home_site")


def _is_stratum_site(site):
    return or_(Allocation.stratum == site.key,
               func.substr(Allocation.stratum, 1, func.length(site.key) + 1) == site.key + "/")


def _referral_site(req: ExtractRequest, column: str = "key"):
    """The trial site a referral row counted for, as ``_referral_stmt``
    joins them (``column``: its key or id): its allocation's stratum site if
    it was randomised; else its own site if one of the trial's; else the
    one the person lives in if one of the trial's (C2 passed on it); else,
    as a last resort (they have moved since), its own."""
    stratum, own, home = ((StratumSite.key, Site.key, HomeSite.key) if column == "key"
                          else (StratumSite.id, Referral.site_id, HomeSite.id))
    return case((Allocation.id.is_not(None), stratum),
                (Referral.site_id.in_(_trial_sites(req)), own),
                else_=func.coalesce(home, own))


def _date_range(req: ExtractRequest, column, *, timestamp: bool):
    """Rows from ``date_from`` to ``date_to``, both whole days in England: a
    timestamp column is compared with the start of the first day and before
    the start of the day after the last (none after 31 December 9999)."""
    conditions = []
    if req.date_from:
        conditions.append(column >= (datetime.combine(req.date_from, time.min, tzinfo=LOCAL_ZONE)
                                     if timestamp else req.date_from))
    if req.date_to and not timestamp:
        conditions.append(column <= req.date_to)
    elif req.date_to and req.date_to < date.max:
        end = datetime.combine(req.date_to + timedelta(days=1), time.min,
                               tzinfo=LOCAL_ZONE)
        conditions.append(column < end)
    return and_(*conditions) if conditions else True


def _in_trial(trial_id: int):
    """The referrals that are the trial's (joined to their triage, if any):
    those decided under it (a triage records the trial it was decided
    under), and those never decided that triage would decide under it. One
    open now is the trial's triage would take it to now (``triage._trial``):
    the one open at its site, else, none open there, the one open where the
    person lives (C2); a trial not open has none (making the next phase's
    trial, closed until it opens, took the running trial's waiting
    referrals: found by review). One closed undecided is the latest trial
    at its site made before it was closed, else (no trial there then) the
    latest made before it was closed where the person lives (the data model
    records when a trial was made, not when it opened or closed)."""
    with from_replica(False):  # the trials as they are now, even if a replica lags
        trial = db.session.get(Trial, trial_id)
        made = db.session.execute(
            select(trial_sites.c.site_id, Trial.id, Trial.created_at, Trial.status)
            .join(Trial, Trial.id == trial_sites.c.trial_id)).all()
    sites = {s.id: s.key for s in trial.sites}
    open_now = false()
    if trial.status == TrialStatus.OPEN:   # at most one open trial at a site
        trial_open = {row.site_id for row in made if row.status == TrialStatus.OPEN}
        open_now = and_(Referral.closed_at.is_(None), or_(
            Referral.site_id.in_(list(sites)),
            and_(Referral.site_id.not_in(trial_open), _lives_in(list(sites.values())))))
    # closed at a site no trial was at yet: where the person lives, if a trial was
    site_had_trial = (select(trial_sites.c.site_id)
                      .join(Trial, Trial.id == trial_sites.c.trial_id)
                      .where(trial_sites.c.site_id == Referral.site_id,
                             Trial.created_at <= Referral.closed_at).exists())
    windows = []
    for site_id, key in sites.items():
        later = [created for site, ident, created, _ in made if site == site_id
                 and (created, ident) > (trial.created_at, trial.id)]
        closed = Referral.closed_at >= trial.created_at
        if later:
            closed = and_(closed, Referral.closed_at < min(later))
        windows.append(and_(closed, or_(Referral.site_id == site_id,
                                        and_(~site_had_trial, _lives_in([key])))))
    undecided = and_(Triage.decided_at.is_(None), or_(open_now, *windows))
    return or_(and_(Triage.decided_at.is_not(None), Triage.trial_id == trial_id), undecided)


def _lives_in(site_keys: list[str]):
    """Referrals of people living in one of ``site_keys`` (local authorities)."""
    resident = aliased(Person)   # a statement of its own, whether or not Person is joined
    return (select(resident.id).where(resident.id == Referral.person_id,
                                      resident.local_authority.in_(site_keys)).exists())


def _batches(stmt, id_column) -> Iterator[list]:
    """Keyset pages of ``stmt`` ordered by ``id_column``: constant memory."""
    last = 0
    while True:
        page = stmt.where(id_column > last).order_by(id_column).limit(BATCH)
        rows = column_rows(page).all()
        if not rows:
            return
        yield rows  # plain rows, not ORM objects: the session keeps nothing
        last = rows[-1][0]


def _held_batches(stmt, id_column) -> Iterator[list]:
    """The rows of ``stmt`` a batch of ``id_column``'s values at a time (a
    person's referrals together, with ``Referral.person_id``), those values
    read once, in one statement, and held (some 30 bytes each, as the rows'
    order holds theirs in ``_unordered_batches``). For the trial's
    referrals, chosen by conditions no index serves: paged by keyset
    (``_batches``), each page ran the whole statement again, 7 of a
    100,000-person extract's 10 seconds on PostgreSQL."""
    ids = sorted(column_rows(stmt.with_only_columns(id_column).distinct()).scalars())
    for start in range(0, len(ids), BATCH):
        yield column_rows(stmt.where(id_column.in_(ids[start:start + BATCH]))).all()


ID_BITS = 64  # an id's share of a sort key (ids are 64-bit at most)


def _unordered_batches(stmt, id_column, sort_key: Callable[[tuple], int]) -> Iterator[list]:
    """The rows of ``stmt`` (its first column ``id_column``) in batches, in
    the order of ``sort_key`` (a pseudonym's digits): ids follow the order
    records were made, so a file in id order would list people in the order
    they were randomised, or referred, whatever its periods hide (found by
    review). One pass reads the ids with the columns ``sort_key`` takes
    (``stmt``'s first two) and sorts them, each key and id one number; the
    rows are then read a batch of ids at a time. Memory holds that number for
    each row (some 50 bytes), not the rows."""
    keys = stmt.with_only_columns(*list(stmt.selected_columns)[:2])
    # in one statement, as _held_batches reads its ids: paged by keyset, the
    # trial's referrals' conditions ran again for every page
    order = [sort_key(row) << ID_BITS | row[0] for row in column_rows(keys)]
    order.sort()
    mask = (1 << ID_BITS) - 1
    for start in range(0, len(order), BATCH):
        ids = [number & mask for number in order[start:start + BATCH]]
        by_id = {row[0]: row for row in column_rows(stmt.where(id_column.in_(ids)))}
        yield [by_id[ident] for ident in ids if ident in by_id]


def _digits(*pseudonyms: str) -> int:
    """Pseudonyms (of one kind each) as one number, in their order."""
    return int("".join(p[1:] for p in pseudonyms), 16)


def _ethnic_group(code: str | None) -> str | None:
    return ETHNICITIES.get(code, ("not_stated", ""))[0] if code else None


def _person_stmt(req: ExtractRequest):
    return (select(Allocation.id, Allocation.person_id, Allocation.stratum, Allocation.arm,
                   Allocation.allocated_at, StratumSite.key, Person.date_of_birth,
                   Person.gender, Person.ethnicity, Referral.referral_date, Referral.source,
                   AllocationInError.id, Person.local_authority, Person.caseworker_id)
            .join(StratumSite, _is_stratum_site(StratumSite))
            .join(Person, Person.id == Allocation.person_id)
            .join(Referral, Referral.id == Allocation.referral_id)
            .outerjoin(AllocationInError, AllocationInError.allocation_id == Allocation.id)
            .where(Allocation.trial_id == req.trial_id, _site_filter(req, StratumSite.id),
                   _date_range(req, Allocation.allocated_at, timestamp=True)))


def _age(dob: date | None, on: date) -> int | None:
    return years_between(dob, on) if dob else None


def _person_quasi(level: int, site: str, age: int | None, gender: str,
                  ethnicity: str | None, randomised_on: date, stratum: str) -> tuple:
    """A person row's quasi-identifiers at ``level``, in QUASI_IDENTIFIERS
    order (its age on the referral date, the day it was randomised, and its
    stratum, which holds an age band when strata include age)."""
    return (site, privacy.age_band(age, level), gender if level < 2 else "*",
            privacy.ethnicity(_ethnic_group(ethnicity), level),
            privacy.period(randomised_on, level), privacy.stratum(stratum, level))


def _person_rows(req: ExtractRequest, key: bytes) -> Iterator[dict]:
    pseudonym = privacy.Pseudonyms(key)
    theirs = _in_trial(req.trial_id)
    for batch in _unordered_batches(_person_stmt(req), Allocation.id,
                                    lambda row: _digits(pseudonym("person", row[1]))):
        ids = [row[1] for row in batch]
        # the trial's, as its referral rows are: a referral outside it
        # would tell where else they live
        referrals = dict(db.session.execute(
            select(Referral.person_id, func.count())
            .outerjoin(Triage, Triage.referral_id == Referral.id)
            .where(Referral.person_id.in_(ids), theirs)
            .group_by(Referral.person_id)).all())
        current = dict(db.session.execute(
            select(PathwayEpisode.person_id, PathwayEpisode.pathway)
            .where(PathwayEpisode.person_id.in_(ids), PathwayEpisode.end_date.is_(None))).all())
        engaged = set(db.session.scalars(
            select(PathwayEpisode.person_id).distinct()
            .where(PathwayEpisode.person_id.in_(ids),
                   PathwayEpisode.pathway == Pathway.ENGAGED)))
        changes = dict(db.session.execute(
            select(PathwayEpisode.person_id, func.count())
            .where(PathwayEpisode.person_id.in_(ids),
                   PathwayEpisode.previous_pathway.is_not(None))
            .group_by(PathwayEpisode.person_id)).all())
        deviations = dict(db.session.execute(
            select(ProtocolDeviation.person_id, func.count())
            .where(ProtocolDeviation.person_id.in_(ids))
            .group_by(ProtocolDeviation.person_id)).all())
        contacts: dict[int, list[tuple[str, date]]] = defaultdict(list)
        for person_id, kind, on in db.session.execute(
                select(Note.person_id, Note.contact_type, Note.contact_date)
                .where(Note.person_id.in_(ids), Note.kind == "contact",
                       Note.attended.is_(True))):
            contacts[person_id].append((kind, on))
        spells: dict[int, list[tuple[str, date, date | None]]] = defaultdict(list)
        for person_id, pathway, start, end in db.session.execute(
                select(PathwayEpisode.person_id, PathwayEpisode.pathway,
                       PathwayEpisode.effective_date, PathwayEpisode.end_date)
                .where(PathwayEpisode.person_id.in_(ids))
                .order_by(PathwayEpisode.effective_date, PathwayEpisode.id)):
            spells[person_id].append((str(pathway), start, end))
        # the latest assessment, and every diversion's outcome: a later
        # assessment (ineligible, say) hid an earlier diversion's outcome,
        # when only the latest was read (found by review)
        diversion: dict[int, tuple] = {}
        outcomes: dict[int, list[tuple[int, date | None]]] = defaultdict(list)
        for (person_id, scheme, result, decision, status, code, later,
             ended_on) in db.session.execute(
                select(Assessment.person_id, Assessment.scheme, Assessment.result,
                       Assessment.decision, DiversionCase.status, DiversionCase.outcome_code,
                       DiversionCase.later_outcome_code, DiversionCase.ended_on)
                .outerjoin(DiversionCase, DiversionCase.assessment_id == Assessment.id)
                .where(Assessment.person_id.in_(ids))
                .order_by(Assessment.assessed_at, Assessment.id)):
            diversion[person_id] = (scheme, result, decision, status)
            if code or later:
                outcomes[person_id].append((code or later, ended_on))
        for (_, person_id, stratum, arm, allocated_at, site, dob, gender, ethnicity,
             referral_date, source, in_error, local_authority, caseworker_id) in batch:
            randomised_on = local_date(allocated_at)
            age = _age(dob, referral_date)
            _, band, shown_gender, group, period, shown_stratum = _person_quasi(
                req.level, site, age, gender, ethnicity, randomised_on, stratum)
            mine = contacts.get(person_id, [])
            # ended episodes only: counted to the extract's day, the open one
            # summed with the rest to that day less the day of randomisation,
            # whatever the period hid (found by review); it is the pathway
            # now, from the last day in pathway_episodes
            days = {p.value: 0 for p in Pathway}
            for pathway, start, end in spells.get(person_id, []):
                if end is not None:
                    days[pathway] += (end - start).days
            scheme, result, decision, status = diversion.get(person_id, ("", "", None, None))
            # in the order they ended (one not ended, if any, last)
            ended = sorted(outcomes.get(person_id, []),
                           key=lambda outcome: (outcome[1] is None, outcome[1] or date.min))
            last_code, last_end = ended[-1] if ended else (None, None)
            yield {
                "person": pseudonym("person", person_id),
                "site": site, "stratum": shown_stratum, "arm": str(arm),
                "randomised_period": period,
                "randomised_in_error": in_error is not None,
                "age_band": band, "age_at_referral": age,
                "gender": shown_gender, "ethnicity": group,
                "referral_source": source,
                "referrals": referrals.get(person_id, 0),
                "pathway": str(current[person_id]) if person_id in current else "",
                "engaged_ever": person_id in engaged,
                "pathway_changes": changes.get(person_id, 0),
                "protocol_deviations": deviations.get(person_id, 0),
                "caseworker": pseudonym("caseworker", caseworker_id)
                if caseworker_id else "",
                "local_authority": local_authority,
                "days_referral_to_randomisation": (randomised_on - referral_date).days,
                "pathway_episodes": ";".join(f"{p}@{(start - randomised_on).days}"
                                             for p, start, _ in spells.get(person_id, [])),
                "days_awaiting_offer": days["awaiting_offer"], "days_engaged": days["engaged"],
                "days_at_risk_monitoring": days["at_risk_monitoring"],
                "days_disruption": days["disruption"],
                "contacts_attended": len(mine),
                **{f"contacts_{kind}": sum(1 for k, _ in mine if k == kind)
                   for kind in CONTACT_TYPES},
                # from the day of randomisation: a contact before it (a
                # referral's first meeting) is in neither period
                "contacts_first_90_days": sum(1 for _, on in mine
                                              if 0 <= (on - randomised_on).days <= 90),
                "contacts_after_90_days": sum(1 for _, on in mine
                                              if (on - randomised_on).days > 90),
                "diversion_scheme": scheme, "diversion_eligibility": result,
                "diversion_decision": decision or "",
                "diversion_status": str(status) if status else "",
                "diversion_outcome_code": last_code,
                "diversion_outcome_day": (last_end - randomised_on).days if last_end else None,
                "diversion_outcomes": ";".join(
                    f"{code}@{(end - randomised_on).days if end else ''}"
                    for code, end in ended),
            }


def _referral_quasi(level: int, site: str, age: int | None, referral_date: date) -> tuple:
    """A referral row's quasi-identifiers at ``level``, in QUASI_IDENTIFIERS
    order (its age on the referral date)."""
    return (site, privacy.age_band(age, level), privacy.period(referral_date, level))


def _referral_stmt(req: ExtractRequest):
    """The trial's referrals (``_in_trial``), each at the site it counted
    for (``_referral_site``)."""
    return (select(Referral.id, Referral.person_id, _referral_site(req), Referral.referral_date,
                   Referral.source, Referral.risk_indicators, Referral.status,
                   Referral.closed_reason, Person.date_of_birth, Triage.computed_result,
                   Triage.decision, Allocation.arm)
            .join(Site, Site.id == Referral.site_id)
            .join(Person, Person.id == Referral.person_id)
            .outerjoin(HomeSite, and_(HomeSite.key == Person.local_authority,
                                      HomeSite.id.in_(_trial_sites(req))))
            .outerjoin(Triage, Triage.referral_id == Referral.id)
            .outerjoin(Allocation, and_(Allocation.referral_id == Referral.id,
                                        Allocation.trial_id == req.trial_id))
            .outerjoin(StratumSite, _is_stratum_site(StratumSite))
            .where(_site_filter(req, _referral_site(req, "id")), _in_trial(req.trial_id),
                   _date_range(req, Referral.referral_date, timestamp=False)))


def _referral_rows(req: ExtractRequest, key: bytes) -> Iterator[dict]:
    pseudonym = privacy.Pseudonyms(key)
    # by person, so each person's referrals are together, and among them by
    # the referral's pseudonym (not the order they came)
    for batch in _unordered_batches(
            _referral_stmt(req), Referral.id,
            lambda row: _digits(pseudonym("person", row[1]), pseudonym("referral", row[0]))):
        for (referral_id, person_id, site, referral_date, source, risks, status, closed_reason,
             dob, computed, decision, arm) in batch:
            age = _age(dob, referral_date)
            _, band, period = _referral_quasi(req.level, site, age, referral_date)
            yield {
                "referral": pseudonym("referral", referral_id),
                "person": pseudonym("person", person_id),
                "site": site, "referral_period": period,
                "age_band": band, "age_at_referral": age, "source": source,
                "risk_indicators": ";".join(risks or []), "status": str(status),
                "closed_reason": closed_reason or "",
                "triage_result": computed or "", "triage_decision": decision or "",
                "arm": str(arm) if arm else "",
            }


def rows(req: ExtractRequest, key: bytes, *, exact_age: bool = False) -> Iterator[dict]:
    """The extract's rows, each dumped through its output's schema. A
    request narrowed by date under the project key is refused here too,
    whoever asks (``ExtractRequest.linkable_problem``). Age at referral is
    empty unless ``exact_age`` (a plan found k holds with it: ``plan``)."""
    if problem := req.linkable_problem():
        raise ExtractError(problem)
    dump = dumper(SCHEMAS[req.unit]())
    source = _person_rows if req.unit == "person" else _referral_rows
    for row in source(req, key):
        if not exact_age:
            row["age_at_referral"] = None
        yield dump(row)


# DESIGN.md: age band, gender, ethnicity group, site, randomisation period;
# and the stratum, which names an age band when strata include age. The age
# at referral, when written, is one more (``_quasi``, ``plan``).
QUASI_IDENTIFIERS = {
    "person": ("site", "age_band", "gender", "ethnicity", "randomised_period", "stratum"),
    "referral": ("site", "age_band", "referral_period"),
}


def _quasi(req: ExtractRequest, row: dict, exact_age: bool = False) -> tuple:
    """A row's quasi-identifiers; with ``exact_age``, its age at referral
    after them (a finer age than the band)."""
    group = tuple(row[q] for q in QUASI_IDENTIFIERS[req.unit])
    return (*group, row["age_at_referral"]) if exact_age else group


def _with_age(group: tuple, values: tuple) -> tuple:
    """A group at a level (``_person_quasi``'s or ``_referral_quasi``'s)
    with the exact age its values hold (the second of either's) after it,
    as ``_quasi`` reads it from a row written with it."""
    return (*group, values[1])


@dataclass(frozen=True)
class Plan:
    """How an extract reaches k: the level of the ladder it is written at,
    the report at each level tried and, when even the coarsest level falls
    short, the quasi-identifier groups whose rows are written with those
    values (all but the site) replaced by *, and the rows left out because
    even then their group would hold fewer than k. ``groups`` are the groups
    the file holds, each of at least ``target`` rows; a row of any other
    group (one randomised since the plan was made, say) is not written."""

    requested: int
    level: int
    reports: dict[int, privacy.KReport]
    small_groups: frozenset[tuple]
    target: int
    groups: Counter
    rows_left_out: int = 0
    people: Counter | None = None  # referral rows: each group's people, which k counts
    # age at referral (whole years) is written only when, at the level
    # written, every group still reaches k with it in place of the band:
    # ``groups`` are then those groups (``_quasi`` with the age)
    exact_age: bool = False
    exact_age_report: privacy.KReport | None = None  # at the level written, with it

    @property
    def report(self) -> privacy.KReport:
        return self.reports[self.level]

    @property
    def written(self) -> privacy.KReport:
        """The k of the file as written: at least ``target``, or no rows."""
        return _k_report(self.groups, self.people, self.target)


def _k_report(rows: Counter, people: Counter | None, target: int) -> privacy.KReport:
    """The k-anonymity report of groups of ``rows``, k counted in ``people``
    where a person may have several rows (referrals: the person pseudonym
    links them, so five referrals of one person are a group of one)."""
    if people is None:
        return privacy.k_report(rows, target)
    small = [group for group, n in people.items() if n < target]
    return privacy.KReport(sum(rows.values()), len(people), min(people.values(), default=0),
                           sum(rows[group] for group in small), target)


def _people_per_group(req: ExtractRequest, groups_of: Callable[[tuple], Iterable]) -> Counter:
    """For referral rows: how many people each group holds, each person once
    however many of their referrals fall in it. ``groups_of`` gives the
    groups one referral's quasi-identifier values (as ``_quasi_values``
    reads them) fall in. A batch of people at a time, all their referrals
    together (``_held_batches``)."""
    values = _referral_stmt(req).with_only_columns(
        Referral.person_id, _referral_site(req), Person.date_of_birth, Referral.referral_date)
    counted: Counter = Counter()
    known: dict[tuple, frozenset] = {}  # the values' groups, worked out once (they are few)
    for batch in _held_batches(values, Referral.person_id):
        theirs: dict[int, set] = defaultdict(set)
        for person_id, site, dob, referral_date in batch:
            quasi = (site, _age(dob, referral_date), referral_date.replace(day=1))
            groups = known.get(quasi)
            if groups is None:
                groups = known[quasi] = frozenset(groups_of(quasi))
            theirs[person_id] |= groups
        for groups in theirs.values():
            counted.update(groups)
    return counted


def _quasi_values(req: ExtractRequest) -> Counter:
    """What the quasi-identifiers of the extract's rows are made from (the
    arguments of ``_person_quasi`` or ``_referral_quasi`` after the level),
    counted: each distinct combination once, with its number of rows. The
    rows' own statements (same joins, same filters) read only the columns
    they come from; nothing else a row holds is a quasi-identifier. A date
    is counted by its month (its first day), the finest a period ever is
    (``privacy.period``), so the combinations are few and each is
    generalised once per level, not once per row."""
    counted: Counter = Counter()
    if req.unit == "person":
        stmt = _person_stmt(req).with_only_columns(
            Allocation.id, StratumSite.key, Person.date_of_birth, Referral.referral_date,
            Person.gender, Person.ethnicity, Allocation.allocated_at, Allocation.stratum)
        for batch in _batches(stmt, Allocation.id):
            counted.update((site, _age(dob, referral_date), gender, ethnicity,
                            local_date(allocated_at).replace(day=1), stratum)
                           for (_, site, dob, referral_date, gender, ethnicity, allocated_at,
                                stratum) in batch)
    else:
        stmt = _referral_stmt(req).with_only_columns(
            Referral.id, _referral_site(req), Person.date_of_birth, Referral.referral_date)
        for batch in _held_batches(stmt, Referral.id):
            counted.update((site, _age(dob, referral_date), referral_date.replace(day=1))
                           for _, site, dob, referral_date in batch)
    return counted


def plan(req: ExtractRequest, target: int = 5) -> Plan:
    """Generalise up the ladder from the requested level until k reaches
    ``target`` (no further than a date range allows: ``coarsest_level``);
    at the top, hide the quasi-identifiers of the rows in groups
    still too small (local suppression), and leave out the rows that even
    hidden would be in a group under ``target`` (record suppression). The
    site stays: sites are strata, evaluated each on its own. One pass counts
    every level, with the same functions the rows are written with, and
    each with the exact age at referral beside the band (DESIGN.md: "age at
    referral and age band"): finer than the band, it is written only when,
    at the level chosen, every group still reaches ``target`` with it;
    otherwise it is empty in every row (and always where groups are
    hidden)."""
    levels = range(req.level, req.coarsest_level + 1)
    quasi = _person_quasi if req.unit == "person" else _referral_quasi
    values_counted = _quasi_values(req)
    sizes: list[Counter] = [Counter() for _ in levels]
    aged: list[Counter] = [Counter() for _ in levels]   # with the exact age
    for values, rows_ in values_counted.items():
        for level, counter, with_age in zip(levels, sizes, aged, strict=True):
            group = quasi(level, *values)
            counter[group] += rows_
            with_age[_with_age(group, values)] += rows_
    # referral rows: k counts people (a person's referrals are linked by
    # their pseudonym); a person row is one person
    people: list[Counter | None] = [None] * len(levels)
    aged_people: list[Counter | None] = [None] * len(levels)
    if req.unit == "referral":
        def groups_of(values: tuple) -> set:
            found = set()
            for level in levels:
                group = quasi(level, *values)
                found |= {(level, False, group), (level, True, _with_age(group, values))}
            return found

        by_level = _people_per_group(req, groups_of)
        people, aged_people = ([Counter({group: n for (at, exact, group), n in by_level.items()
                                         if at == level and exact == with_age})
                                for level in levels] for with_age in (False, True))
    reports = {}
    for i, (level, counted, persons) in enumerate(zip(levels, sizes, people, strict=True)):
        reports[level] = _k_report(counted, persons, target)
        if reports[level].meets:
            # the age at referral too, if every group still reaches k with it
            exact = _k_report(aged[i], aged_people[i], target)
            if exact.meets:
                return Plan(req.level, level, reports, frozenset(), target, aged[i], 0,
                            aged_people[i], True, exact)
            return Plan(req.level, level, reports, frozenset(), target, counted, 0, persons,
                        False, exact)
    top = levels[-1]
    if req.unit == "person":
        small, kept = privacy.suppress_groups(sizes[-1], target, _hidden)
        return Plan(req.level, top, reports, small, target, kept,
                    reports[top].rows - sum(kept.values()))
    # referral rows: the groups under k hidden, then pooled by site, and the
    # people of each group as written counted again (one person may be in
    # several of the groups pooled)
    under = frozenset(group for group, n in people[-1].items() if n < target)

    def written(group: tuple) -> tuple:
        return _hidden(group) if group in under else group

    persons = _people_per_group(req, lambda values: {written(quasi(top, *values))})
    kept_people = Counter({group: n for group, n in persons.items() if n >= target})
    rows_written: Counter = Counter()
    for group, n in sizes[-1].items():
        rows_written[written(group)] += n
    kept = Counter({group: n for group, n in rows_written.items() if group in kept_people})
    small = frozenset(group for group in under if _hidden(group) in kept)
    return Plan(req.level, top, reports, small, target, kept,
                reports[top].rows - sum(kept.values()), kept_people)


def _hidden(group: tuple) -> tuple:
    """A group's quasi-identifiers written as *, but for its site (the first)."""
    return (group[0],) + ("*",) * (len(group) - 1)


def _planned_rows(req: ExtractRequest, key: bytes, chosen: Plan | None) -> Iterator[dict]:
    if chosen is None:
        yield from rows(req, key)
        return
    final = replace(req, level=chosen.level)
    hide = [q for q in QUASI_IDENTIFIERS[req.unit] if q != "site"]
    for row in rows(final, key, exact_age=chosen.exact_age):
        group = _quasi(final, row, chosen.exact_age)
        if group in chosen.small_groups:
            row, group = {**row, **dict.fromkeys(hide, "*")}, _hidden(group)
        if group in chosen.groups:
            yield row


def choose_key(req: ExtractRequest, project_key: bytes | None) -> bytes:
    """The project's pseudonym key, or a one-off key that is never stored
    (pseudonyms then link to no other extract)."""
    if req.per_extract_key:
        return secrets.token_bytes(32)
    if not project_key:
        raise ExtractError({None: "The pseudonym key is not configured (PSEUDONYM_KEY or "
                                  "PSEUDONYM_KEY_FILE)"})
    return project_key


def serialise(req: ExtractRequest, key: bytes, *,
              on_done: Callable[[int, str, bool], None],
              chosen: Plan | None = None) -> Iterator[bytes]:
    """The extract file, chunk by chunk, written as ``chosen`` plans (the
    request's own level if None); ``on_done(rows, sha256, complete)`` runs
    at the end, or when the reader stops early."""
    digest, count, complete = hashlib.sha256(), 0, False
    schema = SCHEMAS[req.unit]()
    values = csv_values(schema)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    try:
        if req.format == "csv":
            writer.writerow(schema.fields)
        for row in _planned_rows(req, key, chosen):
            if req.format == "csv":
                writer.writerow(privacy.csv_cells(values(row)))
            else:
                buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
            if buffer.tell() > 64_000:
                chunk = buffer.getvalue().encode("utf-8")
                digest.update(chunk)
                yield chunk
                buffer.seek(0)
                buffer.truncate()
        chunk = buffer.getvalue().encode("utf-8")
        digest.update(chunk)
        yield chunk
        complete = True
    finally:
        on_done(count, digest.hexdigest(), complete)


def record_extract(req: ExtractRequest, *, key: bytes, rows_written: int, sha256: str,
                   complete: bool, actor: User | None, now: datetime,
                   chosen: Plan | None = None, os_user: str | None = None) -> None:
    """Every export is an event, ``export:created`` (DESIGN.md), of kind
    ``cohort_extract``: the request's parameters, the rows written, the
    file's SHA-256, the key's id and the plan's outcome. ``os_user``: who ran
    the command that wrote it (a command has no actor), as accounts'
    commands record it."""
    detail = {"kind": "cohort_extract", "parameters": req.parameters(), "rows": rows_written,
              "sha256": sha256, "key_id": privacy.key_id(key), "complete": complete}
    if os_user is not None:
        detail["os_user"] = os_user
    if chosen is not None:
        detail.update(level_written=chosen.level, k=chosen.written.k, target_k=chosen.target,
                      k_reached=chosen.written.meets, age_at_referral=chosen.exact_age,
                      groups_suppressed=len(chosen.small_groups),
                      rows_suppressed=chosen.rows_left_out)
    audit.record(Action.EXPORT_CREATED, actor=actor, now=now, subject_type="trial",
                 subject_id=req.trial_id, detail=detail)


def consort_outputs(trial: Trial) -> dict[str, bytes]:
    """The trial's CONSORT flow diagram (SVG) and its counts (JSON)."""
    counts = flow(trial)
    return {"svg": consort.svg(counts, title=trial.name).encode(),
            "json": json.dumps({"trial": trial.key, **counts.counts()}, indent=2).encode()}


def record_consort_export(trial: Trial, outputs: dict[str, bytes], *, actor: User | None,
                          now: datetime, os_user: str | None = None) -> None:
    """Every export is an event, ``export:created`` of kind ``consort``: the
    CONSORT outputs' formats and SHA-256 each
    (their counts are the trial's, aggregated, so the detail holds no person),
    and for a command who ran it (``os_user``)."""
    detail = {"kind": "consort", "trial": trial.key,
              "sha256": {fmt: hashlib.sha256(body).hexdigest() for fmt, body in outputs.items()}}
    if os_user is not None:
        detail["os_user"] = os_user
    audit.record(Action.EXPORT_CREATED, actor=actor, now=now, subject_type="trial",
                 subject_id=trial.id, detail=detail)


# data dictionary

def dictionary_csv() -> str:
    out = io.StringIO()
    rows_ = dictionary_rows()
    writer = csv.DictWriter(out, fieldnames=list(rows_[0]))
    writer.writeheader()
    writer.writerows(rows_)
    return out.getvalue()


def dictionary_markdown() -> str:
    lines = ["# casework extract data dictionary", ""]
    for unit, schema in SCHEMAS.items():
        lines += [f"## {unit} rows", "", (schema.__doc__ or "").strip(), "",
                  "| field | type | description | transformation | allowed values |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['field']} | {r['type']} | {r['description']} | {r['transformation']} "
                  f"| {r['allowed_values']} |" for r in dictionary_rows() if r["output"] == unit]
        lines.append("")
    return "\n".join(lines)


# aggregates and CONSORT

@dataclass(frozen=True)
class Aggregate:
    title: str
    row_heading: str   # what the rows are ("Arm"): the heading above their labels
    row_labels: list[str]
    column_labels: list[str]
    cells: list[list[int | None]]   # None: suppressed
    row_totals: list[int | None]    # totals under 10 suppressed too
    column_totals: list[int | None]
    total: int | None


@dataclass(frozen=True)
class AggregatesPage:
    """What the aggregate tables' page shows: the tables and the CONSORT
    flow, each figure suppressed and rounded as the page's (``shown``: each
    CONSORT figure as written, by ``consort.figures``' names). ``figures``:
    every figure on the page (``table|row|column``, ``consort|name``) with
    its exact value and whether it is hidden, for checking; never shown."""

    tables: list[Aggregate]
    flow: consort.Flow
    shown: dict[str, str]
    figures: dict[str, tuple[int, bool]]


@dataclass(frozen=True)
class _Counts:
    key: str           # the table's name among the page's figures
    title: str
    row_heading: str
    row_keys: list[str]
    col_keys: list[str]
    counts: dict
    row_names: dict
    col_names: dict

    @property
    def raw(self) -> list[list[int]]:
        return [[self.counts.get((r, c), 0) for c in self.col_keys] for r in self.row_keys]


def _counts(trial: Trial) -> list[_Counts]:
    """Arm by pathway now, site by arm, and referral source by triage
    result, as counted (four queries, and two for the trials)."""
    arm_pathway = dict(((arm, pathway or "none"), n) for arm, pathway, n in db.session.execute(
        select(Allocation.arm, PathwayEpisode.pathway, func.count())
        .outerjoin(PathwayEpisode, and_(PathwayEpisode.allocation_id == Allocation.id,
                                        PathwayEpisode.end_date.is_(None)))
        .where(Allocation.trial_id == trial.id)
        .group_by(Allocation.arm, PathwayEpisode.pathway)))
    site_arm = dict(((site, arm), n) for site, arm, n in db.session.execute(
        select(StratumSite.key, Allocation.arm, func.count())
        .join(StratumSite, _is_stratum_site(StratumSite))
        .where(Allocation.trial_id == trial.id).group_by(StratumSite.key, Allocation.arm)))
    source_result = dict(((source, result or "not_decided"), n)
                         for source, result, n in db.session.execute(
        select(Referral.source, Triage.decision, func.count())
        .outerjoin(Triage, Triage.referral_id == Referral.id)
        .where(_in_trial(trial.id)).group_by(Referral.source, Triage.decision)))
    arms = ["treatment", "control"]
    pathways = [p.value for p in Pathway] + ["none"]
    path_names = {p.value: p.label for p in Pathway} | {"none": "No pathway (control)"}
    arm_names = {"treatment": "Treatment", "control": "Control"}
    sites = sorted(s.key for s in trial.sites)
    site_names = {s.key: s.name for s in trial.sites}
    results = ["eligible", "ineligible", "not_decided"]
    result_names = {"eligible": "Eligible", "ineligible": "Ineligible",
                    "not_decided": "Not triaged or not decided"}
    return [
        _Counts("arm_pathway", "Arm by pathway now", "Arm", arms, pathways, arm_pathway,
                arm_names, path_names),
        _Counts("site_arm", "Site by arm", "Site", sites, arms, site_arm, site_names,
                arm_names),
        _Counts("source_result", "Referral source by triage decision", "Referral source",
                list(SOURCES), results, source_result, SOURCES, result_names),
    ]


def _links(unshown: str) -> list[dict[str, int]]:
    """What a reader knows of how the CONSORT figures and the tables' meet
    (``_figures``' names): the arms' totals are the tables' (arm by pathway's
    rows, site by arm's columns), those exited are arm by pathway's exited
    column, those referred the sources' table's whole, its ineligible
    column those ineligible and those referred again, and its undecided
    those not yet triaged, awaiting a decision and closed."""
    def c(name: str) -> str:
        return f"consort|{name}"

    exited = Pathway.EXITED.value
    return [
        {"arm_pathway|treatment|total": 1, c("treatment"): -1},
        {"arm_pathway|control|total": 1, c("control"): -1},
        {"arm_pathway|total|total": 1, c("randomised"): -1},
        {f"arm_pathway|total|{exited}": 1, c("treatment_exited"): -1},
        {"site_arm|total|treatment": 1, c("treatment"): -1},
        {"site_arm|total|control": 1, c("control"): -1},
        {"site_arm|total|total": 1, c("randomised"): -1},
        {"source_result|total|total": 1, c("referred"): -1},
        {"source_result|total|ineligible": 1, c("ineligible"): -1,
         c("rereferred_randomised"): -1},
        {"source_result|total|not_decided": 1, c("not_triaged"): -1,
         c("awaiting_decision"): -1, c("closed"): -1},
        # triaged: decided, awaiting a decision, or closed in triage
        {c("triaged"): -1, "source_result|total|eligible": 1,
         "source_result|total|ineligible": 1, c("awaiting_decision"): 1, c("closed"): 1,
         unshown: -1},
        # every triage decided eligible under the trial is randomised in it,
        # each making an allocation of its own: no one already randomised
        # is decided eligible (C4 is locked: cirv.decision_problem), a
        # re-referral of theirs is decided ineligible, keeping the earlier
        # allocation (rereferred_randomised, the sources' ineligible), and a
        # randomisation refused records no decision (found by review)
        {"source_result|total|eligible": 1, c("randomised"): -1},
    ]


def _known_zeros() -> list[str]:
    """The page's figures the protocol makes zero (``_figures``' names), as
    anyone knows: the control arm is put on no pathway (its people are
    all under "none": pathways' control-arm guard), and a treated person is
    on one from randomisation ("awaiting offer", then one after another,
    exited the last), so never under "none" (found by review)."""
    return ([f"arm_pathway|control|{p.value}" for p in Pathway]
            + ["arm_pathway|treatment|none"])


def aggregates_page(trial: Trial) -> AggregatesPage:
    """The aggregate tables with the CONSORT flow beside them, safe as a
    page (DESIGN.md: counts under 10 hidden, the rest rounded to 5, with
    secondary suppression so hidden cells cannot be worked back). Each table
    is suppressed on its own first (``privacy.suppress``); the flow's
    figures from 1 to 9 are hidden too; then, as the flow's figures are the
    tables' margins and sums of them (the arms' totals, those exited,
    referred, ineligible), more are hidden, the flow's before the tables',
    until no hidden figure on the page follows from those shown
    (``privacy.suppress_linked``). Drawn with exact counts beside the tables,
    the flow gave back every cell they hid (found by review). The CONSORT
    downloads keep their exact counts, for the trial report."""
    counted, counts = _counts(trial), flow(trial)
    names: list[str] = []
    values: list[int] = []
    hidden: set[int] = set()
    tables: list[int] = []
    equations: list[dict[str, int]] = []
    for table in counted:
        raw = table.raw
        cells, row_totals, column_totals, total = privacy.suppress(raw)
        full = [[*row, sum(row)] for row in raw] + [
            [*(sum(col) for col in zip(*raw, strict=True)), sum(map(sum, raw))]]
        shown = [[*row, t] for row, t in zip(cells, row_totals, strict=True)] + [
            [*column_totals, total]]
        rows_, cols_ = [*table.row_keys, "total"], [*table.col_keys, "total"]
        for r, row_key in enumerate(rows_):
            for col, col_key in enumerate(cols_):
                tables.append(len(values))
                if shown[r][col] is None:
                    hidden.add(len(values))
                names.append(f"{table.key}|{row_key}|{col_key}")
                values.append(full[r][col])
        for row_key in rows_:
            equations.append({f"{table.key}|{row_key}|{k}": 1 for k in table.col_keys}
                             | {f"{table.key}|{row_key}|total": -1})
        for col_key in cols_:
            equations.append({f"{table.key}|{k}|{col_key}": 1 for k in table.row_keys}
                             | {f"{table.key}|total|{col_key}": -1})
    figures = consort.figures(counts)
    for name, value in figures.items():
        if 0 < value < privacy.SUPPRESS_BELOW:
            hidden.add(len(values))
        names.append(f"consort|{name}")
        values.append(value)
    unshown = {f"consort|{name}": len(values) + i for i, name in enumerate(consort.UNSHOWN)}
    names += list(unshown)
    values += [getattr(counts, name) for name in consort.UNSHOWN]
    equations += [{f"consort|{name}": w for name, w in relation.items()}
                  for relation in consort.equations(counts)]
    equations += _links("consort|closed_before_triage")
    index = {name: i for i, name in enumerate(names)}
    # a figure known to be zero protects nothing hidden, and is shown; one
    # that is not (records made against the protocol) is left as it is
    zeros = {index[name] for name in _known_zeros() if values[index[name]] == 0}
    hidden -= zeros
    linked = [{index[name]: w for name, w in relation.items() if name in index}
              for relation in equations] + [{i: 1} for i in sorted(zeros)]
    final = privacy.suppress_linked(values, linked, hidden, unpublished=unshown.values(),
                                    spare=tables, known=zeros)

    def published(i: int) -> int | None:
        return None if i in final else privacy.round_to(values[i])

    out: list[Aggregate] = []
    for table in counted:
        def at(row_key: str, col_key: str, table=table) -> int | None:
            return published(index[f"{table.key}|{row_key}|{col_key}"])

        out.append(Aggregate(
            table.title, table.row_heading,
            [table.row_names.get(r, r) for r in table.row_keys],
            [table.col_names.get(c, c) for c in table.col_keys],
            [[at(r, c) for c in table.col_keys] for r in table.row_keys],
            [at(r, "total") for r in table.row_keys],
            [at("total", c) for c in table.col_keys], at("total", "total")))
    shown_flow = {name: "*" if (v := published(index[f"consort|{name}"])) is None else str(v)
                  for name in figures}
    return AggregatesPage(out, counts, shown_flow,
                          {name: (values[i], i in final) for name, i in index.items()
                           if name not in unshown})


def aggregates(trial: Trial) -> list[Aggregate]:
    """The aggregate tables as their page shows them (``aggregates_page``)."""
    return aggregates_page(trial).tables


def flow(trial: Trial) -> consort.Flow:
    """The CONSORT counts for a trial: eight queries, two for the trials, and
    one more for each thousand referrals excluded."""
    # A referral of someone already randomised is decided ineligible and
    # linked to their allocation: not an exclusion, as they are in the trial.
    rereferred = Triage.allocation_id.is_not(None)
    # closed (withdrawn, declined, a duplicate, moved away...) with no decision:
    # not waiting for one, nor for triage (found by review)
    closed = and_(Referral.status == ReferralStatus.CLOSED, Triage.decided_at.is_(None))
    referrals = (select(func.count()).select_from(Referral)
                 .outerjoin(Triage, Triage.referral_id == Referral.id)
                 .where(_in_trial(trial.id)))
    referred, triaged, waiting, ineligible, already, closed_untriaged = db.session.execute(
        referrals.with_only_columns(
            func.count(), func.count(Triage.id),
            func.count(Triage.id).filter(Triage.decided_at.is_(None), ~closed),
            func.count(Triage.id).filter(Triage.decision == "ineligible", ~rereferred),
            func.count(Triage.id).filter(Triage.decision == "ineligible", rereferred),
            func.count().filter(closed, Triage.id.is_(None)))).one()
    closed_reasons = dict(db.session.execute(
        referrals.with_only_columns(Referral.closed_reason, func.count())
        .where(closed).group_by(Referral.closed_reason)).all())
    by_arm = dict(db.session.execute(select(Allocation.arm, func.count())
                                     .where(Allocation.trial_id == trial.id)
                                     .group_by(Allocation.arm)).all())
    in_error = dict(db.session.execute(
        select(Allocation.arm, func.count()).join(AllocationInError,
                                                  AllocationInError.allocation_id == Allocation.id)
        .where(Allocation.trial_id == trial.id).group_by(Allocation.arm)).all())
    deviations = db.session.scalar(
        select(func.count(distinct(ProtocolDeviation.person_id)))
        .join(Allocation, Allocation.id == ProtocolDeviation.allocation_id)
        .where(Allocation.trial_id == trial.id, Allocation.arm == "control"))
    # treated people ever on each pathway (engaged: received the intervention)
    on_pathway = dict(db.session.execute(
        select(PathwayEpisode.pathway, func.count(distinct(PathwayEpisode.person_id)))
        .join(Allocation, Allocation.id == PathwayEpisode.allocation_id)
        .where(Allocation.trial_id == trial.id, Allocation.arm == "treatment",
               PathwayEpisode.pathway.in_(RECEIVED))
        .group_by(PathwayEpisode.pathway)).all())
    # people exited now, by reason
    exits = dict(db.session.execute(
        select(PathwayEpisode.exit_reason, func.count()).select_from(PathwayEpisode)
        .join(Allocation, Allocation.id == PathwayEpisode.allocation_id)
        .where(Allocation.trial_id == trial.id, PathwayEpisode.end_date.is_(None),
               PathwayEpisode.pathway == Pathway.EXITED)
        .group_by(PathwayEpisode.exit_reason)).all())
    return consort.Flow(
        referred=referred, triaged=triaged, awaiting_decision=waiting, ineligible=ineligible,
        randomised=sum(by_arm.values()), treatment=by_arm.get("treatment", 0),
        control=by_arm.get("control", 0), treatment_in_error=in_error.get("treatment", 0),
        control_in_error=in_error.get("control", 0),
        treatment_engaged_ever=on_pathway.get(Pathway.ENGAGED, 0),
        treatment_exited=sum(exits.values()), control_deviations=deviations,
        ineligible_reasons=_exclusions(trial.id), rereferred_randomised=already,
        closed_before_triage=closed_untriaged,
        closed_reasons={label: closed_reasons[reason] for reason, label in CLOSE_REASONS.items()
                        if closed_reasons.get(reason)},
        treatment_pathways={Pathway(p).label: on_pathway.get(p, 0) for p in RECEIVED},
        treatment_completed=exits.get("completed", 0),
        treatment_lost={label: exits[reason] for reason, label in EXIT_REASONS.items()
                        if reason != "completed" and exits.get(reason)})


# The pathways of the intervention received, in the diagram's order.
RECEIVED = (Pathway.ENGAGED, Pathway.AT_RISK_MONITORING, Pathway.DISRUPTION)


def _exclusions(trial_id: int) -> dict[str, int]:
    """Ineligible decisions under the trial (people already randomised apart)
    by reason: each criterion not met (read from the criteria each decision
    recorded; one referral may fail several), then those a lead decided on
    review (a criterion not known), then decisions against the rules (the
    rules gave eligible)."""
    failed: Counter[str] = Counter()
    statement = (select(Triage.id, Triage.criteria, Triage.computed_result)
                 .where(Triage.trial_id == trial_id, Triage.decision == "ineligible",
                        Triage.allocation_id.is_(None))
                 .order_by(Triage.id).limit(BATCH))
    after = 0
    # read in keyset batches, as the extract is (a server-side cursor would
    # need a transaction, and a page's reads on PostgreSQL have none)
    while batch := db.session.execute(statement.where(Triage.id > after)).all():
        for _id, criteria, computed in batch:
            failed.update(c["id"] for c in criteria or () if c.get("outcome") == "fail")
            failed[computed] += computed != "ineligible"
        after = batch[-1].id
    reasons = {f"{cid} not met ({title.lower()})": failed[cid]
               for cid, (title, _rule) in cirv.CRITERIA.items() if failed[cid]}
    for computed, label in (("needs_review", "Decided on review"),
                            ("eligible", "Decided against the rules")):
        if failed[computed]:
            reasons[label] = failed[computed]
    return reasons
