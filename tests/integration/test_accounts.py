"""Account services on a real database."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from casework.accounts import services
from casework.audit.models import AuditEvent
from casework.extensions import db
from tests.conftest import PASSWORD


@pytest.mark.real_password_cost
def test_sign_in_rehashes_a_password_made_with_old_parameters(app, make_user, now):
    user = make_user("lead")
    old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user.password_hash = old
    db.session.commit()

    assert services.authenticate(user.email, PASSWORD, now=now) is not None
    db.session.commit()
    db.session.refresh(user)
    assert user.password_hash != old and "m=65536" in user.password_hash
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["auth:password_rehashed", "auth:login"]
    # and the new hash still signs in, without another rehash
    assert services.authenticate(user.email, PASSWORD, now=now) is not None
    assert db.session.scalars(select(AuditEvent.action)).all().count(
        "auth:password_rehashed") == 1


def test_failed_sign_in_records_why_without_the_attempted_email(app, make_user, now):
    user = make_user()
    assert services.authenticate(user.email, "wrong password here", now=now) is None
    assert services.authenticate("ghost@example.org", PASSWORD, now=now) is None
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[-2:]
    assert [e.detail["reason"] for e in events] == ["wrong_password", "unknown_account"]
    assert events[0].actor_id == user.id and events[1].actor_id is None
    assert "ghost" not in str(events[1].detail)
