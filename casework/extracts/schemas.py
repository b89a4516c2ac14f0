"""What an extract row holds, one marshmallow schema per output, every
field listed explicitly with its description, transformation and allowed
values: the data dictionary is generated from these.

Nothing identifiable is ever a field: no name, date of birth, address,
PNC reference or free text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from marshmallow import Schema, fields
from marshmallow.utils import ensure_text_type

from casework.diversion.states import CaseStatus
from casework.eligibility import checkpoint, outcome22
from casework.eligibility.outcomes import Result
from casework.extracts import privacy
from casework.intake.reference import (
    CLOSE_REASONS,
    ETHNIC_GROUPS,
    GENDERS,
    LOCAL_AUTHORITIES,
    RISK_INDICATORS,
    SOURCES,
    ReferralStatus,
)
from casework.pathways.states import Pathway
from casework.trial.sequence import Arm


def _field(kind, description: str, transformation: str, allowed: str = "", *,
           values: Iterable[str] = (), note: str = "", separator: str = "", **kwargs):
    """A field and its dictionary entry. ``values``, for a field whose every
    value can be listed, are those values as the CSV file writes them ("" for
    empty), read from the lists the values come from (never a copy of them,
    which would drift: the dictionary once listed a gender intake never
    offered and missed one it did); unless ``allowed`` says them otherwise,
    the allowed values are then those values listed, and ``note``. A field
    of several, joined by ``separator``, has each of them among the values.
    A test writes extracts and finds every value among them."""
    values = tuple(str(value) for value in values)
    if values and not allowed:
        allowed = ", ".join(value or "empty" for value in values)
        allowed += f" ({note})" if note else ""
    return kind(metadata={"description": description, "transformation": transformation,
                          "allowed": allowed, "values": values, "separator": separator},
                **kwargs)


def _age_bands(level: int) -> tuple[str, ...]:
    """Every age band ``privacy.age_band`` gives at ``level``, youngest first."""
    return tuple(dict.fromkeys(privacy.age_band(age, level) for age in range(0, 120)))


# booleans as CSV writes them (services.serialise), as JSON does
BOOLEAN = ("true", "false")
HIDDEN = "*"   # a quasi-identifier of a group too small even at the least detail
AGE_BANDS = tuple(dict.fromkeys(band for level in privacy.LEVELS for band in _age_bands(level)))
AGE_BAND_NOTE = "; ".join(f"{', '.join(_age_bands(level))} (level {level})"
                          for level in privacy.LEVELS) + "; unknown; * where suppressed"
PERIODS = "YYYY-MM (level 0), YYYY-Qn (level 1), YYYY (level 2); unknown; * where suppressed"
# DESIGN.md: "age at referral and age band". A quasi-identifier finer than
# the band, so given only where k holds with it (services.plan).
AGE_AT_REFERRAL = "Age in whole years on the referral date"
AGE_AT_REFERRAL_RULE = (
    "given only when, at the level of detail written, every group of rows sharing the "
    "quasi-identifiers still holds k with the exact age in place of the age band; otherwise "
    "empty for every row, the age band standing (the k-anonymity report, and the export's "
    "audit event, say which); empty too where the date of birth is not known")
ARMS = tuple(Arm)
DECISIONS = (Result.ELIGIBLE, Result.INELIGIBLE)


class PersonRowSchema(Schema):
    """One row per randomised person."""

    class Meta:
        ordered = True

    person = _field(fields.String, "The person's pseudonym",
                    "HMAC-SHA256 of the internal id under the extract's key", "P + 20 hex")
    site = _field(fields.String, "Trial site (stratum site)", "none", "site keys")
    stratum = _field(fields.String, "Randomisation stratum",
                     "its age band generalised as age_band is (level 2: under 25 or 25+); "
                     "* where its quasi-identifier group is suppressed",
                     "site, or site/age band when strata include age; *")
    arm = _field(fields.String, "Allocated arm", "none", values=ARMS)
    randomised_period = _field(fields.String, "When randomised", "generalised date", PERIODS)
    randomised_in_error = _field(fields.Boolean, "An admin marked the allocation made in error",
                                 "none", values=BOOLEAN)
    age_band = _field(fields.String, "Age on the referral date", "generalised age",
                      AGE_BAND_NOTE, values=(*AGE_BANDS, "unknown", HIDDEN))
    age_at_referral = _field(fields.Integer, AGE_AT_REFERRAL, AGE_AT_REFERRAL_RULE,
                             "0 or more, empty", allow_none=True)
    gender = _field(fields.String, "Gender as recorded", "none at levels 0-1; * at level 2",
                    values=(*GENDERS, HIDDEN))
    ethnicity = _field(fields.String, "Ethnicity group", "the five top-level ONS 2021 groups "
                       "(levels 0-1), * (level 2)", values=(*ETHNIC_GROUPS, HIDDEN))
    referral_source = _field(fields.String, "Source of the randomised referral", "none",
                             values=SOURCES)
    referrals = _field(fields.Integer, "Referrals of this person in the trial (those its "
                       "referral rows hold)", "count", "0 or more")
    pathway = _field(fields.String, "Pathway now (treatment arm)", "none",
                     values=(*Pathway, ""), note="empty for control")
    engaged_ever = _field(fields.Boolean, "Engaged at some point", "derived", values=BOOLEAN)
    pathway_changes = _field(fields.Integer, "Pathway changes after randomisation", "count",
                             "0 or more")
    protocol_deviations = _field(fields.Integer, "Protocol deviations recorded", "count",
                                 "0 or more")
    caseworker = _field(fields.String, "The caseworker's pseudonym",
                        "HMAC-SHA256 of the staff id under the extract's key",
                        "C + 20 hex, empty if none")
    local_authority = _field(fields.String, "Local authority where the person lives", "none",
                             values=LOCAL_AUTHORITIES)
    days_referral_to_randomisation = _field(
        fields.Integer, "Days from the randomised referral to randomisation", "date difference",
        "0 or more")
    pathway_episodes = _field(
        fields.String, "Each pathway episode as pathway@day, days from randomisation",
        "dates as day offsets, joined by ;", "e.g. awaiting_offer@0;engaged@12")
    days_awaiting_offer = _field(fields.Integer, "Days spent awaiting an offer", "sum of "
                                 "the lengths of the episodes that have ended; the episode "
                                 "still open (pathway, from the last day in pathway_episodes) "
                                 "is not counted, as its length to the extract's day would "
                                 "give the day of randomisation", "0 or more")
    days_engaged = _field(fields.Integer, "Days spent engaged", "as above", "0 or more")
    days_at_risk_monitoring = _field(fields.Integer, "Days on at-risk monitoring", "as above",
                                     "0 or more")
    days_disruption = _field(fields.Integer, "Days in disruption", "as above", "0 or more")
    contacts_attended = _field(fields.Integer, "Attended contacts recorded", "count",
                               "0 or more")
    contacts_face_to_face = _field(fields.Integer, "Attended face-to-face contacts", "count",
                                   "0 or more")
    contacts_phone = _field(fields.Integer, "Attended phone contacts", "count", "0 or more")
    contacts_video = _field(fields.Integer, "Attended video contacts", "count", "0 or more")
    contacts_family = _field(fields.Integer, "Attended family contacts", "count", "0 or more")
    contacts_careers = _field(fields.Integer, "Attended careers contacts", "count", "0 or more")
    contacts_mentoring = _field(fields.Integer, "Attended mentoring contacts", "count",
                                "0 or more")
    contacts_first_90_days = _field(fields.Integer, "Attended contacts in the 90 days after "
                                    "randomisation", "count of those dated 0 to 90 days from "
                                    "randomisation (one before it is in neither period)",
                                    "0 or more")
    contacts_after_90_days = _field(fields.Integer, "Attended contacts after those 90 days",
                                    "count of those dated 91 days or more from randomisation",
                                    "0 or more")
    diversion_scheme = _field(fields.String, "Latest Checkpoint or Outcome 22 assessment",
                              "none", values=(checkpoint.SCHEME, outcome22.SCHEME, ""))
    diversion_eligibility = _field(fields.String, "The latest assessment's result under the "
                                   "rules", "none", values=(*Result, ""))
    diversion_decision = _field(fields.String, "The lead's decision on the latest assessment",
                                "none", values=(*DECISIONS, ""))
    diversion_status = _field(fields.String, "The status of the latest assessment's diversion "
                              "case", "none", values=(*CaseStatus, ""),
                              note="empty if the latest assessment has no case")
    diversion_outcome_code = _field(fields.Integer, "Outcome code of the latest diversion to "
                                    "have one, whatever assessments came after it: the code "
                                    "closing it (or the later outcome after a failure)", "none",
                                    "1 to 23, empty", allow_none=True)
    diversion_outcome_day = _field(fields.Integer, "Day that diversion ended, from "
                                   "randomisation", "date as a day offset", "a number, empty",
                                   allow_none=True)
    diversion_outcomes = _field(fields.String, "Every diversion's outcome code, as code@day "
                                "(days from randomisation to the day it ended, empty if not "
                                "ended), in the order they ended",
                                "dates as day offsets, joined by ;", "e.g. 22@40;8@310, empty")


class ReferralRowSchema(Schema):
    """One row per referral the trial counts (CONSORT's referred)."""

    class Meta:
        ordered = True

    referral = _field(fields.String, "The referral's pseudonym",
                      "HMAC-SHA256 of the internal id under the extract's key", "R + 20 hex")
    person = _field(fields.String, "The person's pseudonym (links referrals of one person)",
                    "HMAC-SHA256 of the internal id under the extract's key", "P + 20 hex")
    site = _field(fields.String, "Trial site the referral counted for: its randomisation "
                  "stratum's; else its own; else the one the person lives in (C2)", "none",
                  "site keys")
    referral_period = _field(fields.String, "Referral date", "generalised date", PERIODS)
    age_band = _field(fields.String, "Age on the referral date", "generalised age",
                      AGE_BAND_NOTE, values=(*AGE_BANDS, "unknown", HIDDEN))
    age_at_referral = _field(fields.Integer, AGE_AT_REFERRAL, AGE_AT_REFERRAL_RULE,
                             "0 or more, empty", allow_none=True)
    source = _field(fields.String, "Where the referral came from", "none", values=SOURCES)
    risk_indicators = _field(fields.String, "Risk indicators ticked", "codes joined by ;",
                             values=(*RISK_INDICATORS, ""), note="those ticked, joined by ;",
                             separator=";")
    status = _field(fields.String, "Referral status", "none", values=ReferralStatus)
    closed_reason = _field(fields.String, "Why a closed referral was closed", "the reason's "
                           "code (a fixed list; never a note)", values=(*CLOSE_REASONS, ""),
                           note="empty unless closed")
    triage_result = _field(fields.String, "The rules' result at the decision", "none",
                           values=(*Result, ""))
    triage_decision = _field(fields.String, "The lead's decision", "none",
                             values=(*DECISIONS, ""))
    arm = _field(fields.String, "Arm, if this referral was randomised", "none",
                 values=(*ARMS, ""))


SCHEMAS = {"person": PersonRowSchema, "referral": ReferralRowSchema}


def _text(value):
    return None if value is None else ensure_text_type(value)


def _whole(value):
    return None if value is None else int(value)


def _same(value):
    return value


# What marshmallow's own serialisation does for each kind of field the
# schemas use (a String is its text, an Integer int(value), a Boolean is
# passed as it is; None stays None).
_DUMPS = {fields.String: _text, fields.Integer: _whole, fields.Boolean: _same}


def dumper(schema: Schema) -> Callable[[dict], dict]:
    """``schema.dump`` for extract rows, about twenty times faster: the
    schema's fields in its order, each value converted as marshmallow would
    (tests/integration/test_extracts.py checks they agree). Extracts dump
    every row, and marshmallow's machinery for each value was a third of an
    extract's time. A field of any other kind is refused, so a new one
    cannot slip through unconverted."""
    steps = []
    for name, field in schema.fields.items():
        convert = _DUMPS.get(type(field))
        if convert is None:
            raise TypeError(f"no fast dump for {name}: {type(field).__name__}")
        steps.append((name, field.attribute or name, convert))

    def dump(row: dict) -> dict:
        return {name: convert(row[source]) for name, source, convert in steps}

    return dump


def csv_values(schema: Schema) -> Callable[[dict], list]:
    """A dumped row's values in the schema's order, as the CSV file writes
    them: a boolean as true or false, as JSON writes it and the dictionary
    lists it (the csv module would write True and False)."""
    names = list(schema.fields)
    flags = [i for i, field in enumerate(schema.fields.values())
             if isinstance(field, fields.Boolean)]

    def values(row: dict) -> list:
        cells = list(map(row.__getitem__, names))
        for i in flags:
            if cells[i] is True or cells[i] is False:
                cells[i] = "true" if cells[i] else "false"
        return cells

    return values


def dictionary_rows() -> list[dict]:
    """The data dictionary: one row per field of each output."""
    rows = []
    for unit, schema in SCHEMAS.items():
        for name, field in schema().fields.items():
            rows.append({
                "output": unit, "field": name,
                "type": type(field).__name__.lower(),
                "description": field.metadata["description"],
                "transformation": field.metadata["transformation"],
                "allowed_values": field.metadata["allowed"],
            })
    return rows
