"""Notes and their revisions. Nothing is ever deleted: a correction is a new
revision with a reason, and every revision is kept."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.accounts.models import User
from casework.database import UTCDateTime, append_only, str_enum, utcnow
from casework.extensions import db
from casework.intake.models import Person
from casework.notes.reference import NoteKind


class Note(db.Model):
    """A note on a person's case. Its current text and contact details are
    copied from its latest revision, for lists, search and overdue checks."""

    __tablename__ = "notes"
    __table_args__ = (
        # a person's notes in order, with what their record's timeline reads
        # of each (its date, and whether the reader may see it), so the
        # timeline is read from the index alone, not from every note's row
        # (and its id, which SQLite's indexes hold already)
        Index("ix_notes_person_timeline", "person_id", "created_at", "contact_date",
              "restricted", "author_id", postgresql_include=["id"]),
        # last attended contact per person, for overdue contacts
        Index("ix_notes_person_id_kind_contact_date", "person_id", "kind", "attended",
              "contact_date"),
        Index("ix_notes_site_id_created_at", "site_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[NoteKind] = mapped_column(str_enum(NoteKind, "note_kind"))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the current revision's content
    body: Mapped[str] = mapped_column(Text)
    contact_date: Mapped[date | None] = mapped_column(Date)
    contact_type: Mapped[str | None] = mapped_column(String(20))
    attended: Mapped[bool | None] = mapped_column(Boolean)
    revision_count: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    protocol_deviation_id: Mapped[int | None] = mapped_column(
        ForeignKey("protocol_deviations.id"))

    person: Mapped[Person] = relationship()
    author: Mapped[User] = relationship(lazy="joined")
    revisions: Mapped[list[NoteRevision]] = relationship(
        back_populates="note", order_by="NoteRevision.number")

    @property
    def is_amended(self) -> bool:
        return self.revision_count > 1


@append_only
class NoteRevision(db.Model):
    """One version of a note: the first as written, then each amendment
    with its reason. Append-only (PostgreSQL triggers refuse changes)."""

    __tablename__ = "note_revisions"
    __table_args__ = (UniqueConstraint("note_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id"))
    number: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    contact_date: Mapped[date | None] = mapped_column(Date)
    contact_type: Mapped[str | None] = mapped_column(String(20))
    attended: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)  # why it was amended; None for the first
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    note: Mapped[Note] = relationship(back_populates="revisions")
    author: Mapped[User] = relationship(lazy="joined")
