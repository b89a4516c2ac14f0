"""Referral intake: people, referrals and duplicate detection."""

from flask import Blueprint

bp = Blueprint("intake", __name__)



@bp.record_once
def _reference_data(state):
    # Reference data: template globals, set once (see casework.main)
    from casework.intake.reference import GENDERS, LOCAL_AUTHORITIES, SOURCES, ethnicity_label

    for name, value in (("sources", SOURCES), ("genders", GENDERS),
                        ("local_authorities", LOCAL_AUTHORITIES),
                        ("ethnicity_label", ethnicity_label)):
        state.app.add_template_global(value, name)


@bp.app_template_filter("risk_label")
def _risk_label(code: str) -> str:
    from casework.intake.reference import RISK_INDICATORS

    return RISK_INDICATORS.get(code, code)
