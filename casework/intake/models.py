"""People and their referrals."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.accounts.models import Site, User
from casework.database import MAX_ID, UTCDateTime, utcnow
from casework.extensions import db
from casework.intake import matching
from casework.intake.reference import ReferralStatus


class Person(db.Model):
    """A young person; belongs to the site that first referred them."""

    __tablename__ = "people"
    __table_args__ = (
        # the id too (SQLite's indexes hold it already): a search by name
        # finds its people from the index alone
        Index("ix_people_name_keys", "last_name_key", "first_name_key",
              postgresql_include=["id"]),
        Index("ix_people_first_name_key", "first_name_key", postgresql_include=["id"]),
        Index("ix_people_date_of_birth", "date_of_birth"),
        Index("ix_people_pnc_reference", "pnc_reference"),
        Index("ix_people_site_id", "site_id"),
        Index("ix_people_caseworker_id_site_id", "caseworker_id", "site_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    other_names: Mapped[str | None] = mapped_column(String(200))
    # Normalised for duplicate detection and search (see intake/matching.py).
    first_name_key: Mapped[str] = mapped_column(String(matching.KEY_LENGTH))
    last_name_key: Mapped[str] = mapped_column(String(matching.KEY_LENGTH))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(20))
    ethnicity: Mapped[str] = mapped_column(String(40))
    postcode: Mapped[str | None] = mapped_column(String(8))
    local_authority: Mapped[str] = mapped_column(String(40))
    pnc_reference: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # who holds the case now (history in case_assignments)
    caseworker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    site: Mapped[Site] = relationship(lazy="joined")
    caseworker: Mapped[User | None] = relationship(foreign_keys=[caseworker_id])
    referrals: Mapped[list[Referral]] = relationship(
        back_populates="person", order_by="Referral.referral_date.desc()"
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Referral(db.Model):
    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_site_id_referral_date", "site_id", "referral_date", "id"),
        Index("ix_referrals_site_id_status", "site_id", "status"),
        # and the date and id, so the people found by a search by name give
        # their referrals' page in date order from the index alone
        Index("ix_referrals_person_id_site_id_referral_date", "person_id", "site_id",
              "referral_date", postgresql_include=["id"]),
        Index("ix_referrals_referral_date", "referral_date", "id"),
        # covers the dashboard's referrals per week (a date range, counted by site)
        Index("ix_referrals_referral_date_site_id", "referral_date", "site_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    referral_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(40))
    referrer_name: Mapped[str] = mapped_column(String(120))
    referrer_organisation: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    risk_indicators: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[ReferralStatus] = mapped_column(
        Enum(
            ReferralStatus, name="referral_status", native_enum=False, create_constraint=True,
            length=20, values_callable=lambda statuses: [s.value for s in statuses],
        ),
        default=ReferralStatus.RECEIVED,
    )
    closed_reason: Mapped[str | None] = mapped_column(String(40))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    person: Mapped[Person] = relationship(back_populates="referrals")
    site: Mapped[Site] = relationship(lazy="joined")

    @property
    def reference(self) -> str:
        return format_reference(self.id)


def format_reference(referral_id: int) -> str:
    """The number people quote: R followed by the id, zero-padded."""
    return f"R{referral_id:07d}"


def parse_reference(text: str) -> int | None:
    """The referral id in "R0000123" (or "123"); None if it is not one."""
    cleaned = (text or "").strip().upper().removeprefix("R")
    ident = int(cleaned) if cleaned.isascii() and cleaned.isdigit() and len(cleaned) <= 12 \
        else None
    return ident if ident is not None and ident <= MAX_ID else None
