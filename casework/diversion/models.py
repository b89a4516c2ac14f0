"""The offence catalogue, outcome codes, eligibility assessments and
diversion cases."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.accounts.models import User
from casework.database import UTCDateTime, str_enum, utcnow
from casework.diversion.states import CaseStatus
from casework.extensions import db
from casework.intake.models import Person


class Offence(db.Model):
    """An entry of the offence catalogue (reference data, editable by admins)."""

    __tablename__ = "offences"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    legislation: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    gravity: Mapped[int] = mapped_column(Integer)
    outcome22_permitted: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutcomeCode(db.Model):
    """A Home Office crime outcome code, 1 to 23."""

    __tablename__ = "outcome_codes"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(200))


class Assessment(db.Model):
    """A Checkpoint or Outcome 22 eligibility assessment: the facts as they
    were given, the rule-set version, the result and a reason per criterion,
    and the lead's decision."""

    __tablename__ = "assessments"
    __table_args__ = (
        Index("ix_assessments_person_id_assessed_at", "person_id", "assessed_at"),
        Index("ix_assessments_site_id_decided_at", "site_id", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    scheme: Mapped[str] = mapped_column(String(20))
    offence_key: Mapped[str] = mapped_column(String(60))
    offence_date: Mapped[date] = mapped_column(Date)
    facts: Mapped[dict] = mapped_column(JSON)
    ruleset_version: Mapped[str] = mapped_column(String(40))
    result: Mapped[str] = mapped_column(String(20))
    criteria: Mapped[list[dict]] = mapped_column(JSON)
    assessed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(20))
    decision_rationale: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship()
    assessed_by: Mapped[User] = relationship(foreign_keys=[assessed_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    case: Mapped[DiversionCase | None] = relationship(back_populates="assessment")


class DiversionCase(db.Model):
    """A diversion from prosecution: offered, active until its due date,
    then completed (with the closing outcome code), failed (re-referred to
    police) or withdrawn."""

    __tablename__ = "diversion_cases"
    __table_args__ = (
        Index("ix_diversion_cases_site_id_status_due_date", "site_id", "status", "due_date"),
        Index("ix_diversion_cases_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    scheme: Mapped[str] = mapped_column(String(20))
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus, "diversion_status"),
                                               default=CaseStatus.OFFERED)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    offered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_on: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    outcome_code: Mapped[int | None] = mapped_column(ForeignKey("outcome_codes.code"))
    end_reason: Mapped[str | None] = mapped_column(Text)
    # the criminal justice outcome after a failed case, recorded when known
    later_outcome_code: Mapped[int | None] = mapped_column(ForeignKey("outcome_codes.code"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    assessment: Mapped[Assessment] = relationship(back_populates="case")
    person: Mapped[Person] = relationship()
