"""Referral intake: people, referrals and duplicate detection."""

from flask import Blueprint
from markupsafe import Markup

bp = Blueprint("intake", __name__)

_STATUS_TAGS: dict[str, Markup] = {}


def referral_status_tag(status) -> Markup:
    """A referral's status as GOV.UK's tag (grey once closed), on every row
    of the referrals list: drawn once for each status and looked up after,
    not keyed and found in the widgets' memo on every row."""
    tag = _STATUS_TAGS.get(status)
    if tag is None:
        from casework.widgets import kept

        tag = _STATUS_TAGS[status] = kept("tag", {
            "text": status.label, "classes": "govuk-tag--grey" if status == "closed" else ""})
    return tag


@bp.record_once
def _reference_data(state):
    # Reference data: template globals, set once (see casework.main)
    from casework.intake.reference import GENDERS, LOCAL_AUTHORITIES, SOURCES, ethnicity_label

    for name, value in (("sources", SOURCES), ("genders", GENDERS),
                        ("local_authorities", LOCAL_AUTHORITIES),
                        ("ethnicity_label", ethnicity_label),
                        ("referral_status_tag", referral_status_tag)):
        state.app.add_template_global(value, name)


@bp.app_template_filter("risk_label")
def _risk_label(code: str) -> str:
    from casework.intake.reference import RISK_INDICATORS

    return RISK_INDICATORS.get(code, code)
