"""``flask users create --email E --role R --site S`` and ``flask users
set-password --email E``: passwords are prompted for twice at a terminal,
or read from standard input's first line. ``users create`` still takes ``--password`` for
the scripts that pass it, though a password given so stays in the shell's
history and shows to anyone listing the machine's processes: the prompt is
the way; set-password takes none."""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from flask.cli import AppGroup

from casework.accounts import services
from casework.accounts.roles import Role
from casework.cli import command_transaction, os_user
from casework.database import utcnow
from casework.extensions import db

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
@click.option("--password", help="Prompted for twice, unseen, at a terminal, or read from "
                                   "standard input, when not given.")
def create_command(email, display_name, role, sites, password) -> None:
    """Add a user."""
    # read as set-password reads it: a password piped in has no echo to
    # hide, and the prompt's getpass printed "Warning: Password input may be
    # echoed" on every scripted run (found by review)
    password = _read_password() if password is None else password
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
                    os_user=os_user(),
                )
            except services.AccountError as error:
                problems = {**error.problems, **problems}  # an unknown site, not "needs one"
            if problems:
                raise services.AccountError(problems=problems)
    except services.AccountError as error:
        _fail(error)
    sites = ", ".join(site.key for site in user.sites) or "none"
    click.echo(f"Created {user.role} {user.email} (sites: {sites})")


def _fail(error: services.AccountError, options: dict[str, str] = OPTIONS) -> NoReturn:
    """Every problem, each against the option it is about; exit 2."""
    for field, message in error.problems.items():
        click.echo(f"{options.get(field, f'--{field}') if field else 'error'}: {message}",
                   err=True)
    sys.exit(2)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _read_password() -> str:
    """The new password: prompted for twice, unseen, at a terminal; else
    the first line of standard input (a password manager's output piped
    in)."""
    if _interactive():
        return click.prompt("New password", hide_input=True,
                            confirmation_prompt="Repeat the new password")
    return sys.stdin.readline().rstrip("\r\n")


@users_cli.command("set-password")
@click.option("--email", required=True, help="The user's email address.")
@click.option("--permanent", is_flag=True,
              help="The user keeps this password: they are not made to change it when they "
                   "next sign in.")
def set_password_command(email: str, permanent: bool) -> None:
    """Set a user's password, prompted for (or read from standard input),
    and sign them out everywhere. It is temporary unless --permanent: whoever
    sets it knows it, so the user must change it when they next sign in.
    Audited, with the operating-system user who ran it."""
    unknown = services.AccountError("No user has this email address", field="email")
    if services.find_user_by_email(email) is None:
        _fail(unknown)
    db.session.rollback()  # no transaction held (on SQLite, the write lock) while typing
    password = _read_password()
    try:
        with command_transaction("users-set-password"):
            user = services.find_user_by_email(email)
            if user is None:
                raise unknown
            services.set_password(user, password, actor=None, now=utcnow(),
                                  temporary=not permanent, os_user=os_user())
    except services.AccountError as error:
        _fail(error, {"password": "password"})
    if permanent:
        click.echo(f"Password set for {user.email}; they have been signed out everywhere.")
    else:
        click.echo(f"Temporary password set for {user.email}; they have been signed out "
                   "everywhere, and must change it when they next sign in.")
