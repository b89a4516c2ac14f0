"""Pathways for the treatment arm, disruption approvals, protocol deviations."""

from flask import Blueprint

bp = Blueprint("pathways", __name__)


@bp.app_template_filter("pathway_label")
def _pathway_label(value) -> str:
    from casework.pathways.states import Pathway

    return Pathway(value).label if value else ""


@bp.record_once
def _reference(state):
    # Reference data: template globals, set once (see casework.main)
    from casework.pathways.services import DEVIATION_KINDS
    from casework.pathways.states import Pathway

    state.app.add_template_global(tuple(Pathway), "pathways")
    state.app.add_template_global(DEVIATION_KINDS, "deviation_kinds")
