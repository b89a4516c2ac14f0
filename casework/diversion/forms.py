from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovCheckboxInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from casework.eligibility import checkpoint, outcome22
from casework.eligibility.offences import CATEGORIES
from casework.forms import (
    DateInputField,
    Form,
    SubmissionField,
    VersionField,
    WholeNumberField,
    choices,
    errors_again,
    whole_number,
)

TRI_STATE = {"yes": "Yes", "no": "No", "not_known": "Not known yet"}
TRI_VALUES = {"yes": True, "no": False, "not_known": None}


def _tri(label: str) -> RadioField:
    return RadioField(label, widget=GovRadioInput(), choices=choices(TRI_STATE.items()),
                      validators=[InputRequired(message=f"Answer: {label.lower()}")])


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _common(form, person) -> dict:
    return {"date_of_birth": _iso(person.date_of_birth),
            "offence_date": _iso(form.offence_date.data), "offence": form.offence.data}


# A previous outcome's offence not in the catalogue is chosen by its
# category: the option's value is this prefix and the category's key.
NOT_LISTED = "category:"


class PreviousOutcomeForm(Form):
    class Meta:
        csrf = False

    offence = SelectField("Offence", widget=GovSelect(), choices=[], validators=[Optional()])
    # (not "description": a FormField has its own, which entry.description reads)
    other_offence = StringField(
        "If not listed, what the offence was (optional)", widget=GovTextInput(),
        description="For example, vehicle taking",
        validators=[Optional(), Length(max=200, message="The offence must be 200 characters "
                                                        "or fewer")])
    outcome_code = SelectField("Outcome", widget=GovSelect(), choices=[],
                               validators=[Optional()])
    on = DateInputField("Date")


class AssessmentFields(Form):
    submission = SubmissionField()  # a double click records one assessment
    offence_date = DateInputField("Offence date", required_message="Enter the offence date")
    offence = SelectField("Offence", widget=GovSelect(), choices=[],
                          validators=[InputRequired(message="Select the offence")])

    def with_catalogue(self, offences, codes):
        self.offence.choices = choices([("", "Select the offence")]
                                       + [(o.key, o.title) for o in offences])
        for entry in getattr(self, "previous_outcomes", []):
            entry.offence.choices = choices(
                [("", "Select the offence")] + [(o.key, o.title) for o in offences]
                + [(NOT_LISTED + key, f"Another offence, not listed ({label.lower()})")
                   for key, label in CATEGORIES.items()])
            entry.outcome_code.choices = choices([("", "Select")] + [
                (code, f"{code}: {title}") for code, title in codes.items()])
        return self


class CheckpointForm(AssessmentFields):
    aggravating_factors = SelectMultipleField(
        "Aggravating circumstances", widget=GovCheckboxesInput(), validators=[Optional()],
        choices=choices(checkpoint.AGGRAVATING_FACTORS.items()),
        description="Select all that apply")
    previous_outcomes = FieldList(FormField(PreviousOutcomeForm), min_entries=3, max_entries=3)
    admits_offence = _tri("Does the child admit the offence?")
    sufficient_evidence = _tri("Is there sufficient evidence to charge?")
    submit = SubmitField("Assess", widget=GovSubmitInput())

    def validate(self, extra_validators=None) -> bool:
        """Each previous outcome begun is finished: its offence (one of the
        catalogue's, or another by its category), outcome and date, named by
        its place on the page. A second set begun with its outcome left
        empty said "Row 1: Not a valid integer." and led to the first set's
        offence. The offence could be left as "None", which was then refused
        as an unknown offence '' (found by review)."""
        valid = super().validate(extra_validators)
        for n, entry in enumerate(self.previous_outcomes, start=1):
            if not self._begun(entry) or entry.on.errors:
                continue
            if not entry.offence.data and not entry.offence.errors:
                entry.offence.errors = [f"Select the offence of previous outcome {n}, or "
                                        "another not listed by its kind"]
                valid = False
            if not entry.outcome_code.data:
                entry.outcome_code.errors = [f"Select the outcome of previous outcome {n}"]
                valid = False
            if entry.on.data is None:
                entry.on.errors = [f"Enter the date of previous outcome {n}"]
                valid = False
        errors_again(self)
        return valid

    @staticmethod
    def _begun(entry) -> bool:
        return bool(entry.offence.data or entry.outcome_code.data or entry.on.data
                    or (entry.other_offence.data or "").strip()
                    or any(entry.on.raw_data or ()))

    def _entries_given(self) -> list:
        return [entry for entry in self.previous_outcomes if self._begun(entry)]

    def problem_at(self, path: str, message: str):
        """The field a service's problem is about, and its message naming it:
        a previous outcome's row in the facts is its set on the page counted
        without the sets left blank."""
        parts = path.split(".")
        if parts[0] == "previous_outcomes" and len(parts) == 3 and parts[1].isdigit():
            given = self._entries_given()
            if int(parts[1]) < len(given):
                entry = given[int(parts[1])]
                place = list(self.previous_outcomes).index(entry) + 1
                field = {"date": entry.on, "category": entry.offence,
                         "description": entry.other_offence}.get(parts[2]) \
                    or getattr(entry, parts[2], None)
                return field, f"Previous outcome {place}: {message}"
        return getattr(self, parts[0], None), message

    def facts(self, person) -> dict:
        """The facts in the shape ``eligibility assess`` reads (schemas.py)."""
        return {
            **_common(self, person),
            "aggravating_factors": list(self.aggravating_factors.data or []),
            "previous_outcomes": [self._previous(e) for e in self._entries_given()],
            "admits_offence": TRI_VALUES.get(self.admits_offence.data),
            "sufficient_evidence": TRI_VALUES.get(self.sufficient_evidence.data),
        }


    @staticmethod
    def _previous(entry) -> dict:
        """A previous outcome in the facts' shape: its offence's key, or for
        one not listed its category, with any description (the schema
        refuses a description of a listed offence, beside the field)."""
        chosen = entry.offence.data or ""
        named = {"category": chosen.removeprefix(NOT_LISTED)} \
            if chosen.startswith(NOT_LISTED) else {"offence": chosen}
        if (described := (entry.other_offence.data or "").strip()):
            named["description"] = described
        code = entry.outcome_code.data
        return {**named,
                "outcome_code": whole_number(code, maximum=999)
                if whole_number(code) is not None else code,
                "date": _iso(entry.on.data)}


class Outcome22Form(AssessmentFields):
    suspect_identified = RadioField(
        "Is there an identified suspect?", widget=GovRadioInput(),
        choices=choices([("yes", "Yes"), ("no", "No")]),
        validators=[InputRequired(message="Answer: is there an identified suspect?")])
    variant = RadioField("Variant", widget=GovRadioInput(),
                         choices=choices(outcome22.VARIANTS.items()),
                         validators=[InputRequired(message="Select the variant")])
    public_interest_rationale = TextAreaField(
        "Proposed: why further action is not in the public interest", widget=GovTextArea(),
        description="For the lead who decides: they record the decision maker's reasoning "
                    "when deciding eligible. Leave blank if none.",
        validators=[Length(max=5000, message="The rationale must be 5000 characters or fewer")])
    gravity_modifier = RadioField(
        "Gravity modifier", widget=GovRadioInput(),
        choices=choices([("-1", "-1 (mitigating factors)"), ("0", "None"),
                         ("1", "+1 (aggravating factors)")]),
        validators=[InputRequired(message="Select the gravity modifier")])
    planned_activity = RadioField("Planned activity", widget=GovRadioInput(),
                                  choices=choices(outcome22.INTENSITIES.items()),
                                  validators=[InputRequired(message="Select the planned "
                                                                    "activity")])
    agrees_to_engage = _tri("Does the person agree to engage?")
    parent_or_carer_agrees = _tri("Does a parent or carer agree? (needed under 16)")
    accepts_responsibility = _tri("Does the person accept responsibility? (deferred "
                                  "prosecution)")
    submit = SubmitField("Assess", widget=GovSubmitInput())

    def facts(self, person) -> dict:
        return {
            **_common(self, person),
            "suspect_identified": self.suspect_identified.data == "yes",
            "variant": self.variant.data,
            "public_interest_rationale": (self.public_interest_rationale.data or "").strip()
            or None,
            "gravity_modifier": int(self.gravity_modifier.data),
            "planned_activity": self.planned_activity.data,
            "agrees_to_engage": TRI_VALUES.get(self.agrees_to_engage.data),
            "parent_or_carer_agrees": TRI_VALUES.get(self.parent_or_carer_agrees.data),
            "accepts_responsibility": TRI_VALUES.get(self.accepts_responsibility.data),
        }


class DecisionForm(Form):
    decision = RadioField("Decision", widget=GovRadioInput(),
                          choices=choices([("eligible", "Eligible"),
                                           ("ineligible", "Ineligible")]),
                          validators=[InputRequired(message="Select eligible or ineligible")])
    rationale = TextAreaField(
        "Rationale", widget=GovTextArea(),
        description="Needed when your decision differs from the rules' result",
        validators=[Length(max=5000, message="The rationale must be 5000 characters or fewer")])
    submit = SubmitField("Record decision", widget=GovSubmitInput())


class OfferForm(Form):
    submission = SubmissionField()  # a double click offers one diversion
    submit = SubmitField("Offer diversion", widget=GovSubmitInput())


class StepForm(Form):
    version = VersionField()  # the case's status it was drawn from
    submission = SubmissionField()  # a double click records one step, and says so
    target = RadioField("What happened?", widget=GovRadioInput(), choices=[],
                        validators=[InputRequired(message="Choose what happened")])
    on = DateInputField("Date", required_message="Enter the date")
    reason = TextAreaField("Reason (needed if failed or withdrawn)", widget=GovTextArea(),
                           validators=[Length(max=5000)])
    submit = SubmitField("Record", widget=GovSubmitInput())


class LaterOutcomeForm(Form):
    code = SelectField("Criminal justice outcome", widget=GovSelect(), choices=[],
                       validators=[InputRequired(message="Select the outcome code")])
    submit = SubmitField("Record outcome", widget=GovSubmitInput())


class OffenceForm(Form):
    version = VersionField()  # the entry it was drawn from
    title = StringField("Title", widget=GovTextInput(),
                        validators=[InputRequired(message="Enter the offence's title"),
                                    Length(max=200)])
    legislation = StringField("Legislation", widget=GovTextInput(),
                              validators=[InputRequired(message="Enter the legislation"),
                                          Length(max=200)])
    category = SelectField("Category", widget=GovSelect(), choices=choices(CATEGORIES.items()))
    gravity = WholeNumberField("Gravity (1 to 5)", message="Gravity must be from 1 to 5",
                               widget=GovTextInput(),
                               validators=[InputRequired(message="Enter the gravity"),
                                           NumberRange(min=1, max=5,
                                                       message="Gravity must be from 1 to 5")])
    outcome22_permitted = BooleanField("Outcome 22 permitted", widget=GovCheckboxInput())
    submit = SubmitField("Save", widget=GovSubmitInput())


class OutcomeCodeForm(Form):
    title = StringField("Title", widget=GovTextInput(),
                        validators=[InputRequired(message="Enter the title"), Length(max=200)])
    submit = SubmitField("Save", widget=GovSubmitInput())
