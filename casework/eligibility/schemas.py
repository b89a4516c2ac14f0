"""marshmallow schemas for the facts ``flask eligibility assess`` reads.

Unknown fields and bad values are refused with messages naming the field.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from casework.eligibility import cirv


class StrictBoolean(fields.Boolean):
    """JSON true or false only (not 1, "yes" or "true")."""

    default_error_messages = {"invalid": "Must be true or false."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class CirvFactsSchema(Schema):
    class Meta:
        unknown = RAISE

    date_of_birth = fields.Date(required=True, allow_none=True)
    referral_date = fields.Date(required=True)
    site = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z][a-z_]*$", error="Must be a site key such as coventry."))
    group_violence_evidence = fields.List(
        fields.String(validate=validate.OneOf(list(cirv.EVIDENCE))), required=True)
    panel_confirmed = StrictBoolean(required=True, allow_none=True)
    already_randomised = StrictBoolean(required=True)
    exclusions = fields.List(fields.String(validate=validate.Length(min=1, max=200)),
                             required=True)

    @post_load
    def to_facts(self, data, **kwargs) -> cirv.CirvFacts:
        return cirv.CirvFacts(
            referral_date=data["referral_date"], site=data["site"],
            date_of_birth=data["date_of_birth"],
            group_violence_evidence=frozenset(data["group_violence_evidence"]),
            panel_confirmed=data["panel_confirmed"],
            already_randomised=data["already_randomised"],
            exclusions=tuple(data["exclusions"]),
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
