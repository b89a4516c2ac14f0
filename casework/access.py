"""The one place that checks roles and site scope in the web layer.

``require(permission)`` guards a view by role (403 otherwise);
``scoped`` narrows a query to the user's sites; ``get_in_scope_or_404`` loads
one record, answering 404 for anything outside the user's sites as for
anything that does not exist. Every refusal is audited as ``access:denied``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import abort, make_response, request
from flask_login import current_user
from sqlalchemy import Select

from casework.accounts.models import Site
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import utcnow as now
from casework.extensions import db
from casework.forms import whole_number

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")


def deny(
    status: int,
    *,
    reason: str,
    subject_type: str | None = None,
    subject_id: object | None = None,
    site_id: int | None = None,
    page: str | None = None,
    **extra: Any,
):
    """Record ``access:denied`` (committed on its own: nothing else in this
    request is kept, nor any view it recorded: its page is not sent) and
    abort with ``status``: the error page for it, or ``page`` (drawn by the
    caller, before the rollback: a refusal that says more than the error
    page, such as who may amend a note)."""
    db.session.rollback()
    audit.forget_shown()
    actor = current_user if current_user.is_authenticated else None
    audit.record(
        Action.ACCESS_DENIED,
        actor=actor,
        now=now(),
        subject_type=subject_type,
        subject_id=subject_id,
        site_id=site_id,
        detail={"reason": reason, "endpoint": request.endpoint, "method": request.method, **extra},
    )
    audit.commit()
    abort(make_response(page, status) if page is not None else status)


def require(*permissions: Permission) -> Callable[[F], F]:
    """Let the view run only for users whose role holds one of ``permissions``."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                abort(401)
            if not any(current_user.can(p) for p in permissions):
                deny(403, reason="role", permission=",".join(map(str, permissions)))
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def visible_site_ids() -> frozenset[int] | None:
    """The sites the current user may see; None means all (not site-bound)."""
    if current_user.is_site_scoped:
        return current_user.site_ids
    return None


@dataclass(frozen=True)
class ListScope:
    """The sites a list shows: the one of the user's its ``site`` argument
    names (the dashboard's figures link to their lists for the site chosen
    there), or every site of theirs (``site_ids`` None: every site)."""

    site: Site | None
    site_ids: frozenset[int] | None

    @property
    def audited(self) -> dict[str, Any]:
        """For the list's audit event: the one site it showed, so the event
        is that site's (``audit.services._sites_shown``)."""
        return {"sites": [self.site.id]} if self.site else {}


def list_scope() -> ListScope:
    """The current request's ``ListScope``; a site not the user's is ignored."""
    wanted = whole_number(request.args.get("site"))
    if wanted is None:
        site = None
    elif current_user.is_site_scoped:
        site = next((s for s in current_user.sites if s.id == wanted), None)
    else:
        site = db.session.get(Site, wanted)
    return ListScope(site, frozenset({site.id}) if site else visible_site_ids())


def scoped(stmt: Select, site_column) -> Select:
    """``stmt`` narrowed to rows whose ``site_column`` is one of the user's sites."""
    site_ids = visible_site_ids()
    if site_ids is None:
        return stmt
    return stmt.where(site_column.in_(site_ids))


def get_in_scope_or_404(model: type[M], ident: Any, *, subject_type: str) -> M:
    """Load ``model`` by primary key if it belongs to one of the user's sites.

    Records outside scope answer exactly as missing ones do (404), so their
    existence is not revealed; the refusal is audited with the record's site,
    so that site's leads can see who tried.
    """
    record = db.session.get(model, ident)
    if record is None:
        deny(404, reason="not_found", subject_type=subject_type, subject_id=ident)
    site_ids = visible_site_ids()
    if site_ids is not None and record.site_id not in site_ids:
        deny(
            404, reason="outside_scope", subject_type=subject_type, subject_id=ident,
            site_id=record.site_id,
        )
    return record


def get_visible_or_404(visible: Select, model: type[M], ident: Any, *, subject_type: str) -> M:
    """Like ``get_in_scope_or_404`` for records whose visibility is a query
    (``visible``, already narrowed to what the user may see)."""
    # every row: the caller may join a collection eagerly (one record at most)
    record = db.session.scalars(visible.where(model.id == ident)).unique().one_or_none()
    return visible_or_404(record, model, ident, subject_type=subject_type)


def visible_or_404(record: M | None, model: type[M], ident: Any, *, subject_type: str) -> M:
    """``record``, found by a query narrowed to what the user may see, or a
    404 recorded as ``get_visible_or_404`` does when it was not found."""
    if record is None:
        hidden = db.session.get(model, ident)
        deny(
            404,
            reason="outside_scope" if hidden is not None else "not_found",
            subject_type=subject_type,
            subject_id=ident,
            site_id=getattr(hidden, "site_id", None),
        )
    return record
