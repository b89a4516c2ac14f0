from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
)
from wtforms import RadioField, SelectField, SelectMultipleField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from casework.caseload.models import REVIEW_OUTCOMES
from casework.caseload.services import ReviewDetails
from casework.forms import DateInputField, Form, SubmissionField, choices
from casework.widgets import FilterSelect


class SiteForm(Form):
    class Meta:
        csrf = False

    site = SelectField("Site", widget=FilterSelect(), choices=[], validators=[Optional()])


class ReassignForm(Form):
    """The people come from the case list's checkboxes (name "people"),
    drawn by the list, the first with this field's id; the field holds their
    problems ("Select at least one case"), which the view reads the people
    for itself."""

    people = SelectMultipleField("Cases", choices=[], validate_choice=False)
    to_user = SelectField("Reassign the selected cases to", widget=GovSelect(), choices=[],
                          validators=[Optional()])
    reason = TextAreaField("Reason", widget=GovTextArea(),
                           validators=[Length(max=2000, message="The reason must be 2000 "
                                                                "characters or fewer")])
    submit = SubmitField("Reassign", widget=GovSubmitInput())


class ReviewForm(Form):
    submission = SubmissionField()  # a double click records one review
    reviewed_on = DateInputField("Date of the review", required_message="Enter the date of "
                                                                        "the review")
    outcome = RadioField("Outcome", widget=GovRadioInput(),
                         choices=choices(REVIEW_OUTCOMES.items()),
                         validators=[InputRequired(message="Select the outcome of the review")])
    next_review_on = DateInputField("Next review", required_message="Enter the date of the "
                                                                    "next review")
    note = TextAreaField("Note (optional)", widget=GovTextArea(),
                         validators=[Length(max=5000, message="The note must be 5000 "
                                                              "characters or fewer")])
    submit = SubmitField("Record review", widget=GovSubmitInput())

    def details(self) -> ReviewDetails:
        return ReviewDetails(self.reviewed_on.data, self.outcome.data,
                             self.next_review_on.data, self.note.data, self.submission.data)
