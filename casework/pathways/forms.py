from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
)
from wtforms import RadioField, SelectField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from casework.forms import DateInputField, Form, SubmissionField, VersionField, choices
from casework.pathways.services import MAX_TEXT_LENGTH, MoveRequest
from casework.pathways.states import EXIT_REASONS
from casework.widgets import FilterDateInput


class MoveForm(Form):
    version = VersionField()  # the pathway it was drawn from
    submission = SubmissionField()  # a double click moves once, and says so
    target = RadioField("Move to", widget=GovRadioInput(), choices=[],
                        validators=[InputRequired(message="Select where the person is moving to")])
    effective_date = DateInputField("Date the move took effect",
                                    description="For example, 3 11 2026",
                                    required_message="Enter the date the move took effect")
    exit_reason = SelectField(
        "Reason for leaving (when exiting)", widget=GovSelect(), validators=[Optional()],
        choices=choices([("", "Select a reason"), *list(EXIT_REASONS.items())]),
    )
    rationale = TextAreaField(
        "Rationale", widget=GovTextArea(),
        description="Needed to propose disruption, and for a lead's decisions and reopenings",
        validators=[Length(max=MAX_TEXT_LENGTH,
                           message=f"The rationale must be {MAX_TEXT_LENGTH} characters or fewer")],
    )
    submit = SubmitField("Record the move", widget=GovSubmitInput())

    def request(self) -> MoveRequest:
        return MoveRequest(target=self.target.data, effective_date=self.effective_date.data,
                           exit_reason=self.exit_reason.data or None,
                           rationale=self.rationale.data, based_on=self.version.data,
                           submission=self.submission.data)


class ProposalDecisionForm(Form):
    decision = RadioField("Decision", widget=GovRadioInput(),
                          choices=choices([("approve", "Approve"), ("reject", "Reject")]),
                          validators=[InputRequired(message="Select approve or reject")])
    note = TextAreaField(
        "Why (needed to reject)", widget=GovTextArea(),
        validators=[Length(max=MAX_TEXT_LENGTH,
                           message=f"The note must be {MAX_TEXT_LENGTH} characters or fewer")],
    )
    submit = SubmitField("Record decision", widget=GovSubmitInput())


class DeviationForm(Form):
    submission = SubmissionField()  # a double click records one deviation
    occurred_on = DateInputField("Date of the contact", required_message="Enter the date of the "
                                                                         "contact")
    description = TextAreaField(
        "What happened", widget=GovTextArea(),
        validators=[InputRequired(message="Describe the contact"),
                    Length(max=MAX_TEXT_LENGTH,
                           message=f"The description must be {MAX_TEXT_LENGTH} characters or "
                                   "fewer")],
    )
    submit = SubmitField("Record protocol deviation", widget=GovSubmitInput())


class SummaryForm(Form):
    class Meta:
        csrf = False

    date_from = DateInputField("Moves from", widget=FilterDateInput())
    date_to = DateInputField("Moves to", widget=FilterDateInput())
