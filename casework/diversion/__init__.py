"""Checkpoint and Outcome 22: the offence catalogue, assessments, the rules
page, and diversion cases."""

from flask import Blueprint

bp = Blueprint("diversion", __name__)


@bp.app_context_processor
def _reference():
    from casework.diversion.services import SCHEMES

    return {"diversion_schemes": SCHEMES}
