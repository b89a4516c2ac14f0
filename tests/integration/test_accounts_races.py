"""Admins racing on PostgreSQL over accounts (a review's reproductions,
kept). On SQLite every writer holds the database write lock, so these
races cannot happen there. Each test's docstring tells what happened
before the fix it keeps."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from casework import submissions
from casework.accounts import services
from casework.accounts.models import User
from casework.audit.models import AuditEvent
from casework.extensions import db

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _together(app, first, second, hold=0.5):
    """``first`` and then ``second``, each in its own thread, app context and
    session, ``second`` run while ``first``'s transaction is still open
    (as a slow request's is): ``first`` commits ``hold`` seconds after it
    has written. Returns each one's result or exception."""
    written = threading.Event()
    outcomes: dict[int, object] = {}

    def run(i, call):
        with app.app_context():
            try:
                if i == 1:
                    written.wait(30)
                outcomes[i] = call()
                if i == 0:
                    written.set()
                    time.sleep(hold)
                db.session.commit()
            except Exception as error:  # reported by the test
                db.session.rollback()
                outcomes[i] = error
            finally:
                written.set()
                db.session.remove()

    db.session.commit()
    threads = [threading.Thread(target=run, args=(i, call))
               for i, call in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def _add(admin_id, name, submission=None):
    def call():
        try:
            return services.create_user(
                email="Same@Example.org", display_name=name, role="evaluator", sites=[],
                password="a sufficiently long passphrase", actor=db.session.get(User, admin_id),
                now=NOW, **({"submission": submission} if submission else {}))
        except submissions.AlreadySubmitted as sent:  # what the view sends them to
            db.session.rollback()
            return ("already added", sent.earlier.subject_id)
    return call


def test_two_admins_adding_one_email_at_once(app, make_user):
    """Both found the email free; the second's insert met the first's row
    in the unique index: IntegrityError (UniqueViolation uq_users_email),
    a 500. Now the second is told the email is taken, beside the field."""
    one, two = make_user("admin", ()).id, make_user("admin", ()).id
    outcomes = _together(app, _add(one, "First"), _add(two, "Second"))
    assert isinstance(outcomes[0], User), outcomes
    assert isinstance(outcomes[1], services.AccountError), outcomes
    assert outcomes[1].problems == {"email": "A user with this email address already exists"}
    assert db.session.scalar(select(func.count()).select_from(User).where(
        User.email == "same@example.org")) == 1


def test_add_user_double_clicked_adds_one(app, make_user):
    """The same form twice at once: the second waits for the first's claim
    and is sent to the user it added, not told the email is taken."""
    admin = make_user("admin", ()).id
    key = submissions.new_key()
    outcomes = _together(app, _add(admin, "First", key), _add(admin, "First", key))
    assert isinstance(outcomes[0], User), outcomes
    user_id = db.session.scalars(select(User.id).where(User.email == "same@example.org")).one()
    assert outcomes[1] == ("already added", user_id)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "user:created", AuditEvent.subject_id == str(user_id))) == 1


def _deactivate(actor_id, target_id):
    def call():
        actor = db.session.get(User, actor_id) if actor_id else None
        return services.deactivate_user(db.session.get(User, target_id), actor=actor, now=NOW)
    return call


def _demote(actor_id, target_id):
    def call():
        target = db.session.get(User, target_id)
        actor = db.session.get(User, actor_id) if actor_id else None
        return services.update_user(target, display_name=target.display_name, role="evaluator",
                                    sites=[], actor=actor, now=NOW)
    return call


@pytest.mark.parametrize("first, second", [
    (_deactivate, _deactivate), (_demote, _demote), (_deactivate, _demote),
    (_demote, _deactivate),
])
@pytest.mark.parametrize("by", ["each other", "no one signed in"])
def test_the_last_two_admins_removed_at_once(app, make_user, first, second, by):
    """Each change found the other admin still active, and both were
    removed: nobody was left to manage users. The second now waits for the
    first and is refused. (Between two signed-in admins each removing the
    other, the audit event's key on its actor, the other's row, happened
    to hold the second back too; not so with no actor, as a command's
    changes have.)"""
    one, two = make_user("admin", ()).id, make_user("admin", ()).id
    actors = (one, two) if by == "each other" else (None, None)
    outcomes = _together(app, first(actors[0], two), second(actors[1], one))
    assert isinstance(outcomes[0], User), outcomes
    assert isinstance(outcomes[1], services.AccountError), outcomes
    assert "is the last active admin" in outcomes[1].message
    assert db.session.scalar(select(func.count()).select_from(User).where(
        User.role == "admin", User.active.is_(True))) == 1
