"""Triage: CIRV facts, recommendations, the lead's queue and decision."""

from flask import Blueprint

bp = Blueprint("triage", __name__)



@bp.record_once
def _labels(state):
    # Reference data: template globals, set once (see casework.main)
    from casework.eligibility import checkpoint, cirv, outcome22
    from casework.eligibility.outcomes import Outcome, Result

    # C1.., K1.., O1..: every scheme's criterion titles by id
    state.app.add_template_global({cid: title for scheme in (cirv, checkpoint, outcome22)
                                   for cid, (title, _) in scheme.CRITERIA.items()},
                                  "criterion_titles")
    state.app.add_template_global(lambda value: Outcome(value).label, "outcome_label")
    state.app.add_template_global(lambda value: Result(value).label, "result_label")


@bp.app_template_filter("evidence_label")
def _evidence_label(code: str) -> str:
    from casework.eligibility.cirv import EVIDENCE

    return EVIDENCE.get(code, code)
