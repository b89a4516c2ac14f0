"""Referral intake: people, referrals and duplicate detection."""

from flask import Blueprint

bp = Blueprint("intake", __name__)



@bp.app_context_processor
def _reference_data():
    from casework.intake.reference import GENDERS, LOCAL_AUTHORITIES, SOURCES, ethnicity_label

    return {
        "sources": SOURCES,
        "genders": GENDERS,
        "local_authorities": LOCAL_AUTHORITIES,
        "ethnicity_label": ethnicity_label,
    }


@bp.app_template_filter("risk_label")
def _risk_label(code: str) -> str:
    from casework.intake.reference import RISK_INDICATORS

    return RISK_INDICATORS.get(code, code)
