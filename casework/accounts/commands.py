"""``flask users create --email E --role R --site S`` (password prompted)."""

from __future__ import annotations

import getpass
import sys
from typing import NoReturn

import click
from flask.cli import AppGroup

from casework.accounts import services
from casework.accounts.roles import Role
from casework.cli import command_transaction
from casework.database import utcnow

users_cli = AppGroup("users", help="Manage user accounts.")
# A service's field names as the command's options
OPTIONS = {"display_name": "--name", "sites": "--site"}


@users_cli.command("create")
@click.option("--email", required=True, help="The user's email address (their sign-in name).")
@click.option("--name", "display_name", help="Display name; defaults to the email's local part.")
@click.option(
    "--role", required=True, type=click.Choice([r.value for r in Role]), help="The user's role."
)
@click.option("--site", "sites", multiple=True, help="A site key (repeat for several sites).")
@click.password_option(
    "--password", prompt="Password", help="Prompted for, with confirmation, when not given."
)
def create_command(email, display_name, role, sites, password) -> None:
    """Add a user."""
    try:
        with command_transaction("users-create"):
            problems = {}
            try:
                known_sites = services.sites_by_keys(sites)
            except services.AccountError as error:  # and whatever else is wrong
                problems, known_sites = error.problems, []
            try:
                user = services.create_user(
                    email=email,
                    display_name=display_name,
                    role=role,
                    sites=known_sites,
                    password=password,
                    actor=None,
                    now=utcnow(),
                    os_user=getpass.getuser(),
                )
            except services.AccountError as error:
                problems = {**error.problems, **problems}  # an unknown site, not "needs one"
            if problems:
                raise services.AccountError(problems=problems)
    except services.AccountError as error:
        _fail(error)
    sites = ", ".join(site.key for site in user.sites) or "none"
    click.echo(f"Created {user.role} {user.email} (sites: {sites})")


def _fail(error: services.AccountError) -> NoReturn:
    """Every problem, each against the option it is about; exit 2."""
    for field, message in error.problems.items():
        click.echo(f"{OPTIONS.get(field, f'--{field}') if field else 'error'}: {message}",
                   err=True)
    sys.exit(2)
