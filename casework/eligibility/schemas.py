"""marshmallow schemas for the facts ``flask eligibility assess`` reads.

Unknown fields and bad values are refused with messages naming the field.
"""

from __future__ import annotations

from datetime import date

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from casework.dates import long_date
from casework.eligibility import checkpoint, cirv, outcome22
from casework.eligibility.offences import CATEGORIES, OUTCOME_CODES, Offence
from casework.intake.reference import LOCAL_AUTHORITIES

# Dates a case can hold: a date of birth of 9999-12-31 or 0001-01-01 is a
# typing slip ("aged 7989"), not a fact, and is refused, as the forms do.
EARLIEST, LATEST = date(1900, 1, 1), date(2099, 12, 31)


def _date(**kwargs) -> fields.Date:
    return fields.Date(validate=validate.Range(
        min=EARLIEST, max=LATEST, error="Must be a date from 1900 to 2099."), **kwargs)


class BornBefore:
    """A schema mixin: the date the facts are about (``event``: the
    referral's or the offence's) is not before the date of birth. Told at
    that date, naming both: the assessment forms take the date of birth from
    the person's record, so a problem put on it was shown linked to no field
    and did not say which date was wrong."""

    event = ""

    @validates_schema
    def _born_before(self, data, **kwargs):
        born, on = data.get("date_of_birth"), data.get(self.event)
        if born and on and born > on:
            raise ValidationError(f"The {self.event.replace('_', ' ')} is before the person's "
                                  f"date of birth ({long_date(born)}).", self.event)


class StrictBoolean(fields.Boolean):
    """JSON true or false only (not 1, "yes" or "true")."""

    default_error_messages = {"invalid": "Must be true or false."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class CirvFactsSchema(BornBefore, Schema):
    event = "referral_date"

    class Meta:
        unknown = RAISE

    date_of_birth = _date(required=True, allow_none=True)
    referral_date = _date(required=True)
    # the shape of a site's key (accounts.services.SITE_KEY: digits too,
    # which an admin's new site may have; found by review)
    site = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z][a-z0-9_]{1,39}$", error="Must be a site key such as coventry."))
    # where the person lives (a local authority), if known: C2 passes on it
    # too, as on the triage page; optional, so facts written before it read
    home = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(
        list(LOCAL_AUTHORITIES), error="Must be a local authority such as coventry."))
    group_violence_evidence = fields.List(
        fields.String(validate=validate.OneOf(list(cirv.EVIDENCE))), required=True)
    panel_confirmed = StrictBoolean(required=True, allow_none=True)
    already_randomised = StrictBoolean(required=True)
    exclusions = fields.List(fields.String(validate=validate.Length(min=1, max=200)),
                             required=True)

    @post_load
    def to_facts(self, data, **kwargs) -> cirv.CirvFacts:
        return cirv.CirvFacts(
            referral_date=data["referral_date"], site=data["site"], home=data["home"],
            date_of_birth=data["date_of_birth"],
            group_violence_evidence=frozenset(data["group_violence_evidence"]),
            panel_confirmed=data["panel_confirmed"],
            already_randomised=data["already_randomised"],
            exclusions=tuple(data["exclusions"]),
        )


class PreviousOutcomeSchema(Schema):
    """A previous outcome: ``offence``, a key of the catalogue, or, for an
    offence it does not hold, ``category`` (a key of its categories) and
    optionally ``description`` (the offence in words)."""

    class Meta:
        unknown = RAISE

    offence = fields.String(load_default=None, allow_none=True)
    category = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(
        list(CATEGORIES), error="Must be an offence category: " + ", ".join(CATEGORIES) + "."))
    description = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=200))
    outcome_code = fields.Integer(required=True, strict=True, validate=validate.OneOf(
        list(OUTCOME_CODES), error="Must be a Home Office outcome code from 1 to 23."))
    date = _date(required=True)

    @validates_schema
    def _one_offence(self, data, **kwargs):
        offence, category = data.get("offence"), data.get("category")
        if offence is None and category is None:
            raise ValidationError("Give the offence: a key from the offence catalogue, or, for "
                                  "an offence not in it, its category.", "offence")
        if offence is not None and category is not None:
            raise ValidationError("Give a category only for an offence not in the catalogue, "
                                  "without its key.", "category")
        if offence is not None and (data.get("description") or "").strip():
            raise ValidationError("Describe only an offence not in the catalogue (given by its "
                                  "category); a catalogue offence is named by its key.",
                                  "description")


class CheckpointFactsSchema(BornBefore, Schema):
    """Checkpoint facts; ``offence`` keys are checked against the catalogue
    by ``checkpoint_facts``."""

    event = "offence_date"

    class Meta:
        unknown = RAISE

    date_of_birth = _date(required=True, allow_none=True)
    offence_date = _date(required=True)
    offence = fields.String(required=True)
    aggravating_factors = fields.List(
        fields.String(validate=validate.OneOf(list(checkpoint.AGGRAVATING_FACTORS))),
        required=True)
    previous_outcomes = fields.List(fields.Nested(PreviousOutcomeSchema), required=True)
    admits_offence = StrictBoolean(required=True, allow_none=True)
    sufficient_evidence = StrictBoolean(required=True, allow_none=True)

    @validates_schema
    def _previous_before_the_offence(self, data, **kwargs):
        """K4 is about previous history: an outcome dated on or after the
        offence date is not, nor one dated before the person was born (both
        were counted as history). One dated the offence's own day is refused
        with the rest (found by review): it is most likely the offence itself,
        and counted, a same-day outcome made a weapon offence ineligible."""
        on, born = data.get("offence_date"), data.get("date_of_birth")
        for n, item in enumerate(data.get("previous_outcomes") or []):
            if on and item.get("date") and item["date"] >= on:
                raise ValidationError("Must be before the offence date: only earlier outcomes "
                                      "are previous history.", f"previous_outcomes.{n}.date")
            if born and item.get("date") and item["date"] < born:
                raise ValidationError("Must not be before the person's date of birth "
                                      f"({long_date(born)}).", f"previous_outcomes.{n}.date")


class Outcome22FactsSchema(BornBefore, Schema):
    event = "offence_date"

    class Meta:
        unknown = RAISE

    date_of_birth = _date(required=True, allow_none=True)
    offence_date = _date(required=True)
    offence = fields.String(required=True)
    suspect_identified = StrictBoolean(required=True)
    variant = fields.String(required=True, validate=validate.OneOf(list(outcome22.VARIANTS)))
    public_interest_rationale = fields.String(required=True, allow_none=True,
                                              validate=validate.Length(max=5000))
    gravity_modifier = fields.Integer(required=True, strict=True,
                                      validate=validate.OneOf([-1, 0, 1]))
    planned_activity = fields.String(required=True,
                                     validate=validate.OneOf(list(outcome22.INTENSITIES)))
    agrees_to_engage = StrictBoolean(required=True, allow_none=True)
    parent_or_carer_agrees = StrictBoolean(required=True, allow_none=True)
    accepts_responsibility = StrictBoolean(required=True, allow_none=True)


def _offence(catalogue: dict[str, Offence], key: str, field_name: str) -> Offence:
    if key not in catalogue:
        raise ValidationError({field_name: [f"Unknown offence {key!r}; use a key from the "
                                             "offence catalogue."]})
    return catalogue[key]


def checkpoint_facts(data: dict, catalogue: dict[str, Offence]) -> checkpoint.CheckpointFacts:
    """Loaded Checkpoint facts as the rules take them, offences from the catalogue."""
    previous = []
    for n, item in enumerate(data["previous_outcomes"]):
        if item.get("offence") is None:  # one not in the catalogue, by its category
            previous.append(checkpoint.PreviousOutcome(
                None, item["outcome_code"], item["date"], category=item["category"],
                description=(item.get("description") or "").strip() or None))
            continue
        previous.append(checkpoint.PreviousOutcome(
            _offence(catalogue, item["offence"], f"previous_outcomes.{n}.offence"),
            item["outcome_code"], item["date"]))
    return checkpoint.CheckpointFacts(
        offence_date=data["offence_date"],
        offence=_offence(catalogue, data["offence"], "offence"),
        date_of_birth=data["date_of_birth"],
        aggravating_factors=frozenset(data["aggravating_factors"]),
        previous_outcomes=tuple(previous),
        admits_offence=data["admits_offence"],
        sufficient_evidence=data["sufficient_evidence"],
    )


def outcome22_facts(data: dict, catalogue: dict[str, Offence]) -> outcome22.Outcome22Facts:
    return outcome22.Outcome22Facts(
        offence_date=data["offence_date"],
        offence=_offence(catalogue, data["offence"], "offence"),
        suspect_identified=data["suspect_identified"], variant=data["variant"],
        planned_activity=data["planned_activity"], date_of_birth=data["date_of_birth"],
        public_interest_rationale=data["public_interest_rationale"],
        gravity_modifier=data["gravity_modifier"],
        agrees_to_engage=data["agrees_to_engage"],
        parent_or_carer_agrees=data["parent_or_carer_agrees"],
        accepts_responsibility=data["accepts_responsibility"],
    )


def messages(error: ValidationError) -> list[str]:
    """``field: message`` lines, nested fields joined with dots."""
    lines: list[str] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            for item in value:
                walk(prefix, item)
        else:
            lines.append(f"{prefix or 'facts'}: {value}")

    walk("", error.messages)
    return lines
