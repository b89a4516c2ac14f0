"""Helpers shared by the flask commands: an audit origin and one transaction."""

from __future__ import annotations

import getpass
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

import click
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError, ProgrammingError

from casework.audit.context import Origin, reset_origin, set_origin
from casework.extensions import db


def os_user() -> str:
    """Who ran a command, as the operating system names them (the audited
    commands' ``os_user``): their login name or, where the user has none
    (a container run as a bare uid, with no passwd entry, where getpass
    raises), "uid <n>", so the command still runs and is still traced."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


@contextmanager
def command_transaction(name: str) -> Iterator[None]:
    """Run a command's writes in one transaction, audited as coming from the CLI."""
    token = set_origin(Origin(f"cli-{name}-{uuid.uuid4()}", "cli"))
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        reset_origin(token)


def needs_schema(command: click.Command) -> click.Command:
    """``command``, saying what is wrong (exit 2) rather than printing a
    traceback when the database it is pointed at cannot be reached, has
    never been migrated (a new database, or DATABASE_URL naming the wrong
    one), or is at an older revision than the code (new code run before
    ``db upgrade``: its first statement named a column not there yet)."""
    callback: Callable | None = command.callback
    if callback is None or getattr(callback, "needs_schema", False):
        return command

    @wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except (OperationalError, ProgrammingError):
            db.session.rollback()
            problem = schema_problem()
            if problem is None:
                raise
            click.echo(f"The database {db.engine.url.render_as_string(hide_password=True)} "
                       f"{problem}", err=True)
            sys.exit(2)

    run.needs_schema = True  # type: ignore[attr-defined]
    command.callback = run
    return command


def schema_problem() -> str | None:
    """What keeps the database from the code's schema, said for a person,
    or None when it is reachable and at the code's revision."""
    try:
        with db.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return "has not been set up: run `flask --app wsgi db upgrade` first."
            current = set(MigrationContext.configure(connection).get_current_heads())
    except OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()
        return f"cannot be reached: {reason[0] if reason else 'no reason given'}."
    config = Config()
    config.set_main_option("script_location", current_app.extensions["migrate"].directory)
    script = ScriptDirectory.from_config(config)
    wanted = set(script.get_heads())
    if current == wanted:
        return None
    at = ", ".join(sorted(current)) or "none"
    if current - {revision.revision for revision in script.walk_revisions()}:
        # migrated by a newer version: upgrading cannot help (found by review)
        return (f"is at revision {at}, which this code does not know (a newer version "
                "migrated it): run the version that did, or that version's "
                f"`db downgrade {', '.join(sorted(wanted))}` first.")
    return (f"is at revision {at}, not this code's {', '.join(sorted(wanted))}: run "
            "`flask --app wsgi db upgrade` first.")
