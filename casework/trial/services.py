"""Trial configuration, randomisation and the allocation report.

Services flush, never commit. ``randomise`` is called by the triage
decision in the same transaction (DESIGN.md "Randomisation").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, case, func, select

from casework.accounts.models import Site, User
from casework.accounts.services import unseen_characters_problem
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import check_unchanged, lock_for_update, lock_row, row_version
from casework.extensions import db
from casework.extracts import privacy
from casework.intake.models import Person, Referral, format_reference, parse_reference
from casework.intake.validation import years_between
from casework.trial import sequence, strata
from casework.trial.models import (
    Allocation,
    AllocationInError,
    AllocationListEntry,
    AllocationMethod,
    Trial,
    TrialStatus,
)
from casework.trial.sequence import Arm
from casework.words import listed

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
MAX_REASON_LENGTH = 2000


class TrialError(Exception):
    """A request the trial's rules refuse; ``problems`` maps form fields to messages."""

    def __init__(self, problems: dict[str | None, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


@dataclass
class TrialSettings:
    name: str
    site_keys: list[str]
    stratify_by_age_band: bool = False
    ratio_treatment: int = 1
    ratio_control: int = 1
    method: AllocationMethod = AllocationMethod.PERMUTED_BLOCKS
    block_sizes: list[int] = field(default_factory=lambda: [2, 4, 6])
    status: TrialStatus = TrialStatus.OPEN
    key: str | None = None  # only when creating


def _snapshot(trial: Trial) -> dict:
    return {
        "name": trial.name, "status": str(trial.status),
        "sites": sorted(s.key for s in trial.sites),
        "stratify_by_age_band": trial.stratify_by_age_band, "ratio": trial.ratio,
        "method": str(trial.method), "block_sizes": list(trial.block_sizes or []),
    }


def has_allocations(trial: Trial) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(Allocation).where(Allocation.trial_id == trial.id)
    ) > 0


def _check_settings(settings: TrialSettings, trial: Trial | None) -> list[Site]:
    problems: dict[str | None, str] = {}
    if not settings.name.strip():
        problems["name"] = "Enter the trial's name"
    # drawn in the CONSORT diagram (SVG, which XML 1.0 rules), in lists and
    # logs: a vertical tab or an escape made the SVG invalid (found by review)
    elif problem := unseen_characters_problem(settings.name.strip(), "trial's name"):
        problems["name"] = problem
    if trial is None:
        if not KEY_PATTERN.match(settings.key or ""):
            problems["key"] = ("Enter a short key of lower-case letters, digits and hyphens, "
                               "starting with a letter")
        elif db.session.scalar(select(Trial.id).where(Trial.key == settings.key)):
            problems["key"] = "Another trial already has this key"
    sites = list(db.session.scalars(select(Site).where(Site.key.in_(settings.site_keys))))
    if not sites:
        problems["sites"] = "Select at least one site"
    problem = sequence.design_problem((settings.ratio_treatment, settings.ratio_control),
                                      tuple(settings.block_sizes))
    if settings.method == AllocationMethod.PERMUTED_BLOCKS and problem:
        problems["block_sizes"] = problem
    elif settings.ratio_treatment < 1 or settings.ratio_control < 1:
        problems["ratio_treatment"] = "Both parts of the ratio must be whole numbers of 1 or more"
    if sites and (problem := _uncovered_list(settings, sites, trial)) is not None:
        problems.setdefault(*problem)
    if trial is not None and has_allocations(trial):
        # The sequence and strata are fixed by the first allocation.
        frozen = {
            "stratify_by_age_band": settings.stratify_by_age_band != trial.stratify_by_age_band,
            "ratio_treatment": (settings.ratio_treatment, settings.ratio_control)
            != (trial.ratio_treatment, trial.ratio_control),
            "method": settings.method != trial.method,
            # the sizes are stored in order (save_trial): "6, 4, 2" is the same design
            "block_sizes": sorted(settings.block_sizes) != sorted(trial.block_sizes),
            "sites": not {s.key for s in trial.sites} <= set(settings.site_keys),
        }
        for name, changed in frozen.items():
            if changed:
                problems[name] = ("This cannot change once people have been randomised "
                                  "(sites can be added, not removed)")
    if problems:
        raise TrialError(problems)
    return sites


def listed_strata(trial: Trial | None) -> set[str]:
    """The strata ``trial``'s stored allocation list has slots for."""
    if trial is None:
        return set()
    return set(db.session.scalars(select(AllocationListEntry.stratum).distinct().where(
        AllocationListEntry.trial_id == trial.id)))


def trial_strata(trial: Trial) -> list[str]:
    """Every stratum of ``trial``: its sites, by age band if it says so."""
    return strata.all_strata([s.key for s in trial.sites], by_age_band=trial.stratify_by_age_band)


def list_gaps(trial: Trial) -> list[str]:
    """The strata of ``trial`` its stored allocation list has no slot for."""
    held = listed_strata(trial)
    return [stratum for stratum in trial_strata(trial) if stratum not in held]


def _named(missing: list[str], most: int = 6) -> str:
    shown = missing[:most] + ([f"{len(missing) - most} more"] if len(missing) > most else [])
    return f"stratum {listed(shown)}" if len(missing) == 1 else f"strata {listed(shown)}"


def _uncovered_list(settings: TrialSettings, sites: list[Site],
                    trial: Trial | None) -> tuple[str, str] | None:
    """The field and message refusing ``settings`` if they would leave a
    trial open to allocation from a list that has no slot for one of its
    strata (its first decision there would fail), or None. Checked when the
    trial opens (or is created open), takes the list method, or changes its
    strata (sites, age bands); the list is checked again on upload."""
    if settings.method != AllocationMethod.ALLOCATION_LIST or settings.status != TrialStatus.OPEN:
        return None
    needed = strata.all_strata([s.key for s in sites], by_age_band=settings.stratify_by_age_band)
    opening = trial is None or trial.status != TrialStatus.OPEN
    if not opening and trial.method == settings.method and needed == trial_strata(trial):
        return None  # nothing the list must cover has changed
    listed_now = listed_strata(trial)
    missing = [stratum for stratum in needed if stratum not in listed_now]
    if not missing:
        return None
    if opening:
        if not listed_now:
            return "status", ("Upload the allocation list before opening a trial that uses one: "
                              + ("save the trial closed, upload its list on the trial's page, "
                                 "then open it" if trial is None else
                                 "upload it on this page, then open the trial"))
        return "status", (f"The allocation list has no slots for {_named(missing)}: upload a "
                          "list with slots for every stratum before opening the trial")
    field = ("method" if trial.method != settings.method
             else "stratify_by_age_band" if trial.stratify_by_age_band
             != settings.stratify_by_age_band else "sites")
    return field, (f"The allocation list has no slots for {_named(missing)}, so nobody there "
                   "could be randomised while the trial is open. Close the trial and save "
                   "this change, upload a list with slots for every stratum, then open it "
                   "again")


def _open_trial_conflict(trial: Trial) -> None:
    """At most one open trial per site, so triage knows which trial applies."""
    if trial.status != TrialStatus.OPEN:
        return
    others = db.session.scalars(select(Trial).where(
        Trial.status == TrialStatus.OPEN, Trial.id != trial.id
    )).all()
    site_keys = {s.key for s in trial.sites}
    for other in others:
        shared = sorted(s.name for s in other.sites if s.key in site_keys)
        if shared:
            raise TrialError({"sites": f"{', '.join(shared)} already has an open trial "
                                       f"({other.name}); close it first"})


def trial_version(trial: Trial) -> str:
    """The version of a trial's settings its edit form is drawn from."""
    return row_version(_snapshot(trial))


def save_trial(trial: Trial | None, settings: TrialSettings, *, actor: User | None,
               now: datetime, based_on: str | None = None) -> Trial:
    """Create or change a trial's configuration, audited with before and after.

    Trials are configured one at a time (so two cannot both open at one
    site), and a trial's row is locked first: a randomisation in progress,
    which holds it shared, is waited for, so "fixed once people have been
    randomised" sees its allocation. An edit is refused (ChangedMeanwhile)
    if the trial is no longer the version ``based_on`` its form was drawn from."""
    lock_for_update(db.session, "trials:configure")
    if trial is not None:
        lock_row(db.session, trial)
        check_unchanged(based_on, _snapshot(trial), {
            "name": settings.name.strip(), "status": str(settings.status),
            "sites": sorted(settings.site_keys),
            "stratify_by_age_band": settings.stratify_by_age_band,
            "ratio": f"{settings.ratio_treatment}:{settings.ratio_control}",
            "method": str(settings.method), "block_sizes": sorted(settings.block_sizes)})
    sites = _check_settings(settings, trial)
    creating = trial is None
    before = {} if creating else _snapshot(trial)
    if creating:
        trial = Trial(key=settings.key, created_at=now)
        db.session.add(trial)
    trial.name = settings.name.strip()
    trial.sites = sites
    trial.stratify_by_age_band = settings.stratify_by_age_band
    trial.ratio_treatment, trial.ratio_control = settings.ratio_treatment, settings.ratio_control
    trial.method = settings.method
    trial.block_sizes = sorted(settings.block_sizes)
    trial.status = settings.status
    trial.updated_at = now
    db.session.flush()
    _open_trial_conflict(trial)
    audit.record(
        Action.TRIAL_CREATED if creating else Action.TRIAL_UPDATED, actor=actor, now=now,
        subject_type="trial", subject_id=trial.id,
        detail={"key": trial.key, **_snapshot(trial)} if creating
        else audit.changes(before, _snapshot(trial)),
    )
    return trial


def list_refusal(trial: Trial) -> str | None:
    """Why ``trial`` takes no allocation list now, or None. A trial that
    randomises from the trial key keeps that method once people have been
    randomised, so a list would never be used; one that uses a list can be
    sent a longer one at any time (``upload_allocation_list``)."""
    if trial.method != AllocationMethod.ALLOCATION_LIST and has_allocations(trial):
        return ("This trial randomises by permuted blocks from the trial key, fixed now that "
                "people have been randomised, so it takes no allocation list")
    return None


def _stored_list(trial: Trial) -> list[tuple[str, int, Arm]]:
    return [(stratum, slot, Arm(arm)) for stratum, slot, arm in db.session.execute(
        select(AllocationListEntry.stratum, AllocationListEntry.slot, AllocationListEntry.arm)
        .where(AllocationListEntry.trial_id == trial.id)
        .order_by(AllocationListEntry.stratum, AllocationListEntry.slot))]


def _list_refused(trial: Trial, data: bytes, rows: int | None, reason: str, message: str, *,
                  actor: User, now: datetime) -> TrialError:
    """An allocation list refused, audited with the file's SHA-256 and row
    count (None: it could not be read), never its rows: the event stands
    though the upload is rolled back, as the page saying so is shown
    (``trial:allocation_list_refused``), so repeated tries are on record."""
    audit.record(Action.TRIAL_ALLOCATION_LIST_REFUSED, actor=actor, now=now,
                 subject_type="trial", subject_id=trial.id,
                 detail={"sha256": hashlib.sha256(data).hexdigest(), "rows": rows,
                         "reason": reason})
    return TrialError({"allocation_list": message})


def refuse_allocation_list(trial: Trial, data: bytes, message: str, *, actor: User,
                           now: datetime) -> None:
    """Audit a file sent to a trial that takes no list (``list_refusal``),
    refused before it is read."""
    _list_refused(trial, data, None, "takes_no_list", message, actor=actor, now=now)


def upload_allocation_list(trial: Trial, data: bytes, filename: str, *, actor: User,
                           now: datetime) -> strata.AllocationList:
    """Store an allocation list (method B) with its SHA-256.

    Before anyone is randomised it replaces any earlier list. After, the
    slots used came from the list held, so a new one is taken only if it
    extends it (``strata.extension_problems``: every row kept, slots or
    strata added), for a list used up or a site added; its rows are added
    and its SHA-256 stored (the audit names both lists). A list that
    replaces the one of an open trial allocating from it must have slots
    for every stratum. Under the trial's row lock, so a randomisation in
    progress is waited for. A refusal is audited (``_list_refused``) and
    never names an arm of the list held."""
    lock_row(db.session, trial)
    if (refusal := list_refusal(trial)) is not None:
        raise _list_refused(trial, data, None, "takes_no_list", refusal, actor=actor, now=now)
    try:
        parsed = strata.parse_allocation_list(
            data, trial_strata(trial))
    except strata.AllocationListError as error:
        raise _list_refused(trial, data, None, "unreadable", "; ".join(error.problems),
                            actor=actor, now=now) from None
    extending = has_allocations(trial)
    current = _stored_list(trial) if extending else []
    if extending:
        if problems := strata.extension_problems(current, parsed.entries):
            raise _list_refused(trial, data, len(parsed.entries), "does_not_extend", (
                "People have been randomised from the current list, so a new list must keep "
                "every row of it unchanged and add slots after them: " + "; ".join(problems)),
                actor=actor, now=now)
        kept = {(stratum, slot) for stratum, slot, _ in current}
        added = [entry for entry in parsed.entries if entry[:2] not in kept]
    else:
        if trial.is_open and trial.method == AllocationMethod.ALLOCATION_LIST:
            given = {stratum for stratum, _, _ in parsed.entries}
            missing = [stratum for stratum in trial_strata(trial) if stratum not in given]
            if missing:
                raise _list_refused(trial, data, len(parsed.entries), "strata_missing", (
                    f"This file has no slots for {_named(missing)}: the trial is open and "
                    "allocates from its list, so the list must have slots for every stratum"),
                    actor=actor, now=now)
        db.session.execute(AllocationListEntry.__table__.delete().where(
            AllocationListEntry.trial_id == trial.id))
        added = list(parsed.entries)
    db.session.execute(AllocationListEntry.__table__.insert(), [
        {"trial_id": trial.id, "stratum": stratum, "slot": slot, "arm": arm.value}
        for stratum, slot, arm in added
    ])
    before = trial.allocation_list_sha256
    trial.allocation_list_sha256 = parsed.sha256
    trial.allocation_list_filename = filename.replace("\x00", "")[:200]
    trial.allocation_list_uploaded_at = now
    db.session.flush()
    detail = {"sha256": parsed.sha256, "rows": len(parsed.entries)}
    if extending:
        detail = {"sha256_before": before, "rows_before": len(current), **detail}
    audit.record(
        Action.TRIAL_ALLOCATION_LIST_EXTENDED if extending
        else Action.TRIAL_ALLOCATION_LIST_UPLOADED,
        actor=actor, now=now, subject_type="trial", subject_id=trial.id, detail=detail,
    )
    return parsed


def open_trial_sites() -> dict[str, str]:
    """The sites of every open trial, key: name."""
    return dict(db.session.execute(
        select(Site.key, Site.name).join(Trial.sites)
        .where(Trial.status == TrialStatus.OPEN).order_by(Site.name).distinct()).all())


def open_trial_for_site(site_id: int) -> Trial | None:
    """The open trial that includes ``site_id``, if any."""
    return db.session.scalars(
        select(Trial).join(Trial.sites)
        .where(Trial.status == TrialStatus.OPEN, Site.id == site_id)
    ).first()


def rule_sites(trial: Trial | None) -> dict[str, str]:
    """The trial sites C2 checks a referral against, given ``trial``, the
    one open at its site: that trial's; with none open there, those of the
    trials open elsewhere, so C2 names them (or says none is open)."""
    return {s.key: s.name for s in trial.sites} if trial else open_trial_sites()


def any_trial() -> bool:
    """Whether any trial is configured, open or closed."""
    return db.session.scalar(select(Trial.id).limit(1)) is not None


@cache
def _allocations_of_person():
    # built once: the person page runs it on every view
    return (select(Allocation).where(Allocation.person_id == bindparam("person_id"))
            .order_by(Allocation.allocated_at))


def allocations_for_person(person_id: int) -> list[Allocation]:
    return list(db.session.scalars(_allocations_of_person(),
                                   {"person_id": person_id}).unique())


def allocation_for(trial_id: int, person_id: int) -> Allocation | None:
    return db.session.scalars(select(Allocation).where(
        Allocation.trial_id == trial_id, Allocation.person_id == person_id)).first()


def allocation_of_person(person_id: int, *, preferring: int | None = None) -> Allocation | None:
    """The person's allocation: in trial ``preferring`` if they have one
    there, else their first in any trial (one query)."""
    stmt = select(Allocation).where(Allocation.person_id == person_id)
    if preferring is not None:
        stmt = stmt.order_by(case((Allocation.trial_id == preferring, 0), else_=1))
    return db.session.scalars(stmt.order_by(Allocation.id).limit(1)).first()


def stratum_for(trial: Trial, referral: Referral, person: Person) -> str:
    """The stratum of the trial site C2 passed on: the referral's, if it is
    one of ``trial``'s sites, else the one the person lives in (a Coventry
    resident referred at Birmingham: Coventry's sequence, not a
    "birmingham" stratum outside the trial's design)."""
    age = (years_between(person.date_of_birth, referral.referral_date)
           if person.date_of_birth else None)
    site, keys = referral.site.key, {s.key for s in trial.sites}
    if site not in keys and person.local_authority in keys:
        site = person.local_authority
    return strata.stratum_key(site, age, by_age_band=trial.stratify_by_age_band)


def key_fingerprints_used(trial: Trial) -> set[str]:
    """The fingerprints of the trial keys ``trial``'s allocations were made
    with, as they record them (``sequence.keyed_version``); allocations
    stored before fingerprints were recorded name none. One statement, so
    it sees the allocations committed when it runs, all together."""
    return {sequence.fingerprint_in(version) for version in db.session.scalars(
        select(Allocation.sequence_version).distinct().where(
            Allocation.trial_id == trial.id,
            Allocation.sequence_version.startswith(sequence.KEYED_PREFIX, autoescape=True)))}


def key_change(trial: Trial, key: bytes, used: set[str] | None = None) -> str | None:
    """Why ``key`` cannot continue ``trial``'s permuted-block sequences, or
    None: some of its allocations (``used``: the fingerprints they record,
    read if not given) were made with another key. Regenerated under this
    key their slots would give other arms, and a block begun under one key
    and finished under another keeps no balance. Allocations that record
    no key (stored before keys were fingerprinted) prove nothing either way."""
    current = sequence.key_fingerprint(key)
    used = key_fingerprints_used(trial) if used is None else used
    others = sorted(used - {current})
    if not others:
        return None
    return (f"The trial key has changed since people were randomised in {trial.name}: its "
            f"allocations were made with the key whose fingerprint is {', '.join(others)}, and "
            f"the key configured now (TRIAL_KEY or TRIAL_KEY_FILE) has the fingerprint "
            f"{current}")


def allocations_without_key(trial: Trial) -> int:
    """How many of ``trial``'s permuted-block allocations record no key
    (stored before keys were fingerprinted): nothing shows which key made them."""
    return db.session.scalar(select(func.count()).select_from(Allocation).where(
        Allocation.trial_id == trial.id, Allocation.sequence_version == sequence.VERSION))


def _refused(trial: Trial, referral: Referral, reason: str, message: str, *, actor: User,
             now: datetime, **detail) -> TrialError:
    """A randomisation refused, audited: the event is kept though the
    decision is rolled back, as the page saying so is shown
    (``allocation:refused``)."""
    audit.record(Action.ALLOCATION_REFUSED, actor=actor, now=now,
                 subject_type="trial", subject_id=trial.id, site_id=referral.site_id,
                 detail={"trial": trial.key, "referral_id": referral.id, "reason": reason,
                         **detail})
    return TrialError({None: message})


def _check_key(trial: Trial, referral: Referral, key: bytes | None, *, actor: User,
               now: datetime) -> str:
    """The sequence version this randomisation records, once ``key`` is
    known to be the one the trial's allocations were made with (refused
    otherwise, audited). The first allocation to record a fingerprint is
    made under a lock of the trial's key, and the fingerprints are read
    again under it: two made at once under different keys (two servers
    configured differently) cannot both be the first."""
    if not key:
        raise _refused(trial, referral, "trial_key_missing",
                       "The trial key is not configured (TRIAL_KEY or TRIAL_KEY_FILE), so "
                       "nobody can be randomised", actor=actor, now=now)
    used = key_fingerprints_used(trial)
    if not used:
        lock_for_update(db.session, f"allocation:trial:{trial.id}:key")
        used = key_fingerprints_used(trial)
    if (problem := key_change(trial, key, used)) is not None:
        raise _refused(trial, referral, "trial_key_changed",
                       f"{problem}. Nobody can be randomised until the key they were made with "
                       "is restored: tell the system administrator and the trial statistician",
                       actor=actor, now=now,
                       key_fingerprint=sequence.key_fingerprint(key),
                       allocations_key_fingerprints=sorted(used))
    return sequence.keyed_version(key)


def _arm_for(trial: Trial, referral: Referral, stratum: str, slot: int, key: bytes | None, *,
             actor: User, now: datetime) -> tuple[Arm, str]:
    if trial.method == AllocationMethod.PERMUTED_BLOCKS:
        version = _check_key(trial, referral, key, actor=actor, now=now)
        return sequence.slot(key, trial.key, stratum, slot, trial.design).arm, version
    arm = db.session.scalar(select(AllocationListEntry.arm).where(
        AllocationListEntry.trial_id == trial.id, AllocationListEntry.stratum == stratum,
        AllocationListEntry.slot == slot))
    if arm is None:
        raise _refused(trial, referral, "allocation_list_short",
                       f"The allocation list has no slot {slot} for stratum {stratum}; ask the "
                       "trial statistician for a longer list", actor=actor, now=now,
                       stratum=stratum, slot=slot)
    return Arm(arm), f"list-sha256:{trial.allocation_list_sha256}"


def randomise(trial: Trial, referral: Referral, *, actor: User, now: datetime,
              key: bytes | None) -> Allocation:
    """Give the referral's person the next slot of their stratum.

    Serialised per person and per stratum (advisory locks on PostgreSQL,
    the database write lock on SQLite), so two people never share a slot
    and one person is never allocated twice; unique constraints back both.
    A person already allocated in this trial keeps that allocation.
    A permuted-block allocation records the key's fingerprint, and none is
    made under a key other than the one the trial's allocations were made
    with (``key_change``); a refusal writes nothing but its audit event.
    """
    # Shared: randomisations do not wait for each other, but a change to the
    # trial's design or allocation list waits for this one to commit.
    lock_row(db.session, trial, shared=True)
    if not trial.is_open:
        raise TrialError({None: f"{trial.name} is closed to new allocations"})
    person = referral.person
    lock_for_update(db.session, f"allocation:trial:{trial.id}:person:{person.id}")
    existing = allocation_for(trial.id, person.id)
    if existing is not None:
        return existing
    stratum = stratum_for(trial, referral, person)
    lock_for_update(db.session, f"allocation:trial:{trial.id}:stratum:{stratum}")
    last = db.session.scalar(select(func.max(Allocation.slot)).where(
        Allocation.trial_id == trial.id, Allocation.stratum == stratum))
    slot = (last or 0) + 1
    arm, version = _arm_for(trial, referral, stratum, slot, key, actor=actor, now=now)
    allocation = Allocation(
        trial_id=trial.id, person_id=person.id, referral_id=referral.id,
        site_id=referral.site_id, stratum=stratum, slot=slot, arm=arm, method=trial.method,
        sequence_version=version, allocated_by_id=actor.id if actor else None, allocated_at=now,
    )
    db.session.add(allocation)
    db.session.flush()
    audit.record(
        Action.ALLOCATION_CREATED, actor=actor, now=now, subject_type="allocation",
        subject_id=allocation.id, site_id=allocation.site_id,
        detail={"trial": trial.key, "person_id": person.id, "referral_id": referral.id,
                "stratum": stratum, "slot": slot, "arm": str(arm), "method": str(trial.method),
                "sequence_version": version},
    )
    return allocation


def mark_in_error(trial: Trial, stratum: str | None, slot: int | None, reason: str, *,
                  actor: User, now: datetime, referral: str | None = None) -> AllocationInError:
    """Record that an allocation was made in error; the allocation is unchanged.

    The allocation is named by the reference of a referral of the person's
    (``referral``: the one randomised, or a later one linked to its
    allocation), as their lead reads it on the case record, or by its
    ``stratum`` and ``slot``, as the statistician reads the report. Admins
    do no casework and see no strata: a lead could only tell them a
    referral, which the form did not take.

    Under the allocation's row lock, so of two admins marking it at once the
    second waits for the first and is told it is marked already (it met the
    unique index and answered 500); whether it is marked is read after the
    lock, in a statement of its own, so it sees the first one's record."""
    from casework.triage.models import Triage

    reason = (reason or "").strip()
    problems: dict[str | None, str] = {}
    allocation = None
    field_name = "referral" if (referral or "").strip() else "slot"
    if field_name == "referral":
        referral_id = parse_reference(referral or "")
        if referral_id is None:
            problems["referral"] = "Enter a referral reference like R0001234"
        else:
            linked = select(Triage.allocation_id).where(Triage.referral_id == referral_id)
            allocation = db.session.scalars(select(Allocation).where(
                Allocation.trial_id == trial.id,
                (Allocation.referral_id == referral_id) | Allocation.id.in_(linked))
                .order_by(Allocation.id)).first()
            if allocation is None:
                problems["referral"] = (f"Referral {format_reference(referral_id)} has no "
                                        f"allocation in {trial.name}")
    elif slot is None or not stratum:
        problems["slot"] = "Enter the slot number, or a referral reference"
    else:
        allocation = db.session.scalars(select(Allocation).where(
            Allocation.trial_id == trial.id, Allocation.stratum == stratum,
            Allocation.slot == slot)).first()
        if allocation is None:
            problems["slot"] = f"No allocation has slot {slot} in stratum {stratum}"
    if allocation is not None:
        lock_row(db.session, allocation)
        if db.session.scalar(select(AllocationInError.id).where(
                AllocationInError.allocation_id == allocation.id)) is not None:
            problems[field_name] = "This allocation is already marked as randomised in error"
    if not reason:
        problems["reason"] = "Enter why the allocation was made in error"
    elif len(reason) > MAX_REASON_LENGTH:
        problems["reason"] = f"Reason must be {MAX_REASON_LENGTH} characters or fewer"
    if problems:
        raise TrialError(problems)
    record = AllocationInError(allocation_id=allocation.id, reason=reason,
                               recorded_by_id=actor.id, recorded_at=now)
    db.session.add(record)
    db.session.flush()
    audit.record(
        Action.ALLOCATION_MARKED_IN_ERROR, actor=actor, now=now, subject_type="allocation",
        subject_id=allocation.id, site_id=allocation.site_id,
        detail={"trial": trial.key, "stratum": allocation.stratum, "slot": allocation.slot,
                "referral_id": allocation.referral_id},
    )
    return record


@dataclass(frozen=True)
class StratumCount:
    stratum: str
    treatment: int
    control: int
    in_error: int

    @property
    def total(self) -> int:
        return self.treatment + self.control


@dataclass(frozen=True)
class AllocationSeen:
    """A recent allocation as an evaluator sees it: its stratum and when it
    was made at an extract's least detail (``coventry/under 25``, the
    year), so that the list, which runs in the order an extract's rows do,
    cannot give back the age band or the month an extract generalised. No
    slot: each stratum numbers its own, so the slots of allocations shown
    under one coarsened stratum (1, 3, 2, 1) told which age band each was."""
    when: str
    stratum: str
    arm: Arm
    in_error: bool


@dataclass(frozen=True)
class SiteCount:
    """How many were randomised at a site, without the arms (``for_deciders``)."""
    site: str
    total: int
    in_error: int


@dataclass(frozen=True)
class AllocationReport:
    """``shows_balance``: the report as those who do not randomise see it,
    with the block sizes, each stratum's counts by arm and its imbalance,
    and each recent allocation's stratum and arm; False for those who decide
    triage (``for_deciders``), who see ``sites`` in place of ``strata``. No
    one is shown a recent allocation's slot (see ``AllocationSeen`` and
    ``for_deciders``)."""
    trial: Trial
    strata: list[StratumCount]
    recent: list[Allocation] | list[AllocationSeen]
    shows_balance: bool = True
    sites: list[SiteCount] = field(default_factory=list)

    def for_deciders(self) -> AllocationReport:
        """The report for those whose triage decisions randomise (leads).

        A stratum's counts by arm (its imbalance) with the block sizes tell
        what its next allocation is likely to be, and at the largest
        imbalance a block allows, what it will be; slot numbers tell where
        each block starts. A lead who saw that could hold a decision until
        the arm they wanted came (DESIGN.md "Randomisation": nobody else can
        see what comes next). So they see how many were randomised at each
        of their sites and how many were marked in error, and the recent
        allocations with their site and a link to the person, whose page
        shows the arm; not the arms in the order they came, which early in a
        trial are every allocation of a stratum, nor stratum or slot.
        Whatever the trial's status: a closed trial can be opened again."""
        sites: dict[str, list[int]] = {}
        for row in self.strata:
            counts = sites.setdefault(row.stratum.partition("/")[0], [0, 0])
            counts[0] += row.total
            counts[1] += row.in_error
        return replace(self, strata=[], shows_balance=False, sites=[
            SiteCount(site, total, in_error) for site, (total, in_error) in sorted(sites.items())])

    def for_evaluators(self) -> AllocationReport:
        coarsest = max(privacy.LEVELS)
        return replace(self, recent=[
            AllocationSeen(privacy.period(a.allocated_at, coarsest),
                           privacy.stratum(a.stratum, coarsest), Arm(a.arm),
                           a.in_error is not None) for a in self.recent])

    def imbalance(self, row: StratumCount) -> int:
        """Treatment beyond the configured ratio, in people: t*c_r - c*t_r over
        the smaller ratio part (at 1:1, treatment minus control)."""
        t_r, c_r = self.trial.ratio_treatment, self.trial.ratio_control
        return (row.treatment * c_r - row.control * t_r) // min(t_r, c_r)

    @property
    def totals(self) -> StratumCount:
        return StratumCount("All strata", sum(s.treatment for s in self.strata),
                            sum(s.control for s in self.strata),
                            sum(s.in_error for s in self.strata))


def allocation_report(trial: Trial, *, site_ids: frozenset[int] | None,
                      recent: int = 20) -> AllocationReport:
    """Counts by stratum and arm, and the latest allocations, within
    ``site_ids`` (None: every site). Two queries."""
    counts = (
        select(Allocation.stratum, Allocation.arm, func.count(Allocation.id),
               func.count(AllocationInError.id))
        .outerjoin(AllocationInError, AllocationInError.allocation_id == Allocation.id)
        .where(Allocation.trial_id == trial.id)
        .group_by(Allocation.stratum, Allocation.arm)
    )
    latest = (select(Allocation).where(Allocation.trial_id == trial.id)
              .order_by(Allocation.allocated_at.desc(), Allocation.id.desc()).limit(recent))
    if site_ids is not None:
        counts = counts.where(Allocation.site_id.in_(site_ids))
        latest = latest.where(Allocation.site_id.in_(site_ids))
    by_stratum: dict[str, dict[str, int]] = {}
    for stratum, arm, number, in_error in db.session.execute(counts):
        row = by_stratum.setdefault(stratum, {"treatment": 0, "control": 0, "in_error": 0})
        row[Arm(arm).value] += number
        row["in_error"] += in_error
    rows = [StratumCount(s, v["treatment"], v["control"], v["in_error"])
            for s, v in sorted(by_stratum.items())]
    return AllocationReport(trial, rows, list(db.session.scalars(latest).unique()))
