from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovCheckboxInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    RadioField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional

from casework.eligibility import cirv
from casework.forms import Form, SubmissionField, VersionField, choices
from casework.triage.exclusions import TITLE_LENGTH
from casework.triage.services import MAX_TEXT_LENGTH, RECOMMENDATIONS, TriageFacts

PANEL = {"yes": "Yes, the panel confirmed it", "no": "No, the panel did not confirm it",
         "not_yet": "Not yet considered by the panel"}
PANEL_VALUES = {"yes": True, "no": False, "not_yet": None}


class TriageForm(Form):
    version = VersionField()  # the facts a change was drawn from (NEW_TRIAGE: none yet)
    submission = SubmissionField()  # a double click saves once, and says so
    group_violence_evidence = SelectMultipleField(
        "Evidence of group-related violence", widget=GovCheckboxesInput(),
        choices=choices(cirv.EVIDENCE.items()), validators=[Optional()],
        description="Select all that apply",
    )
    panel_confirmed = RadioField(
        "Has the triage panel confirmed group-related violence?", widget=GovRadioInput(),
        choices=choices(PANEL.items()),
        validators=[InputRequired(message="Select whether the panel has confirmed it")],
    )
    # the exclusions admins keep (exclusions.choices_for): offer_exclusions
    exclusions = SelectMultipleField(
        "Exclusions", widget=GovCheckboxesInput(), choices=[], validators=[Optional()],
        description="Select any that apply. Leave blank if none do.",
    )
    recommendation = RadioField(
        "Your recommendation", widget=GovRadioInput(), choices=choices(RECOMMENDATIONS.items()),
        validators=[InputRequired(message="Select your recommendation")],
    )
    recommendation_note = TextAreaField(
        "Notes for the lead (optional)", widget=GovTextArea(),
        validators=[Length(max=MAX_TEXT_LENGTH,
                           message=f"The note must be {MAX_TEXT_LENGTH} characters or fewer")],
    )
    submit = SubmitField("Save triage", widget=GovSubmitInput())

    def offer_exclusions(self, pairs) -> None:
        """Offer these exclusions, ``(key, title)`` pairs."""
        self.exclusions.choices = choices(pairs)

    def fill_from(self, triage) -> None:
        self.group_violence_evidence.data = list(triage.group_violence_evidence or [])
        self.panel_confirmed.data = next(k for k, v in PANEL_VALUES.items()
                                         if v is triage.panel_confirmed)
        self.exclusions.data = list(triage.exclusions or [])
        self.recommendation.data = triage.recommendation
        self.recommendation_note.data = triage.recommendation_note

    def facts(self) -> TriageFacts:
        return TriageFacts(
            group_violence_evidence=list(self.group_violence_evidence.data or []),
            panel_confirmed=PANEL_VALUES[self.panel_confirmed.data],
            exclusions=list(self.exclusions.data or []),
            recommendation=self.recommendation.data or "",
            recommendation_note=self.recommendation_note.data,
        )


class DecisionForm(Form):
    # the facts, and the rules' result on them, the page showed
    # (services.decision_version): a decision is on what the lead read
    version = VersionField()
    submission = SubmissionField()  # a double click decides once, and says so
    decision = RadioField(
        "Decision", widget=GovRadioInput(),
        choices=choices([("eligible", "Eligible: randomise now"), ("ineligible", "Ineligible")]),
        validators=[InputRequired(message="Select eligible or ineligible")],
    )
    rationale = TextAreaField(
        "Rationale", widget=GovTextArea(),
        description="Needed when your decision differs from the rules' result",
        validators=[Length(max=MAX_TEXT_LENGTH,
                           message=f"The rationale must be {MAX_TEXT_LENGTH} characters or fewer")],
    )
    submit = SubmitField("Record decision", widget=GovSubmitInput())


class ExclusionForm(Form):
    """An exclusion's title, and whether triage offers it (its key never changes)."""

    version = VersionField()  # the exclusion it was drawn from
    title = StringField(
        "Title", widget=GovTextInput(),
        description="As caseworkers and leads read it at triage and in C5's result.",
        validators=[InputRequired(message="Enter the exclusion's title"),
                    Length(max=TITLE_LENGTH,
                           message=f"The title must be {TITLE_LENGTH} characters or fewer")],
    )
    offered = BooleanField(
        "Offered at triage", widget=GovCheckboxInput(),
        description="Not offered, it is no longer shown on new triages; triages that "
                    "recorded it keep it, and it still counts against CIRV there.",
    )
    submit = SubmitField("Save", widget=GovSubmitInput())


class NewExclusionForm(Form):
    submission = SubmissionField()  # a double click adds one
    title = StringField(
        "Title", widget=GovTextInput(),
        description="For example, Already in another focused-deterrence programme. Its key, "
                    "which triages store, is made from it and never changes.",
        validators=[InputRequired(message="Enter the exclusion's title"),
                    Length(max=TITLE_LENGTH,
                           message=f"The title must be {TITLE_LENGTH} characters or fewer")],
    )
    submit = SubmitField("Add exclusion", widget=GovSubmitInput())
