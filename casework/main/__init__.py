"""The signed-in home page and the health check."""

from flask import Blueprint, current_app, g, jsonify, render_template
from flask_login import current_user
from sqlalchemy import text

from casework.extensions import db
from casework.navigation import items_for
from casework.web import seconds_left

bp = Blueprint("main", __name__)



@bp.route("/")
def index():
    return render_template("main/index.html", links=items_for(current_user))


@bp.route("/accessibility")
def accessibility():
    """The accessibility statement the Public Sector Bodies Accessibility
    Regulations 2018 ask of every public sector website and service,
    intranets and extranets included; readable without signing in."""
    return render_template("main/accessibility.html")


@bp.route("/session")
def session_alive():
    """What the page's timeout warning asks when someone chooses to stay
    signed in: any signed-in request counts as activity (web.py), so
    answering is enough. The page warns before the idle timeout (WCAG 2.2.1:
    a note being typed sends nothing, and was lost when its author was
    signed out without a word)."""
    response = jsonify(idle_timeout_seconds=current_app.config["IDLE_TIMEOUT_MINUTES"] * 60)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/session/left")
def session_left():
    """What the page's timeout warning asks before it warns, and again when
    the time is up: how long the session has left. Asking is not activity
    (``web.NOT_ACTIVITY``): someone busy in another tab keeps this one's
    session going, so this tab waits on rather than warn them or sign them
    out. Once the time is up, the request is signed out like any other
    (``web._idle_timeout``: audited, and sent to sign in), and the page
    follows it, so a child's record is not left on an unattended screen."""
    response = jsonify(seconds_left=max(0, int(seconds_left())))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/health")
def health():
    # For load balancers: answers only whether the database is reachable.
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.app_context_processor
def _navigation():
    # Context processors run for every template rendered, and every form
    # field is its own template (govuk-frontend-wtf): work it out once.
    # Only what depends on the request belongs here: each feature's
    # reference data (labels, codes) is a template global, set once when its
    # blueprint is registered, not gathered again for every template drawn.
    if "page_context" not in g:
        idle = current_app.config["IDLE_TIMEOUT_MINUTES"] * 60
        warning = warning_seconds(idle, current_app.config["TIMEOUT_WARNING_SECONDS"])
        g.page_context = {"nav_items": items_for(current_user._get_current_object()),
                          "idle_timeout_seconds": idle, "idle_timeout_minutes": idle // 60,
                          "timeout_warning_seconds": warning,
                          "timeout_warning_words": duration_words(warning)}
    return g.page_context


def warning_seconds(idle: int, configured: int) -> int:
    """How long before the idle timeout the page warns: as configured, but
    at most half the timeout, so a short one does not warn as a page opens."""
    return max(1, min(configured, idle // 2))


def duration_words(seconds: int) -> str:
    """``2 minutes``, ``90 seconds``, ``1 minute``: the warning's lead time."""
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"
