"""Triage: CIRV facts, recommendations, the lead's queue and decision."""

from flask import Blueprint

bp = Blueprint("triage", __name__)



@bp.app_context_processor
def _labels():
    from casework.eligibility import checkpoint, cirv, outcome22
    from casework.eligibility.outcomes import Outcome, Result

    return {
        # C1.., K1.., O1..: every scheme's criterion titles by id
        "criterion_titles": {cid: title for scheme in (cirv, checkpoint, outcome22)
                             for cid, (title, _) in scheme.CRITERIA.items()},
        "outcome_label": lambda value: Outcome(value).label,
        "result_label": lambda value: Result(value).label,
    }


@bp.app_template_filter("evidence_label")
def _evidence_label(code: str) -> str:
    from casework.eligibility.cirv import EVIDENCE

    return EVIDENCE.get(code, code)


@bp.app_template_filter("exclusion_label")
def _exclusion_label(code: str) -> str:
    from casework.eligibility.cirv import EXCLUSIONS

    return EXCLUSIONS.get(code, code)
