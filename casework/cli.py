"""Helpers shared by the flask commands: an audit origin and one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

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
