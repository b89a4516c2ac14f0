"""A form that creates a record is acted on once, however often it is sent.

A double click, a resend after a slow answer, or the duplicates page's
choice sent twice all carry the same key, drawn into the form (a hidden
field) when it was first shown. The first sending claims the key in the
transaction that writes the record, and names the record once written; a
later one, or one sent while the first is still being written (the claim
waits for it on PostgreSQL), finds the claim and is sent to that record
instead of making a second referral, person or contact: in tables the
database makes append-only, a second could never be taken away.

Claims are kept a day: long enough for any resend, short enough that the
table stays small at national scale.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, Integer, String, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from casework.database import UTCDateTime
from casework.extensions import db

KEPT = timedelta(days=1)
_KEY = re.compile(r"[A-Za-z0-9_-]{32}")


class FormSubmission(db.Model):
    __tablename__ = "form_submissions"
    __table_args__ = (Index("ix_form_submissions_created_at", "created_at"),)

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AlreadySubmitted(Exception):
    """This form was sent before: ``earlier`` is the record it made (its
    ``subject_id`` None if the key is someone else's, or another kind of
    form's: nothing of theirs is told)."""

    def __init__(self, earlier: FormSubmission):
        super().__init__("This form was already sent")
        self.earlier = earlier


def new_key() -> str:
    """A key for a form being drawn (a hidden field's default)."""
    return secrets.token_urlsafe(24)


def valid(key: str | None) -> str | None:
    """``key`` if it is one new_key makes; anything else is no key (the
    form is then acted on as it is, as a client without the field is)."""
    return key if key and _KEY.fullmatch(key) else None


def check_earlier(key: str | None, kind: str, *, actor) -> None:
    """Raise AlreadySubmitted if ``key`` was claimed and its record is
    written (committed). Before anything else is checked: a resent referral
    would otherwise meet its own person as a possible duplicate."""
    key = valid(key)
    if key is None:
        return
    earlier = db.session.get(FormSubmission, key)
    if earlier is not None:
        raise AlreadySubmitted(_as_seen_by(earlier, kind, actor))


def claim(key: str | None, kind: str, *, actor, now: datetime) -> None:
    """Claim ``key`` for the ``kind`` of record ("referral", "note") about to
    be written in this transaction, or raise AlreadySubmitted. A claim made
    by a transaction still running is waited for on PostgreSQL (SQLite's
    writers already take turns)."""
    key = valid(key)
    if key is None:
        return
    db.session.execute(delete(FormSubmission).where(FormSubmission.created_at < now - KEPT))
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    claimed = db.session.execute(
        insert(FormSubmission).values(key=key, user_id=actor.id, subject_type=kind,
                                      created_at=now)
        .on_conflict_do_nothing(index_elements=["key"]).returning(FormSubmission.key)
    ).scalar()
    if claimed is None:
        earlier = db.session.scalars(select(FormSubmission).where(FormSubmission.key == key)
                                     .execution_options(populate_existing=True)).one()
        raise AlreadySubmitted(_as_seen_by(earlier, kind, actor))


def settle(key: str | None, subject_id: int) -> None:
    """Name the record the claim of ``key`` made."""
    key = valid(key)
    if key is not None:
        db.session.execute(FormSubmission.__table__.update()
                           .where(FormSubmission.key == key).values(subject_id=subject_id))


def _as_seen_by(earlier: FormSubmission, kind: str, actor) -> FormSubmission:
    """``earlier`` as the one who sent the form again may see it: nothing of
    it if the key is someone else's, or was claimed by another kind of form
    (a key copied between forms by hand)."""
    if earlier.user_id != actor.id or earlier.subject_type != kind:
        return FormSubmission(key=earlier.key)
    return earlier
