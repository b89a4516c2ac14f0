"""``flask users create`` and ``flask seed-demo``."""

from __future__ import annotations

from sqlalchemy import func, select

from casework.accounts.models import User
from casework.accounts.passwords import verify_password
from casework.audit.models import AuditEvent
from casework.extensions import db


def test_users_create_prompts_for_the_password(runner):
    result = runner.invoke(
        args=["users", "create", "--email", "Lead@Example.org", "--role", "lead",
              "--site", "coventry", "--site", "wolverhampton"],
        input="a long enough passphrase\na long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User).where(User.email == "lead@example.org")).one()
    assert user.role == "lead"
    assert sorted(s.key for s in user.sites) == ["coventry", "wolverhampton"]
    assert verify_password(user.password_hash, "a long enough passphrase")
    event = db.session.scalars(select(AuditEvent)).one()
    assert (event.action, event.actor_role, event.client_addr) == ("user:created", "system", "cli")


def test_users_create_explains_bad_input_and_writes_nothing(runner):
    cases = [
        (["--site", "atlantis"], "--site: Unknown site atlantis", "a long enough passphrase"),
        ([], "--site: A caseworker needs at least one site", "a long enough passphrase"),
        (["--site", "coventry"], "--password: Password must be 12 characters", "short"),
    ]
    for extra, message, password in cases:
        result = runner.invoke(
            args=["users", "create", "--email", "cw@example.org", "--role", "caseworker", *extra],
            input=f"{password}\n{password}\n",
        )
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_users_create_rejects_an_unknown_role(runner):
    result = runner.invoke(args=["users", "create", "--email", "x@example.org", "--role", "boss"],
                           input="a long enough passphrase\na long enough passphrase\n")
    assert result.exit_code == 2
    assert "'boss' is not one of" in result.output


def test_seed_demo_prints_one_working_login_per_role(runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    logins = {}
    for line in result.output.splitlines()[1:]:
        role, email, password = line.split()
        logins[role] = (email, password)
    assert set(logins) == {"caseworker", "lead", "evaluator", "admin"}
    for role, (email, password) in logins.items():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        assert user.role == role and verify_password(user.password_hash, password)

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(User)) == 4
    new_password = again.output.splitlines()[1].split()[2]
    assert new_password != logins["caseworker"][1]
