"""``flask users create --email E --role R --site S`` (password prompted)."""

from __future__ import annotations

import sys

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
            user = services.create_user(
                email=email,
                display_name=display_name or email.split("@")[0],
                role=role,
                sites=services.sites_by_keys(sites),
                password=password,
                actor=None,
                now=utcnow(),
            )
    except services.AccountError as error:
        for field, message in error.problems.items():
            click.echo(f"{OPTIONS.get(field, f'--{field}') if field else 'error'}: {message}",
                       err=True)
        sys.exit(2)
    sites = ", ".join(site.key for site in user.sites) or "none"
    click.echo(f"Created {user.role} {user.email} (sites: {sites})")
