"""Caseload oversight for leads, and each caseworker's own caseload."""

from flask import Blueprint

bp = Blueprint("caseload", __name__)


@bp.record_once
def _reference(state):
    # Reference data: a template global, set once (see casework.main)
    from casework.caseload.models import REVIEW_OUTCOMES

    state.app.add_template_global(REVIEW_OUTCOMES, "review_outcomes")
