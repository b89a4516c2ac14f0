"""Helpers shared by the flask commands: an audit origin and one transaction."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

import click
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError, ProgrammingError

from casework.audit.context import Origin, reset_origin, set_origin
from casework.extensions import db


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
    """``command``, saying "run db upgrade" (exit 2) rather than printing a
    traceback when the database it is pointed at has never been migrated
    (a new database, or DATABASE_URL naming the wrong one)."""
    callback: Callable | None = command.callback
    if callback is None or getattr(callback, "needs_schema", False):
        return command

    @wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except (OperationalError, ProgrammingError):
            db.session.rollback()
            if inspect(db.engine).has_table("alembic_version"):
                raise
            click.echo(f"The database {db.engine.url.render_as_string(hide_password=True)} "
                       "has not been set up: run `flask --app wsgi db upgrade` first.", err=True)
            sys.exit(2)

    run.needs_schema = True  # type: ignore[attr-defined]
    command.callback = run
    return command
