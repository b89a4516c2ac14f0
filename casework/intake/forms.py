from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from casework.forms import (
    DateInputField,
    Form,
    NotBefore,
    SubmissionField,
    VersionField,
    choices,
    whole_number,
)
from casework.intake.reference import (
    CLOSE_REASONS,
    ETHNICITIES,
    GENDERS,
    LOCAL_AUTHORITIES,
    RISK_INDICATORS,
    SOURCES,
    ReferralStatus,
    ethnicity_label,
)
from casework.intake.services import (
    MAX_REASON_LENGTH,
    PersonDetails,
    ReferralDetails,
    searchable,
)
from casework.widgets import FilterDateInput, FilterSelect, FilterTextInput

ETHNICITY_CHOICES = choices(
    [("", "Select an ethnicity")] + [(code, ethnicity_label(code)) for code in ETHNICITIES]
)


class PersonFields(Form):
    first_name = StringField(
        "First name", widget=GovTextInput(),
        validators=[InputRequired(message="Enter a first name"), Length(max=100)],
    )
    last_name = StringField(
        "Last name", widget=GovTextInput(),
        validators=[InputRequired(message="Enter a last name"), Length(max=100)],
    )
    other_names = StringField(
        "Other names (optional)", widget=GovTextInput(),
        description="Aliases, previous names or street names", validators=[Length(max=200)],
    )
    date_of_birth = DateInputField(
        "Date of birth", description="For example, 27 3 2008. Leave blank if not known."
    )
    gender = RadioField(
        "Gender", widget=GovRadioInput(), choices=choices(GENDERS.items()),
        validators=[InputRequired(message="Select a gender")],
    )
    ethnicity = SelectField(
        "Ethnicity", widget=GovSelect(), choices=ETHNICITY_CHOICES,
        description="ONS 2021 census categories",
        validators=[InputRequired(message="Select an ethnicity from the list")],
    )
    postcode = StringField(
        "Postcode (optional)", widget=GovTextInput(), validators=[Length(max=10)]
    )
    local_authority = SelectField(
        "Local authority where the person lives", widget=GovSelect(),
        choices=choices([("", "Select a local authority"), *LOCAL_AUTHORITIES.items()]),
        validators=[InputRequired(message="Select the local authority where the person lives")],
    )
    pnc_reference = StringField(
        "PNC reference (optional)", widget=GovTextInput(),
        description="Police National Computer ID, for example 12/345678A",
        validators=[Length(max=20)],
    )

    def person_details(self) -> PersonDetails:
        return PersonDetails(
            first_name=self.first_name.data or "", last_name=self.last_name.data or "",
            other_names=self.other_names.data, date_of_birth=self.date_of_birth.data,
            gender=self.gender.data or "", ethnicity=self.ethnicity.data or "",
            local_authority=self.local_authority.data or "", postcode=self.postcode.data,
            pnc_reference=self.pnc_reference.data,
        )


class PersonForm(PersonFields):
    version = VersionField()  # the details it was drawn from
    submission = SubmissionField()  # a double click saves once, and says so
    submit = SubmitField("Save changes", widget=GovSubmitInput())


class ReferralForm(PersonFields):
    submission = SubmissionField()  # a double click records one referral
    referral_date = DateInputField(
        "Referral date", description="For example, 14 11 2026",
        required_message="Enter the referral date",
    )
    # in the page's order, which the error summary follows
    site = SelectField(
        "Site", widget=GovSelect(), choices=[],
        validators=[InputRequired(message="Select a site")],
    )
    source = SelectField(
        "Source", widget=GovSelect(),
        choices=choices([("", "Select a source"), *SOURCES.items()]),
        validators=[InputRequired(message="Select where the referral came from")],
    )
    referrer_name = StringField(
        "Referrer's name", widget=GovTextInput(),
        validators=[InputRequired(message="Enter the referrer's name"), Length(max=120)],
    )
    referrer_organisation = StringField(
        "Referrer's organisation (optional)", widget=GovTextInput(),
        validators=[Length(max=120)],
    )
    reason = TextAreaField(
        "Reason for referral", widget=GovTextArea(),
        description="What has happened and why the person is at risk. Plain text.",
        validators=[
            InputRequired(message="Enter the reason for the referral"),
            Length(max=MAX_REASON_LENGTH,
                   message=f"Reason must be {MAX_REASON_LENGTH} characters or fewer"),
        ],
    )
    risk_indicators = SelectMultipleField(
        "Risk indicators", widget=GovCheckboxesInput(),
        choices=choices(RISK_INDICATORS.items()), validators=[Optional()],
        description="Select all that apply",
    )
    submit = SubmitField("Continue", widget=GovSubmitInput())

    def referral_details(self) -> ReferralDetails:
        return ReferralDetails(
            site_id=whole_number(self.site.data, maximum=2**62),
            referral_date=self.referral_date.data,
            source=self.source.data or "", referrer_name=self.referrer_name.data or "",
            referrer_organisation=self.referrer_organisation.data,
            reason=self.reason.data or "", risk_indicators=list(self.risk_indicators.data or []),
        )


class CloseReferralForm(Form):
    reason = RadioField(
        "Why is this referral being closed?", widget=GovRadioInput(),
        choices=choices(CLOSE_REASONS.items()),
        validators=[InputRequired(message="Select why the referral is being closed")],
    )
    submit = SubmitField("Close referral", widget=GovSubmitInput())


class ReferralFilterForm(Form):
    class Meta:
        csrf = False

    q = StringField("Name or reference", widget=FilterTextInput(), validators=[Length(max=100)])

    def validate_q(self, field):
        text = (field.data or "").strip()
        if text and not searchable(text):
            raise ValidationError("Enter a name or reference using letters (A to Z) or digits")
    status = SelectField(
        "Status", widget=FilterSelect(), validators=[Optional()],
        choices=choices([("", "Any status")] + [(s.value, s.label) for s in ReferralStatus]),
    )
    site = SelectField("Site", widget=FilterSelect(), choices=[], validators=[Optional()])
    source = SelectField(
        "Source", widget=FilterSelect(), validators=[Optional()],
        choices=choices([("", "Any source"), *SOURCES.items()]),
    )
    date_from = DateInputField("Referred from", widget=FilterDateInput())
    date_to = DateInputField("Referred to", widget=FilterDateInput(),
                             validators=[NotBefore("date_from")])
    sort = SelectField(
        "Sort by", widget=FilterSelect(), validators=[Optional()],
        choices=choices([("newest", "Newest first"), ("oldest", "Oldest first"),
                         ("name", "Surname")]),
    )
