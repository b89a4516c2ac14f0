"""Triage of a referral for CIRV: facts, a recommendation, and a lead's decision."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.accounts.models import Site, User
from casework.database import UTCDateTime, utcnow
from casework.extensions import db
from casework.intake.models import Person, Referral
from casework.trial.models import Allocation, Trial


class Exclusion(db.Model):
    """An exclusion a triage may record against CIRV (C5): reference data
    admins keep (DESIGN.md: "a configured list"). Its key is what triages
    store, so it never changes and the row is never deleted; the title is
    how pages and C5's sentence name it. One no longer ``offered`` is not
    offered at triage, yet still counts, under its title, on the triages
    that recorded it."""

    __tablename__ = "exclusions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    offered: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Triage(db.Model):
    """One per referral. Facts can change until a lead decides; the decision
    stores the computed result, the criteria as they stood, the facts from
    the referral and the person's record they were worked out from, and the
    rule-set version, and locks the facts."""

    __tablename__ = "triages"
    __table_args__ = (
        # The lead's queue: undecided triages at a site, oldest first.
        Index("ix_triages_site_id_decided_at_submitted_at", "site_id", "decided_at",
              "submitted_at"),
        Index("ix_triages_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    # the trial open at the site when a lead decided (None until then, or if
    # none was open); until decided, the rules use the one open now
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("trials.id"))
    # facts
    group_violence_evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    panel_confirmed: Mapped[bool | None] = mapped_column(Boolean)
    exclusions: Mapped[list[str]] = mapped_column(JSON, default=list)
    recommendation: Mapped[str] = mapped_column(String(20))
    recommendation_note: Mapped[str | None] = mapped_column(Text)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # decision
    computed_result: Mapped[str | None] = mapped_column(String(20))
    decision: Mapped[str | None] = mapped_column(String(20))
    override_rationale: Mapped[str | None] = mapped_column(Text)
    ruleset_version: Mapped[str | None] = mapped_column(String(40))
    criteria: Mapped[list[dict] | None] = mapped_column(JSON)
    # the facts the rules read that live outside the triage, as they stood
    # when decided: the referral's date and site ("referral_date", "site"),
    # the person's date of birth and home ("date_of_birth", "home"; ISO
    # dates, keys, None if not known). The person's record may change after;
    # the decision does not. None for decisions made before migration 0023.
    decision_facts: Mapped[dict | None] = mapped_column(JSON)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the allocation made by this decision, or the earlier one it was linked to
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"))

    referral: Mapped[Referral] = relationship(lazy="joined")
    person: Mapped[Person] = relationship()
    site: Mapped[Site] = relationship()
    trial: Mapped[Trial | None] = relationship()
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    allocation: Mapped[Allocation | None] = relationship()

    @property
    def is_decided(self) -> bool:
        return self.decided_at is not None

    @property
    def overridden(self) -> bool:
        return self.is_decided and self.decision != self.computed_result
