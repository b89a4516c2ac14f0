"""``flask seed-demo``: demo users (one per role) and, with --people, synthetic
people, reproducible by seed. For demonstrations and development only."""

from __future__ import annotations

import secrets

import click

from casework.accounts import services as accounts
from casework.accounts.roles import Role
from casework.cli import command_transaction
from casework.database import utcnow

DEMO_USERS = (
    ("caseworker@casework.example", "Casey Worker", Role.CASEWORKER, ("coventry",)),
    ("lead@casework.example", "Lee Lead", Role.LEAD, ("coventry", "wolverhampton")),
    ("evaluator@casework.example", "Eva Luator", Role.EVALUATOR, ()),
    ("admin@casework.example", "Ada Admin", Role.ADMIN, ()),
)


def seed_demo_users(now) -> list[tuple[str, Role, str]]:
    """Create the demo users, or give existing ones a new password.

    Passwords are random and returned once to be printed; they are stored
    only as argon2 hashes, so running the command again issues new ones.
    """
    logins = []
    for email, name, role, site_keys in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        user = accounts.find_user_by_email(email)
        if user is None:
            accounts.create_user(
                email=email, display_name=name, role=role,
                sites=accounts.sites_by_keys(site_keys), password=password,
                actor=None, now=now,
            )
        else:
            accounts.set_password(user, password, actor=None, now=now)
            if not user.active:
                accounts.reactivate_user(user, actor=None, now=now)
        logins.append((email, role, password))
    return logins


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Seed demo users (one per role) and print their sign-in details."""
    with command_transaction("seed-demo"):
        logins = seed_demo_users(utcnow())
    click.echo("Demo sign-ins (shown once; run seed-demo again for new passwords):")
    for email, role, password in logins:
        click.echo(f"  {role.value:<11} {email:<30} {password}")
