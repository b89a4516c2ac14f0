"""The signed-in home page and the health check."""

from flask import Blueprint, g, render_template
from flask_login import current_user
from sqlalchemy import text

from casework.extensions import db
from casework.navigation import items_for

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


@bp.route("/health")
def health():
    # For load balancers: answers only whether the database is reachable.
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.app_context_processor
def _navigation():
    # Context processors run for every template rendered, and every form
    # field is its own template (govuk-frontend-wtf): work the list out once.
    # Only what depends on the request belongs here: each feature's
    # reference data (labels, codes) is a template global, set once when its
    # blueprint is registered, not gathered again for every template drawn.
    if "nav_items" not in g:
        g.nav_items = items_for(current_user._get_current_object())
    return {"nav_items": g.nav_items}
