"""Checkpoint and Outcome 22: the offence catalogue, assessments, the rules
page, and diversion cases."""

from flask import Blueprint

bp = Blueprint("diversion", __name__)


@bp.record_once
def _reference(state):
    # Reference data: a template global, set once (see casework.main)
    from casework.diversion.services import SCHEMES

    state.app.add_template_global(SCHEMES, "diversion_schemes")
