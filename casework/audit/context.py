"""Where the current action came from: a request id and a client address.

The web layer sets this for each request and the CLI for each command, so
services can record audit events without knowing about Flask.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    request_id: str
    client_addr: str | None


_origin: ContextVar[Origin | None] = ContextVar("casework_audit_origin", default=None)


def set_origin(origin: Origin):
    return _origin.set(origin)


def reset_origin(token) -> None:
    _origin.reset(token)


def current_origin() -> Origin:
    """The origin set by the web layer or CLI; a fresh one for anything else."""
    origin = _origin.get()
    if origin is None:
        origin = Origin(request_id=f"local-{uuid.uuid4()}", client_addr=None)
    return origin
