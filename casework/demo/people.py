"""Synthetic people and referrals for demonstrations and benchmarks.

Faker (en_GB) supplies names and postcodes; a seeded ``random.Random``
supplies everything else, so the same seed always gives the same data on
the same day. Dates run back from the day the seed runs (``anchor_day``,
today in England): a history that ended on a fixed day went on ageing, so
the demo's queues, dashboards and the gaps between a referral and its
triage grew every day it was shown (found by review).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from faker import Faker
from sqlalchemy import func, insert, select, update

from casework.accounts.models import Site, User
from casework.accounts.roles import Role
from casework.database import next_id, reset_id_sequences
from casework.dates import local_date
from casework.extensions import db
from casework.intake import matching, validation
from casework.intake.models import Person, Referral
from casework.intake.reference import CLOSE_REASONS, ETHNICITIES, RISK_INDICATORS, SOURCES

BATCH = 5000
# How far back the synthetic history runs from the anchor day.
HISTORY_DAYS = 730

SITE_WEIGHTS = {"birmingham": 35, "coventry": 15, "wolverhampton": 12, "sandwell": 10,
                "walsall": 10, "dudley": 9, "solihull": 9}
SOURCE_WEIGHTS = {"police": 30, "custody_navigator": 15, "hospital_navigator": 10, "school": 12,
                  "youth_offending_service": 12, "childrens_social_care": 8, "probation": 5,
                  "community_or_self": 5, "other": 3}
GENDER_WEIGHTS = {"male": 82, "female": 16, "non_binary": 1, "not_known": 1}
ETHNICITY_WEIGHTS = {
    "white_british": 38, "black_caribbean": 10, "black_african": 8, "black_other": 3,
    "asian_pakistani": 12, "asian_indian": 4, "asian_bangladeshi": 3, "asian_other": 2,
    "asian_chinese": 1, "mixed_white_black_caribbean": 8, "mixed_white_black_african": 2,
    "mixed_white_asian": 1, "mixed_other": 2, "white_other": 2, "white_irish": 1,
    "white_gypsy_traveller": 1, "white_roma": 1, "other_arab": 1, "other_any": 1, "not_stated": 3,
}
assert set(ETHNICITY_WEIGHTS) == set(ETHNICITIES)
assert set(SOURCE_WEIGHTS) == set(SOURCES)
# Triage states come from demo/trial.py, through the services.
STATUS_WEIGHTS = {"received": 75, "closed": 25}
# The seed's closed referrals were never triaged, so none was closed as
# "Triage complete, no further action" (found by review).
UNTRIAGED_CLOSE_REASONS = tuple(reason for reason in CLOSE_REASONS
                                if reason != "triage_complete")
REASONS = (
    "Arrested after a fight involving several young people near the town centre.",
    "Attended A&E with a stab wound; associates known to police.",
    "School reports carrying a knife and links to an older peer group.",
    "Intelligence suggests involvement in county lines drug supply.",
    "Victim of a robbery by a group; family worried about retaliation.",
    "Repeated missing episodes and found in another city with older males.",
)


def anchor_day(now: datetime) -> date:
    """The last day of the seed's history: the day it runs, in England."""
    return local_date(now)


def history_start(now: datetime) -> datetime:
    """Before the first day of the seed's history: when the demo trial
    opened and the users who act in the history were made."""
    return datetime.combine(anchor_day(now) - timedelta(days=HISTORY_DAYS + 1), time(8), UTC)


def working_moment(rng: random.Random, day: date) -> datetime:
    """A working-hours moment on ``day``, to the second, in UTC."""
    return datetime.combine(day, time(8), UTC) + timedelta(seconds=rng.randrange(11 * 3600))


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _age(rng: random.Random) -> int:
    """Mostly 14 to 24, with a long tail (the oldest CIRV participant was 62)."""
    roll = rng.random()
    if roll < 0.04:
        return rng.randint(10, 13)
    if roll < 0.88:
        return rng.randint(14, 24)
    if roll < 0.97:
        return rng.randint(25, 35)
    return rng.randint(36, 62)


def _postcode(fake: Faker) -> str | None:
    try:
        return validation.normalise_postcode(fake.postcode())
    except ValueError:
        return None


def _near_duplicate(rng: random.Random, original: dict) -> dict:
    """The same person as typed again by someone else: a nickname, a swapped
    date of birth or a surname spelt differently."""
    copy = dict(original)
    change = rng.choice(("nickname", "swap", "typo"))
    if change == "nickname":
        reverse = {c: n for n, c in matching.NICKNAMES.items()}
        nickname = reverse.get(matching.first_name_key(copy["first_name"]))
        copy["first_name"] = nickname.capitalize() if nickname else copy["first_name"]
    elif change == "swap" and copy["date_of_birth"] and copy["date_of_birth"].day <= 12:
        copy["date_of_birth"] = matching.swapped(copy["date_of_birth"]) or copy["date_of_birth"]
    else:
        last = copy["last_name"]
        i = rng.randrange(1, max(2, len(last) - 1))
        copy["last_name"] = last[:i] + last[i + 1:i + 2] + last[i:i + 1] + last[i + 2:]
    copy["first_name_key"] = matching.first_name_key(copy["first_name"])
    copy["last_name_key"] = matching.last_name_key(copy["last_name"])
    copy["pnc_reference"] = None
    return copy


def seed_people(count: int, seed: int, *, now: datetime) -> tuple[int, int, list[int]]:
    """Insert ``count`` synthetic people with their referrals, in batches.

    About one person in fifty is a deliberate near-duplicate of another.
    Returns (people, referrals, the new people's ids) inserted.
    """
    rng = random.Random(seed)  # noqa: S311 (synthetic data, reproducible by seed)
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    anchor = anchor_day(now)
    sites = {site.key: site.id for site in db.session.scalars(select(Site))}
    site_weights = {key: w for key, w in SITE_WEIGHTS.items() if key in sites}
    people_done = referrals_done = 0
    person_ids: list[int] = []
    recent: list[dict] = []

    while people_done < count:
        batch_size = min(BATCH, count - people_done)
        people, referral_plans = [], []
        for _ in range(batch_size):
            site_key = _weighted(rng, site_weights)
            referral_date = anchor - timedelta(days=rng.randint(0, HISTORY_DAYS))
            age = _age(rng)
            dob = referral_date - timedelta(days=365 * age + rng.randint(1, 360))
            if recent and rng.random() < 0.02:
                row = _near_duplicate(rng, rng.choice(recent))
            else:
                gender = _weighted(rng, GENDER_WEIGHTS)
                first = fake.first_name_female() if gender == "female" else fake.first_name_male()
                last = fake.last_name()
                row = {
                    "site_id": sites[site_key], "first_name": first, "last_name": last,
                    "other_names": None,
                    "first_name_key": matching.first_name_key(first),
                    "last_name_key": matching.last_name_key(last),
                    "date_of_birth": dob if rng.random() > 0.03 else None,
                    "gender": gender, "ethnicity": _weighted(rng, ETHNICITY_WEIGHTS),
                    "postcode": _postcode(fake), "local_authority": site_key,
                    "pnc_reference": (f"{rng.randint(0, 26):02d}/{rng.randint(1, 999999)}"
                                      f"{rng.choice('ABCDEFGHJKLMNPQRTUVWXYZ')}"
                                      if rng.random() < 0.4 else None),
                    "created_at": now, "created_by_id": None,
                }
                recent = [*recent, row][-200:]
            people.append(row)
            # a second referral four months later, if that has come yet (they
            # were all put on the last day, a crowd referred "today")
            again = rng.random() < 0.1 and referral_date + timedelta(days=120) <= anchor
            referral_plans.append((referral_date, 2 if again else 1))
        # Ids chosen here (the seed runs in one transaction) rather than
        # returned by the insert: RETURNING in bulk is far slower at scale.
        first_id = next_id(db.session, Person.__table__)
        ids = list(range(first_id, first_id + len(people)))
        for person_id, row in zip(ids, people, strict=True):
            row["id"] = person_id
        db.session.connection().execute(insert(Person.__table__), people)
        person_ids.extend(ids)
        referrals = []
        for person_id, person, (first_date, how_many) in zip(
                ids, people, referral_plans, strict=True):
            for n in range(how_many):
                referral_date = first_date + timedelta(days=120 * n)
                status = "closed" if n < how_many - 1 else _weighted(rng, STATUS_WEIGHTS)
                # closed weeks after it came in (before the next one), never
                # later than now
                closed_at = (min(now, working_moment(rng, referral_date)
                                 + timedelta(days=rng.randint(7, 60)))
                             if status == "closed" else None)
                referrals.append({
                    "person_id": person_id, "site_id": person["site_id"],
                    "referral_date": referral_date,
                    "source": _weighted(rng, SOURCE_WEIGHTS),
                    "referrer_name": fake.name(),
                    "referrer_organisation": None,
                    "reason": rng.choice(REASONS),
                    "risk_indicators": sorted(rng.sample(list(RISK_INDICATORS),
                                                         rng.randint(0, 3))),
                    "status": status,
                    "closed_reason": rng.choice(UNTRIAGED_CLOSE_REASONS)
                    if status == "closed" else None,
                    "closed_at": closed_at,
                    "created_at": now, "created_by_id": None,
                })
        db.session.connection().execute(insert(Referral.__table__), referrals)
        people_done += len(people)
        referrals_done += len(referrals)
    reset_id_sequences(db.session, "people")
    db.session.flush()
    return people_done, referrals_done, person_ids


# A caseworker's share of a site's people: their open cases (about three in
# four of the synthetic people have one) and those they held before.
PEOPLE_PER_CASEWORKER = 50


def share_out(worker: User, seed: int, *, now: datetime, joined: datetime | None = None) -> int:
    """Give each site's unassigned people to caseworkers of that site, at most
    PEOPLE_PER_CASEWORKER each, in order of id, with the assignment history
    rows: ``worker`` (the demo caseworker) takes the first at their first
    site, and synthetic caseworkers, whom nobody can sign in as, the rest. A
    national service has thousands of caseworkers with dozens of cases each,
    not one with a whole site's. The caseworkers added are made at ``joined``
    (before the history in which they write), the assignments at ``now``.
    Returns the number of caseworkers added."""
    from casework.accounts import services as accounts
    from casework.caseload.models import CaseAssignment

    fake = Faker("en_GB")
    fake.seed_instance(seed + 1)
    home = min(worker.site_ids) if worker.site_ids else None
    added = 0
    for site in db.session.scalars(select(Site).order_by(Site.id)).all():
        ids = list(db.session.scalars(select(Person.id).where(
            Person.site_id == site.id, Person.caseworker_id.is_(None)).order_by(Person.id)))
        shares = [ids[n:n + PEOPLE_PER_CASEWORKER]
                  for n in range(0, len(ids), PEOPLE_PER_CASEWORKER)]
        workers = [worker] if site.id == home and shares else []
        wanted = [(f"caseworker-{site.key}-{n:04d}@casework.example",
                   f"{fake.first_name()} {fake.last_name()}")
                  for n in range(1, len(shares) - len(workers) + 1)]
        # those an earlier seed added stay (and take their share again)
        existing = {user.email: user for user in db.session.scalars(
            select(User).where(User.email.in_([email for email, _ in wanted])))}
        new = [(email, name) for email, name in wanted if email not in existing]
        created = iter(accounts.create_locked_users(new, role=Role.CASEWORKER, sites=[site],
                                                    now=joined or now) if new else [])
        workers += [existing.get(email) or next(created) for email, _ in wanted]
        added += len(new)
        rows = []
        for holder, share in zip(workers, shares, strict=True):
            db.session.execute(update(Person).where(Person.id.in_(share))
                               .values(caseworker_id=holder.id))
            rows += [{"person_id": i, "from_user_id": None, "to_user_id": holder.id,
                      "reason": "Demo data", "assigned_by_id": None, "assigned_at": now}
                     for i in share]
        if rows:
            db.session.execute(insert(CaseAssignment), rows)
    return added


def people_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Person))


def site_leads(lead: User, seed: int, *, now: datetime) -> tuple[dict[int, User], int]:
    """A lead for each site, to write the seed's lead notes there: ``lead``
    (the demo lead) at the sites they hold, and at every other site a
    synthetic lead (``lead-<site>@casework.example``, whom nobody can sign
    in as) holding that site only. The demo lead wrote notes at every site,
    which the audit log showed as a lead working at sites they do not hold
    (found by review). Returns ({site id: lead}, leads added)."""
    from casework.accounts import services as accounts

    fake = Faker("en_GB")
    fake.seed_instance(seed + 2)
    leads: dict[int, User] = {}
    added = 0
    for site in db.session.scalars(select(Site).order_by(Site.id)).all():
        name = f"{fake.first_name()} {fake.last_name()}"
        if site.id in lead.site_ids:
            leads[site.id] = lead
            continue
        email = f"lead-{site.key}@casework.example"
        existing = db.session.scalars(select(User).where(User.email == email)).first()
        if existing is None:
            [existing] = accounts.create_locked_users([(email, name)], role=Role.LEAD,
                                                      sites=[site], now=now)
            added += 1
        leads[site.id] = existing
    return leads, added
