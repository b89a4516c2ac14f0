"""Notes and contacts on a person's case: append-only, with amendments."""

from flask import Blueprint, current_app

bp = Blueprint("notes", __name__)


def contact_thresholds() -> dict[str, int]:
    """Overdue thresholds in days by pathway, from the configuration."""
    return {"engaged": current_app.config["CONTACT_DAYS_ENGAGED"],
            "at_risk_monitoring": current_app.config["CONTACT_DAYS_AT_RISK"]}


@bp.app_context_processor
def _reference():
    from casework.notes.reference import CONTACT_TYPES

    return {"contact_types": CONTACT_TYPES}


@bp.app_template_filter("lines")
def _lines(text: str | None):
    """Plain text shown escaped, its line breaks kept."""
    from markupsafe import Markup, escape

    return Markup("<br>\n").join(escape(line) for line in (text or "").splitlines())
