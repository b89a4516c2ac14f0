from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovCheckboxInput,
    GovFileInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from casework.forms import Form, VersionField, WholeNumberField, choices
from casework.trial.models import AllocationMethod, TrialStatus
from casework.trial.services import MAX_REASON_LENGTH, TrialSettings
from casework.widgets import FilterSelect

RATIO_MESSAGE = "Enter a whole number from 1 to 10"
SLOT_MESSAGE = "Enter a slot number from 1 to 10,000,000"


def _block_sizes(text: str) -> list[int]:
    parts = [p for p in (text or "").replace(",", " ").split() if p]
    if not parts or not all(p.isascii() and p.isdigit() and 0 < int(p) <= 100 for p in parts):
        raise ValueError("Enter block sizes as whole numbers separated by commas, like 2, 4, 6")
    return [int(p) for p in parts]


class TrialForm(Form):
    version = VersionField()  # the settings an edit was drawn from
    name = StringField("Name", widget=GovTextInput(),
                       validators=[InputRequired(message="Enter the trial's name"),
                                   Length(max=120)])
    key = StringField(
        "Key", widget=GovTextInput(),
        description="Lower-case letters, digits and hyphens. It is part of the sequence "
                    "construction, so it cannot change later.",
        validators=[Length(max=40)],
    )
    sites = SelectMultipleField("Sites", widget=GovCheckboxesInput(), choices=[],
                                validators=[InputRequired(message="Select at least one site")])
    stratify_by_age_band = BooleanField(
        "Also stratify by age band (14 to 17, 18 to 24, 25 and over)", widget=GovCheckboxInput(),
    )
    ratio_treatment = WholeNumberField(
        "Treatment share of the ratio", message=RATIO_MESSAGE, widget=GovTextInput(),
        validators=[InputRequired(message="Enter the treatment share, for example 1"),
                    NumberRange(min=1, max=10, message=RATIO_MESSAGE)],
    )
    ratio_control = WholeNumberField(
        "Control share of the ratio", message=RATIO_MESSAGE, widget=GovTextInput(),
        validators=[InputRequired(message="Enter the control share, for example 1"),
                    NumberRange(min=1, max=10, message=RATIO_MESSAGE)],
    )
    method = RadioField("Allocation method", widget=GovRadioInput(),
                        description="A trial that uses an uploaded list opens only once its "
                                    "list has slots for every stratum: save it closed, upload "
                                    "the list on its page, then open it.",
                        choices=choices((m.value, m.label) for m in AllocationMethod),
                        validators=[InputRequired(message="Select the allocation method")])
    block_sizes = StringField(
        "Block sizes", widget=GovTextInput(),
        description="For permuted blocks: sizes chosen at random for each block, like 2, 4, 6",
    )
    status = RadioField("Status", widget=GovRadioInput(),
                        choices=choices((s.value, s.label) for s in TrialStatus),
                        validators=[InputRequired(message="Select open or closed")])
    submit = SubmitField("Save trial", widget=GovSubmitInput())

    def validate_block_sizes(self, field):
        if self.method.data == AllocationMethod.PERMUTED_BLOCKS:
            try:
                _block_sizes(field.data)
            except ValueError as error:
                raise ValidationError(str(error)) from None

    def fill_from(self, trial) -> None:
        self.name.data = trial.name
        self.key.data = trial.key
        self.sites.data = [s.key for s in trial.sites]
        self.stratify_by_age_band.data = trial.stratify_by_age_band
        self.ratio_treatment.data = trial.ratio_treatment
        self.ratio_control.data = trial.ratio_control
        self.method.data = str(trial.method)
        self.block_sizes.data = ", ".join(map(str, trial.block_sizes or []))
        self.status.data = str(trial.status)

    def settings(self, existing=None) -> TrialSettings:
        method = AllocationMethod(self.method.data)
        if method == AllocationMethod.PERMUTED_BLOCKS:
            sizes = _block_sizes(self.block_sizes.data)
        else:
            sizes = list(existing.block_sizes) if existing else [2, 4, 6]
        return TrialSettings(
            name=self.name.data or "", site_keys=list(self.sites.data or []),
            stratify_by_age_band=bool(self.stratify_by_age_band.data),
            ratio_treatment=self.ratio_treatment.data, ratio_control=self.ratio_control.data,
            method=method, block_sizes=sizes, status=TrialStatus(self.status.data),
            key=(self.key.data or "").strip() if existing is None else None,
        )


class AllocationListForm(Form):
    class Meta:
        id_prefix = "list-"  # drawn beside the trial's own form and InErrorForm

    allocation_list = FileField(
        "Allocation list (CSV)", widget=GovFileInput(),
        description="Columns stratum, slot, arm. Each stratum's slots run 1, 2, 3…",
        validators=[FileRequired(message="Choose the allocation list file")],
    )
    submit = SubmitField("Upload list", widget=GovSubmitInput())


class InErrorForm(Form):
    """Which allocation, by the reference of a referral of the person's (what
    their lead reads on the case record and can tell an admin), or by its
    stratum and slot (what the trial's statistician reads in the report)."""

    class Meta:
        id_prefix = "in-error-"  # drawn beside the trial's own form and AllocationListForm

    referral = StringField(
        "Referral reference", widget=GovTextInput(),
        description="A referral of the person's, as their case record shows it (for example "
                    "R0001234). Or leave this blank and give the stratum and slot.",
        validators=[Optional(), Length(max=20, message="Enter a referral reference like "
                                                       "R0001234")],
    )
    stratum = SelectField("Stratum", widget=GovSelect(), choices=[], default="")
    slot = WholeNumberField("Slot", message=SLOT_MESSAGE, widget=GovTextInput(),
                            validators=[Optional(), NumberRange(min=1, max=10_000_000,
                                                                message=SLOT_MESSAGE)])
    reason = TextAreaField(
        "Why was this allocation made in error?", widget=GovTextArea(),
        validators=[InputRequired(message="Enter why the allocation was made in error"),
                    Length(max=MAX_REASON_LENGTH,
                           message=f"Reason must be {MAX_REASON_LENGTH} characters or fewer")],
    )
    submit = SubmitField("Mark as randomised in error", widget=GovSubmitInput())

    def validate(self, extra_validators=None) -> bool:
        """A referral reference, or a stratum and a slot: one of the two."""
        valid = super().validate(extra_validators)
        slot_typed = bool(self.slot.raw_data and str(self.slot.raw_data[0]).strip())
        if (self.referral.data or "").strip():
            if self.stratum.data or slot_typed:
                self.referral.errors.append(
                    "Give the referral reference, or the stratum and slot, not both")
                valid = False
            return valid
        if not self.stratum.data:
            self.stratum.errors.append("Select the stratum, or enter a referral reference")
            valid = False
        if not slot_typed:
            self.slot.errors.append("Enter the slot number, or a referral reference")
            valid = False
        return valid


class ReportForm(Form):
    class Meta:
        csrf = False

    trial = SelectField("Trial", widget=FilterSelect(), choices=[], validators=[Optional()])
