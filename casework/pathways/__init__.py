"""Pathways for the treatment arm, disruption approvals, protocol deviations."""

from flask import Blueprint

bp = Blueprint("pathways", __name__)


@bp.app_template_filter("pathway_label")
def _pathway_label(value) -> str:
    from casework.pathways.states import Pathway

    return Pathway(value).label if value else ""


@bp.app_context_processor
def _reference():
    from casework.pathways.services import DEVIATION_KINDS
    from casework.pathways.states import Pathway

    return {"pathways": list(Pathway), "deviation_kinds": DEVIATION_KINDS}
