"""The audit event table: append-only, hash-chained."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from casework.database import BigIntPK, UTCDateTime, append_only, utcnow
from casework.extensions import db


@append_only
class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_site_id_id", "site_id", "id"),
        Index("ix_audit_events_subject", "subject_type", "subject_id"),
        Index("ix_audit_events_actor_id_id", "actor_id", "id"),
        Index("ix_audit_events_action_id", "action", "id"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str] = mapped_column(String(64))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    # Unique: two events can never follow the same predecessor, so the chain
    # stays one total order even if the application lock were bypassed. The
    # hash needs no index of its own (migration 0015): it is its
    # predecessor's hash with the event's fields, so it cannot repeat either,
    # and nothing looks an event up by it.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))


@append_only
class AuditEventSite(db.Model):
    """Each site an event belongs to when it belongs to several: a list or
    search shown to someone working at several sites (its detail's
    ``sites``, which the chain's hash covers; these rows index it), so the
    leads of every one of those sites find it on their audit log. An event
    of one site keeps it in ``AuditEvent.site_id``. Append-only like the
    events (PostgreSQL's triggers, migration 0019)."""

    __tablename__ = "audit_event_sites"
    __table_args__ = (Index("ix_audit_event_sites_site_id_event_id", "site_id", "event_id"),)

    event_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("audit_events.id"),
                                          primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
