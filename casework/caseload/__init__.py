"""Caseload oversight for leads, and each caseworker's own caseload."""

from flask import Blueprint

bp = Blueprint("caseload", __name__)


@bp.app_context_processor
def _reference():
    from casework.caseload.models import REVIEW_OUTCOMES

    return {"review_outcomes": REVIEW_OUTCOMES}
