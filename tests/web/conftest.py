"""A small world for the security tests: one of every kind of record at a
site the signed-in users work at (Coventry) and one at a site they do not
(Wolverhampton), plus the records that belong to no site."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, literal, select, text, union_all

from casework.extensions import db

INSIDE, OUTSIDE = "coventry", "wolverhampton"
ROLES = ("caseworker", "lead", "evaluator", "admin")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class SiteRecords:
    person: int
    referral: int  # a referral waiting for triage facts
    triage: int  # a triage waiting for the lead's decision
    note: int
    proposal: int
    assessment: int
    diversion_case: int
    names: tuple[str, ...]  # the surnames of everyone the records are about


@dataclass
class World:
    users: dict[str, object]  # role -> the signed-in user, working at Coventry
    sites: dict[str, SiteRecords]  # "inside" / "outside"
    user: int  # a user for the administration pages to act on
    site: int  # a site for them to act on
    trial: int
    offence: str
    outcome_code: int

    def ids(self, scope: str) -> dict[str, object]:
        records = self.sites[scope]
        ids = {k: v for k, v in vars(records).items() if k != "names"}
        return {**ids, "user": self.user, "site": self.site, "trial": self.trial,
                "offence": self.offence, "outcome_code": self.outcome_code}


def _site_records(site, lead_user, worker, author, randomised, make_referral, triage_referral):
    from flask import current_app

    from casework.diversion import services as diversion
    from casework.notes import services as notes
    from casework.pathways import services as pathways

    treated = randomised("treatment", site)
    note = notes.add_note(treated, "case_note", notes.NoteContent("A note about the week"),
                          restricted=False, actor=author, now=NOW)
    pathways.move(treated, pathways.MoveRequest("engaged", date(2026, 6, 10)),
                  actor=worker, now=NOW)
    proposal = pathways.move(
        treated, pathways.MoveRequest("disruption", date(2026, 7, 1),
                                      rationale="Arrested twice and refuses contact"),
        actor=worker, now=NOW)
    waiting = make_referral(site)
    triage = triage_referral(make_referral(site))
    child = make_referral(site, dob=date(2011, 3, 1)).person
    settings = diversion.Settings.from_config(current_app.config)
    assessment = diversion.assess_data(child, "checkpoint", {
        "date_of_birth": child.date_of_birth.isoformat(), "offence_date": "2026-11-10",
        "offence": "bladed_article_s139", "aggravating_factors": [], "previous_outcomes": [],
        "admits_offence": True, "sufficient_evidence": True,
    }, actor=worker, now=NOW, settings=settings)
    diversion.decide(assessment, "eligible", None, actor=lead_user, now=NOW)
    case = diversion.offer(assessment, actor=worker, now=NOW)
    db.session.commit()
    names = tuple(p.last_name for p in (treated, waiting.person, triage.referral.person, child))
    return SiteRecords(person=treated.id, referral=waiting.id, triage=triage.id, note=note.id,
                       proposal=proposal.id, assessment=assessment.id,
                       diversion_case=case.id, names=names)


@pytest.fixture
def world(app, make_user, randomised, make_referral, triage_referral) -> World:
    from casework.accounts.models import Site, User
    from casework.trial.models import Trial

    users = {role: make_user(role, (INSIDE,) if role in ("caseworker", "lead") else (),
                             email=f"{role}@world.example") for role in ROLES}
    worker = make_user("caseworker", (INSIDE, OUTSIDE), email="world-worker@world.example")
    deciding = make_user("lead", (INSIDE, OUTSIDE), email="world-lead@world.example")
    sites = {
        scope: _site_records(site, deciding, worker, author, randomised, make_referral,
                             triage_referral)
        for scope, site, author in (("inside", INSIDE, users["caseworker"]),
                                    ("outside", OUTSIDE, worker))
    }
    target = make_user("caseworker", (INSIDE,), email="target@world.example")
    trial = db.session.scalars(select(Trial.id)).one()
    db.session.commit()
    assert db.session.get(User, target.id) is not None
    site = db.session.scalars(select(Site.id).where(Site.key == INSIDE)).one()
    return World(users=users, sites=sites, user=target.id, site=site, trial=trial,
                 offence="bladed_article_s139", outcome_code=22)


def table_names() -> list[str]:
    return sorted(t.name for t in db.metadata.sorted_tables)


def fingerprint(*, exclude: frozenset[str] = frozenset({"audit_events"})) -> dict[str, str]:
    """A digest of every row of every table (but ``exclude``): equal
    fingerprints mean nothing was written, changed or deleted."""
    digests = {}
    for table in db.metadata.sorted_tables:
        if table.name in exclude:
            continue
        rows = db.session.execute(select(table)).all()
        digest = hashlib.sha256()
        for row in sorted(repr(tuple(row)) for row in rows):
            digest.update(row.encode())
        digests[table.name] = digest.hexdigest()
    db.session.commit()
    return digests


def row_counts() -> tuple:
    """How many rows each table holds, in one query: a cheap check, between
    full fingerprints, that a request inserted or deleted nothing."""
    query = union_all(*(
        select(literal(t.name), func.count()).select_from(t)
        for t in db.metadata.sorted_tables if t.name != "audit_events"))
    counts = tuple(sorted(db.session.execute(query).all()))
    db.session.commit()
    return counts


def audit_since(last_id: int) -> list[str]:
    rows = db.session.execute(
        text("SELECT action FROM audit_events WHERE id > :id ORDER BY id"), {"id": last_id}
    ).scalars().all()
    db.session.commit()
    return list(rows)


def last_audit_id() -> int:
    value = db.session.execute(text("SELECT COALESCE(MAX(id), 0) FROM audit_events")).scalar()
    db.session.commit()
    return int(value)
