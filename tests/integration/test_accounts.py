"""Account services on a real database."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from casework.accounts import services
from casework.accounts.models import User
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
    # by someone not signed in, about the account tried (if any)
    assert [(e.actor_id, e.subject_id) for e in events] == [(None, str(user.id)), (None, None)]
    assert "ghost" not in str(events[1].detail)


def test_locked_users_are_audited_and_cannot_sign_in_until_given_a_password(app, now):
    coventry = services.sites_by_keys(["coventry"])
    users = services.create_locked_users(
        [("One@Example.org", "Una One"), ("two@example.org", " Tom Two ")],
        role="caseworker", sites=coventry, now=now)
    db.session.commit()
    assert [(u.email, u.display_name, [s.key for s in u.sites]) for u in users] == [
        ("one@example.org", "Una One", ["coventry"]), ("two@example.org", "Tom Two", ["coventry"])]
    created = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "user:created").order_by(AuditEvent.id)).all()[-2:]
    assert [e.subject_id for e in created] == [str(u.id) for u in users]
    assert created[0].detail["role"] == {"before": None, "after": "caseworker"}
    for guess in ("", PASSWORD, users[0].password_hash):
        assert services.authenticate("one@example.org", guess, now=now) is None
    services.set_password(users[0], PASSWORD, actor=None, now=now)
    assert services.authenticate("one@example.org", PASSWORD, now=now) is not None


@pytest.mark.parametrize("accounts, sites, field", [
    ([("one@example.org", "Una"), ("ONE@example.org", "Again")], ["coventry"], "email"),
    ([("no-at-sign", "Una")], ["coventry"], "email"),
    ([("new@example.org", "  ")], ["coventry"], "display_name"),
    ([("new@example.org", "Una")], [], "sites"),
])
def test_locked_users_are_refused_whole_when_any_is_wrong(app, now, accounts, sites, field):
    before = db.session.scalar(select(func.count()).select_from(User))
    with pytest.raises(services.AccountError) as refused:
        services.create_locked_users(accounts, role="caseworker",
                                     sites=services.sites_by_keys(sites), now=now)
    assert field in refused.value.problems
    assert db.session.scalar(select(func.count()).select_from(User)) == before


def test_a_locked_users_email_must_be_new(app, make_user, now):
    taken = make_user("caseworker", email="taken@example.org")
    with pytest.raises(services.AccountError) as refused:
        services.create_locked_users([("fresh@example.org", "Fresh"), (taken.email, "Dup")],
                                     role="caseworker",
                                     sites=services.sites_by_keys(["coventry"]), now=now)
    assert "already exists" in refused.value.problems["email"]


def test_the_signed_in_user_comes_with_their_sites_in_order(app, make_user):
    lead = make_user("lead", ("wolverhampton", "coventry", "dudley"))
    admin = make_user("admin", ())
    db.session.commit()
    tokens = lead.session_token, admin.session_token
    db.session.expunge_all()
    found = services.user_by_session_token(tokens[0])
    assert [s.name for s in found.sites] == ["Coventry", "Dudley", "Wolverhampton"]
    assert services.user_by_session_token(tokens[1]).sites == []
    assert services.user_by_session_token("no-such-token") is None
    found.active = False
    db.session.commit()
    assert services.user_by_session_token(tokens[0]) is None


@pytest.mark.parametrize("email", [
    "@", "a@", "@b", "a b@c d", "x@@y", "a@b", "a@b.", "a@.b", "a@b..c", "a@-b.org",
    "a@b-.org", "a@b_c.org", ".a@b.org", "a.@b.org", "a..b@c.org", "a@b.org\tx",
    "a\u00a0b@c.org", "a@b.org@c.org", "x" * 65 + "@example.org",
])
def test_a_malformed_email_is_refused(app, now, email):
    # each was accepted: anything with an @ in it made an account
    with pytest.raises(services.AccountError) as refused:
        services.create_user(email=email, display_name="X", role="evaluator", sites=[],
                             password=PASSWORD, actor=None, now=now)
    assert refused.value.problems == {
        "email": "Enter an email address in the correct format, like name@example.org"}
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize("email", [
    "ann.lee@coventry.gov.uk", "a@b.co", "o'brien+cases@example.org", "jo@xn--bcher-kva.de",
    "zoë@bücher.example", "a-b_c@sub-1.example.org",
])
def test_well_formed_emails_are_accepted(app, now, email):
    user = services.create_user(email=email, display_name="X", role="evaluator", sites=[],
                                password=PASSWORD, actor=None, now=now)
    assert user.email == email.lower()


def test_locked_users_emails_are_checked_the_same_way(app, now):
    with pytest.raises(services.AccountError) as refused:
        services.create_locked_users([("ok@example.org", "Ok"), ("a b@c d", "Bad")],
                                     role="evaluator", sites=[], now=now)
    assert "correct format" in refused.value.problems["email"]


def test_the_last_active_admin_is_neither_deactivated_nor_given_another_role(app, make_user,
                                                                               now):
    # nothing stopped it: the service would have been left with nobody to
    # manage users, sites and trials
    first, second = make_user("admin", ()), make_user("admin", ())
    make_user("admin", (), email="gone@example.org")
    services.deactivate_user(db.session.scalars(select(User).where(
        User.email == "gone@example.org")).one(), actor=first, now=now)
    services.deactivate_user(second, actor=first, now=now)  # another is left
    db.session.commit()
    with pytest.raises(services.AccountError) as refused:
        services.deactivate_user(first, actor=None, now=now)
    assert refused.value.problems == {None: (
        f"{first.email} is the last active admin and cannot be deactivated: make someone "
        "else an admin first, or nobody could manage users")}
    with pytest.raises(services.AccountError) as refused:
        services.update_user(first, display_name=first.display_name, role="lead",
                             sites=services.sites_by_keys(["coventry"]), actor=None, now=now)
    assert "last active admin and cannot be given another role" in refused.value.problems["role"]
    db.session.rollback()
    assert db.session.get(User, first.id).active and db.session.get(User, first.id).role == "admin"
    # once another admin is back, either may go
    services.reactivate_user(second, actor=first, now=now)
    services.update_user(first, display_name=first.display_name, role="evaluator", sites=[],
                         actor=second, now=now)
    db.session.commit()
    assert db.session.get(User, first.id).role == "evaluator"
