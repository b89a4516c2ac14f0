"""Users and sites."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, Enum, ForeignKey, String, Table, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.accounts.roles import SITE_SCOPED_ROLES, Permission, Role, can
from casework.database import UTCDateTime, utcnow
from casework.extensions import db

user_sites = Table(
    "user_sites",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id"), primary_key=True),
)


class Site(db.Model):
    """A local authority area with its youth offending service."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    is_trial_site: Mapped[bool] = mapped_column(Boolean, default=False)

    def __repr__(self) -> str:
        return f"<Site {self.key}>"


def _new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            name="role",
            native_enum=False,
            create_constraint=True,
            length=20,
            values_callable=lambda roles: [r.value for r in roles],
        )
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A password someone else set (an admin, a command): the user is sent to
    # change it when they sign in, and can do nothing else until they have.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False,
                                                       server_default=false())
    # Flask-Login stores this, not the user id, in the session cookie.
    # Replacing it ends every session the user has (deactivation, a password
    # changed or set).
    session_token: Mapped[str] = mapped_column(
        String(64), unique=True, default=_new_session_token
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sites: Mapped[list[Site]] = relationship(
        secondary=user_sites, lazy="selectin", order_by=Site.name
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        return self.session_token

    def end_sessions(self) -> None:
        self.session_token = _new_session_token()

    def can(self, permission: Permission) -> bool:
        return can(self.role, permission)

    @property
    def site_ids(self) -> frozenset[int]:
        return frozenset(site.id for site in self.sites)

    @property
    def is_site_scoped(self) -> bool:
        return self.role in SITE_SCOPED_ROLES

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"
