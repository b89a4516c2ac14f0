"""Pathway episodes, proposals awaiting a lead, and protocol deviations."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.accounts.models import User
from casework.database import UTCDateTime, append_only, str_enum, utcnow
from casework.extensions import db
from casework.intake.models import Person
from casework.pathways.states import Pathway
from casework.trial.models import Allocation


class PathwayEpisode(db.Model):
    """A spell on one pathway: from ``effective_date`` until ``end_date`` (the
    next episode's effective date), or open if ``end_date`` is null.

    Episodes never overlap: each change closes the open one, and a partial
    unique index allows one open episode per person.
    """

    __tablename__ = "pathway_episodes"
    __table_args__ = (
        Index("uq_pathway_episodes_open_person", "person_id", unique=True,
              sqlite_where=text("end_date IS NULL"), postgresql_where=text("end_date IS NULL")),
        Index("ix_pathway_episodes_site_id_end_date", "site_id", "end_date", "pathway"),
        Index("ix_pathway_episodes_person_id_effective_date", "person_id", "effective_date"),
        Index("ix_pathway_episodes_effective_date", "effective_date"),
        # an allocation's episodes (the caseload figures join them to allocations)
        Index("ix_pathway_episodes_allocation_id", "allocation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    pathway: Mapped[Pathway] = mapped_column(str_enum(Pathway, "pathway"))
    previous_pathway: Mapped[Pathway | None] = mapped_column(str_enum(Pathway, "previous_pathway"))
    effective_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(100))
    exit_reason: Mapped[str | None] = mapped_column(String(20))
    rationale: Mapped[str | None] = mapped_column(Text)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship()
    allocation: Mapped[Allocation] = relationship()
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])


class ProposalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    # the person moved (a move the caseworker records: an exit, accepted
    # support) before a lead decided it: ended by that move, decided by no one
    LAPSED = "lapsed"


class PathwayProposal(db.Model):
    """A move that needs a lead's approval (entering disruption). It waits
    (pending) until a lead approves or rejects it, or the person is moved
    otherwise first, which ends it as lapsed (migration 0025)."""

    __tablename__ = "pathway_proposals"
    __table_args__ = (
        Index("ix_pathway_proposals_site_id_status", "site_id", "status", "proposed_at"),
        Index("uq_pathway_proposals_pending_person", "person_id", unique=True,
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        # a person's proposals, the latest first: their record shows how the
        # last one was decided, and every decision (migration 0021)
        Index("ix_pathway_proposals_person_id_proposed_at", "person_id", "proposed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    from_pathway: Mapped[Pathway] = mapped_column(str_enum(Pathway, "from_pathway"))
    to_pathway: Mapped[Pathway] = mapped_column(str_enum(Pathway, "to_pathway"))
    effective_date: Mapped[date] = mapped_column(Date)
    rationale: Mapped[str] = mapped_column(Text)
    status: Mapped[ProposalStatus] = mapped_column(str_enum(ProposalStatus, "proposal_status"),
                                                   default=ProposalStatus.PENDING)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)

    person: Mapped[Person] = relationship()
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


@append_only
class ProtocolDeviation(db.Model):
    """Something that broke the trial protocol, such as a programme contact
    with a person in the control arm. Recorded, never removed."""

    __tablename__ = "protocol_deviations"
    __table_args__ = (Index("ix_protocol_deviations_site_id_occurred_on", "site_id",
                            "occurred_on"),
                      # a person's deviations: their record, their pathway, the extract
                      Index("ix_protocol_deviations_person_id", "person_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[str] = mapped_column(String(40))
    occurred_on: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship()
    recorded_by: Mapped[User | None] = relationship()
