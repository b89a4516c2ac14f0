"""Who holds each case, how it changed hands, and periodic case reviews."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.accounts.models import User
from casework.database import UTCDateTime, utcnow
from casework.extensions import db
from casework.intake.models import Person


class CaseAssignment(db.Model):
    """One handover of a person's case (the current holder is on people.caseworker_id)."""

    __tablename__ = "case_assignments"
    __table_args__ = (Index("ix_case_assignments_person_id_assigned_at", "person_id",
                            "assigned_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    to_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


REVIEW_OUTCOMES: dict[str, str] = {
    "continue": "Continue as planned",
    "increase": "Increase support or contact",
    "reduce": "Reduce support or contact",
    "escalate": "Escalate (safeguarding, risk or partner agencies)",
    "close": "Prepare to close the case",
}


class CaseReview(db.Model):
    """A lead's periodic review of a case: when, the outcome, when next."""

    __tablename__ = "case_reviews"
    __table_args__ = (
        Index("ix_case_reviews_person_id_reviewed_on", "person_id", "reviewed_on"),
        Index("ix_case_reviews_site_id_next_review_on", "site_id", "next_review_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    reviewed_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(20))
    next_review_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship()
    reviewed_by: Mapped[User] = relationship(lazy="joined")
