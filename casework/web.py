"""Per-request plumbing: where the request came from, one transaction per
request (read-only for GET and HEAD), sign-in required by default, and the
idle timeout."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user, logout_user
from flask_wtf.csrf import generate_csrf
from werkzeug.middleware.proxy_fix import ProxyFix

from casework.audit import services as audit
from casework.audit.actions import Action
from casework.audit.context import Origin, reset_origin, set_origin
from casework.database import MAX_ID, reset_reading, set_reading, utcnow
from casework.extensions import db

# The session records when it was last used at most this often. Re-signing
# and re-sending the cookie on every request cost a twentieth of a small
# page; the idle timeout is counted from the last time it was recorded, so a
# session may end up to this long before the full timeout, never after it.
ACTIVITY_RECORDED_EVERY_SECONDS = 60

# Endpoints anyone may reach without signing in.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "assets.serve", "main.health",
                              "main.accessibility"})
# Requests that are not someone using the service: a page's timeout warning
# asking how long the session has left (another tab may have kept it going)
# must not itself keep the session going.
NOT_ACTIVITY = frozenset({"main.session_left"})
# Requests that change nothing but the audit log (the route matrix checks it).
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


def record_links(endpoint: str, name: str, **fixed) -> Callable[[int], str]:
    """``url_for(endpoint, name=ident, **fixed)`` for the many records of one
    page (a list's people, a timeline's notes, a caseworker's cases, the same
    ``fixed`` arguments for each): the URL is built once, with a
    marker (the largest id) in place of the id, and each record's id put in
    its place: the same links (tests/web/test_record_links.py compares them),
    where a ``url_for`` for each row was a twentieth of a list page. An id
    that is not a record's (not a whole number in range) goes to ``url_for``
    itself, as does every id when the marker is not in the URL exactly once
    (the app mounted under a path holding those digits, say)."""
    built = url_for(endpoint, **fixed, **{name: MAX_ID})
    if built.count(str(MAX_ID)) != 1:
        return lambda ident: url_for(endpoint, **fixed, **{name: ident})
    head, _, tail = built.partition(str(MAX_ID))

    def link(ident: int) -> str:
        if ident.__class__ is int and 0 <= ident <= MAX_ID:
            return f"{head}{ident}{tail}"
        return url_for(endpoint, **fixed, **{name: ident})

    return link


def record_activity(now: float | None = None) -> None:
    """Mark the session used now: the idle timeout counts from here. The
    session's cookie has no expiry of its own, so it ends with the browser:
    a permanent one (kept for the idle timeout) was still signed in when
    the next person opened the browser of a shared office computer (found
    by review). The timeout itself is the server's (``_idle_timeout``)."""
    session["last_active"] = time.time() if now is None else now


def seconds_left(now: float | None = None) -> float:
    """How long the session has before the idle timeout, from its last
    recorded activity (which is recorded at most once a minute)."""
    last = session.get("last_active")
    limit = current_app.config["IDLE_TIMEOUT_MINUTES"] * 60
    if last is None:
        return float(limit)
    return limit - ((time.time() if now is None else now) - last)


def start_session() -> None:
    """A signed-in session whole from its first cookie: its activity, and a
    CSRF token of its own (every page's sign-out form has one; the token of
    the form signed in with went with the old session, though Flask-WTF
    keeps it for the rest of the request in ``g``). The pages that follow
    then send no new cookie until the activity is next recorded: a client
    that kept the first cookie (a load generator) was sent a newly signed
    one with every page."""
    record_activity()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    generate_csrf()


def _return_to() -> str | None:
    """Where signing in again after the idle timeout leads: the page that
    was asked for (a form that was sent, drawn again: what was typed in it
    is not kept; the sign-in checks it is a path of this site), or nowhere
    for what has no page of its own (signing out, a deactivation)."""
    rule = request.url_rule
    if rule is None or "GET" not in (rule.methods or ()) or request.endpoint in NOT_ACTIVITY:
        return None
    return request.full_path.rstrip("?") if request.method in READ_ONLY_METHODS \
        else request.path


def init_request_hooks(app: Flask) -> None:
    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    def _origin():
        g.request_id = str(uuid.uuid4())
        g.origin_token = set_origin(Origin(g.request_id, request.remote_addr))
        # Set before anything reads the database, so the whole request is one.
        g.reading_token = set_reading(request.method in READ_ONLY_METHODS)

    # First of all: before the extensions' own checks (Flask-WTF's CSRF check
    # answers 400 from its hook), so every response carries its request id.
    app.before_request_funcs.setdefault(None, []).insert(0, _origin)

    @app.before_request
    def _require_sign_in():
        if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
            return None
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return None

    @app.before_request
    def _idle_timeout():
        if not current_user.is_authenticated:
            return None
        limit = app.config["IDLE_TIMEOUT_MINUTES"] * 60
        last = session.get("last_active")
        now = time.time()
        if last is not None and now - last > limit:
            user = current_user._get_current_object()
            audit.record(
                Action.AUTH_SESSION_EXPIRED, actor=user, now=utcnow(),
                subject_type="user", subject_id=user.id,
            )
            audit.commit()
            logout_user()
            session.clear()
            flash("You were signed out because you were inactive for "
                  f"{app.config['IDLE_TIMEOUT_MINUTES']} minutes", "info")
            return redirect(url_for("auth.login", next=_return_to()))
        if (last is None or now - last >= ACTIVITY_RECORDED_EVERY_SECONDS) \
                and request.endpoint not in NOT_ACTIVITY:
            record_activity(now)
        return None

    @app.after_request
    def _finish_transaction(response):
        # One commit per request: successful responses keep their writes,
        # anything else (a form with errors, a refusal) keeps none; but a
        # page sent back with its errors is still audited as shown.
        if response.status_code < 400:
            audit.commit()
        else:
            db.session.rollback()
            if response.status_code < 500:
                audit.record_shown_again()
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def _reset_origin(_exc):
        token = g.pop("origin_token", None)
        if token is not None:
            reset_origin(token)
        reading = g.pop("reading_token", None)
        if reading is not None:
            reset_reading(reading)
