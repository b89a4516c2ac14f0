"""Trials, their allocation lists, and allocations (append-only)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.accounts.models import Site, User
from casework.database import UTCDateTime, append_only, str_enum, utcnow
from casework.extensions import db
from casework.trial.sequence import Arm, BlockDesign


class TrialStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class AllocationMethod(StrEnum):
    PERMUTED_BLOCKS = "permuted_blocks"
    ALLOCATION_LIST = "allocation_list"

    @property
    def label(self) -> str:
        return {"permuted_blocks": "Permuted blocks from the trial key",
                "allocation_list": "Uploaded allocation list"}[self.value]


trial_sites = Table(
    "trial_sites",
    db.metadata,
    Column("trial_id", ForeignKey("trials.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id"), primary_key=True),
)


class Trial(db.Model):
    """A randomised trial's configuration. ``key`` names the trial inside the
    sequence construction, so it never changes once set."""

    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[TrialStatus] = mapped_column(str_enum(TrialStatus, "trial_status"),
                                                default=TrialStatus.OPEN)
    stratify_by_age_band: Mapped[bool] = mapped_column(Boolean, default=False)
    ratio_treatment: Mapped[int] = mapped_column(Integer, default=1)
    ratio_control: Mapped[int] = mapped_column(Integer, default=1)
    method: Mapped[AllocationMethod] = mapped_column(
        str_enum(AllocationMethod, "allocation_method"), default=AllocationMethod.PERMUTED_BLOCKS
    )
    block_sizes: Mapped[list[int]] = mapped_column(JSON, default=lambda: [2, 4, 6])
    allocation_list_sha256: Mapped[str | None] = mapped_column(String(64))
    allocation_list_filename: Mapped[str | None] = mapped_column(String(200))
    allocation_list_uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sites: Mapped[list[Site]] = relationship(secondary=trial_sites, lazy="selectin",
                                             order_by=Site.name)

    @property
    def design(self) -> BlockDesign:
        return BlockDesign((self.ratio_treatment, self.ratio_control), tuple(self.block_sizes))

    @property
    def ratio(self) -> str:
        return f"{self.ratio_treatment}:{self.ratio_control}"

    @property
    def is_open(self) -> bool:
        return self.status == TrialStatus.OPEN


class AllocationListEntry(db.Model):
    """One row of an uploaded allocation list (method B)."""

    __tablename__ = "allocation_list_entries"
    __table_args__ = (UniqueConstraint("trial_id", "stratum", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"))
    stratum: Mapped[str] = mapped_column(String(60))
    slot: Mapped[int] = mapped_column(Integer)
    arm: Mapped[Arm] = mapped_column(str_enum(Arm, "arm"))


@append_only
class Allocation(db.Model):
    """A person's arm in a trial. Never updated or deleted (the ORM refuses
    both, ``append_only``, and PostgreSQL's triggers too); a mistake is an
    AllocationInError beside it."""

    __tablename__ = "allocations"
    __table_args__ = (
        UniqueConstraint("trial_id", "person_id"),
        UniqueConstraint("trial_id", "stratum", "slot"),
        Index("ix_allocations_site_id_allocated_at", "site_id", "allocated_at"),
        Index("ix_allocations_person_id", "person_id"),
        # a referral's allocation (the referral extract joins every referral to it)
        Index("ix_allocations_referral_id", "referral_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    stratum: Mapped[str] = mapped_column(String(60))
    slot: Mapped[int] = mapped_column(Integer)
    arm: Mapped[Arm] = mapped_column(str_enum(Arm, "arm"))
    method: Mapped[AllocationMethod] = mapped_column(
        str_enum(AllocationMethod, "allocation_method"))
    sequence_version: Mapped[str] = mapped_column(String(100))
    allocated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    allocated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    trial: Mapped[Trial] = relationship(lazy="joined")
    allocated_by: Mapped[User | None] = relationship()
    in_error: Mapped[AllocationInError | None] = relationship(
        back_populates="allocation", lazy="joined"
    )


@append_only
class AllocationInError(db.Model):
    """An administrator's record that an allocation was made in error. The
    allocation stays; analysis decides what to do with it."""

    __tablename__ = "allocations_in_error"

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    allocation: Mapped[Allocation] = relationship(back_populates="in_error")
    recorded_by: Mapped[User | None] = relationship()
