"""The C5 exclusions: reference data admins keep (DESIGN.md "C5 no
exclusion applies (configured list)"), as they keep the offence catalogue.

An admin adds one (its key made from its title), retitles one, or stops
(and restarts) offering one at triage. Keys are what triages store, so a
key never changes and no exclusion is deleted: one no longer offered still
counts, under its title, on the triages that recorded it. Every change is
audited with the key and what changed. Services flush, never commit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from casework import submissions
from casework.accounts.models import User
from casework.accounts.services import unseen_characters_problem
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import check_unchanged, lock_for_update, lock_row, row_version
from casework.extensions import db
from casework.triage.models import Exclusion

KEY_LENGTH = 60  # exclusions.key
TITLE_LENGTH = 200  # exclusions.title
# Words the admin pages' paths use: no key may be one (/admin/exclusions/new
# is the form that adds one, not an exclusion's page).
RESERVED_KEYS = frozenset({"new"})


class ExclusionError(Exception):
    """An exclusion change whose meaning is wrong; ``problems`` maps fields to messages."""

    def __init__(self, problems: dict[str | None, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


def all_exclusions() -> list[Exclusion]:
    """Every exclusion, offered or not, in the order they were added (the
    order triage offers them)."""
    return list(db.session.scalars(select(Exclusion).order_by(Exclusion.id)))


def offered() -> list[Exclusion]:
    """The exclusions offered at triage now, in order."""
    return list(db.session.scalars(select(Exclusion).where(Exclusion.offered.is_(True))
                                   .order_by(Exclusion.id)))


def by_key(key: str) -> Exclusion | None:
    return db.session.scalars(select(Exclusion).where(Exclusion.key == key)).one_or_none()


def titles(keys=None) -> dict[str, str]:
    """The titles of exclusions by key, in order: of ``keys`` only (no
    query when there are none: most triages record no exclusion), or of
    every one. A key the table does not hold has no title."""
    if keys is not None:
        keys = list(keys)
        if not keys:
            return {}
    stmt = select(Exclusion.key, Exclusion.title).order_by(Exclusion.id)
    if keys is not None:
        stmt = stmt.where(Exclusion.key.in_(keys))
    return dict(db.session.execute(stmt).all())


def named(keys) -> list[str]:
    """``keys`` (a triage's exclusions) by their titles, in their order; a
    key the table does not hold reads as itself."""
    known = titles(keys)
    return [known.get(key, key) for key in keys]


def choices_for(recorded=()) -> list[tuple[str, str]]:
    """What the triage form offers: the exclusions offered now and, for
    facts being changed, those the triage recorded that no longer are (so
    they are shown ticked, to keep or take away, not dropped unseen)."""
    recorded = set(recorded)
    return [(e.key, e.title) for e in all_exclusions() if e.offered or e.key in recorded]


def _snapshot(exclusion: Exclusion) -> dict:
    return {"title": exclusion.title, "offered": exclusion.offered}


def exclusion_version(exclusion: Exclusion) -> str:
    """The version of an exclusion its edit form is drawn from."""
    return row_version(_snapshot(exclusion))


def key_for(title: str, taken) -> str:
    """A key made from ``title``: its letters and digits, lower case, words
    joined by underscores ("MAPPA level 1" → "mappa_level_1"), starting
    with a letter, at most KEY_LENGTH characters, and none of ``taken`` (nor
    a reserved word): "_2", "_3"… is added until it is free."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_title.lower()).strip("_")
    if not base[:1].isalpha():
        base = f"exclusion_{base}".rstrip("_")
    base = base[:KEY_LENGTH].rstrip("_")
    taken = set(taken) | RESERVED_KEYS
    key, n = base, 1
    while key in taken:
        n += 1
        suffix = f"_{n}"
        key = base[:KEY_LENGTH - len(suffix)].rstrip("_") + suffix
    return key


def _title_problem(title: str, exclusion: Exclusion | None) -> str | None:
    if not title:
        return "Enter the exclusion's title"
    if len(title) > TITLE_LENGTH:
        return f"The title must be {TITLE_LENGTH} characters or fewer"
    if problem := unseen_characters_problem(title, "title"):
        return problem
    # C5 names each exclusion once whatever its case: two of one title
    # would read as one. Compared folded here, not by the database's lower(),
    # which on SQLite folds ASCII letters only ("Élève" and "élève" were both
    # taken; found by review); the table holds a few dozen titles.
    others = select(Exclusion.title)
    if exclusion is not None:
        others = others.where(Exclusion.id != exclusion.id)
    folded = _folded(title)
    if any(_folded(other) == folded for other in db.session.scalars(others)):
        return "An exclusion with this title already exists"
    return None


def _folded(title: str) -> str:
    """``title`` as compared for a clash: case folded, and composed, so an
    accent typed as a letter of its own or as a combining mark is one."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", title).casefold())


def add_exclusion(title: str, *, actor: User, now: datetime,
                  submission: str | None = None) -> Exclusion:
    """An admin adds an exclusion, offered at triage from now on; its key
    is made from its title (``key_for``) and never changes. Audited
    (exclusion:created) with its key, title and that it is offered. The form
    sent again (its ``submission`` key claimed: a double click) raises
    submissions.AlreadySubmitted, where it would find its own title taken."""
    title = " ".join((title or "").split())
    # one admin at a time adds or retitles, so two cannot both find a key
    # or title free and then collide
    lock_for_update(db.session, "exclusions")
    submissions.claim(submission, "exclusion", actor=actor, now=now)
    problem = _title_problem(title, None)
    if problem:
        raise ExclusionError({"title": problem})
    key = key_for(title, db.session.scalars(select(Exclusion.key)))
    exclusion = Exclusion(key=key, title=title, offered=True, created_at=now, updated_at=now)
    db.session.add(exclusion)
    db.session.flush()
    submissions.settle(submission, exclusion.id)
    audit.record(Action.EXCLUSION_CREATED, actor=actor, now=now, subject_type="exclusion",
                 subject_id=exclusion.id,
                 detail={"key": key, **audit.changes({}, _snapshot(exclusion))})
    return exclusion


@dataclass
class ExclusionChange:
    title: str
    offered: bool


def update_exclusion(exclusion: Exclusion, change: ExclusionChange, *, actor: User,
                     now: datetime, based_on: str | None = None) -> Exclusion:
    """An admin retitles an exclusion, or stops or restarts offering it at
    triage; its key stays. Audited (exclusion:updated) with its key and
    before and after of what changed. Refused (ChangedMeanwhile) if it is
    no longer the version ``based_on`` the form was drawn from."""
    title = " ".join((change.title or "").split())
    typed = {"title": title, "offered": bool(change.offered)}
    lock_for_update(db.session, "exclusions")
    lock_row(db.session, exclusion)
    problem = _title_problem(title, exclusion)
    if problem:
        raise ExclusionError({"title": problem})
    before = _snapshot(exclusion)
    check_unchanged(based_on, before, typed)
    diff = audit.changes(before, typed)
    if diff:
        exclusion.title, exclusion.offered = typed["title"], typed["offered"]
        exclusion.updated_at = now
        db.session.flush()
        audit.record(Action.EXCLUSION_UPDATED, actor=actor, now=now, subject_type="exclusion",
                     subject_id=exclusion.id, detail={"key": exclusion.key, **diff})
    return exclusion
