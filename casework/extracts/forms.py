from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
)
from wtforms import RadioField, SelectField, SelectMultipleField, SubmitField
from wtforms.validators import InputRequired, Optional

from casework.extracts.services import ExtractRequest
from casework.forms import DateInputField, Form, choices

LEVELS = {"0": "Most detail: month, narrow age bands, ethnic group",
          "1": "Less: quarter, under 18 / 18-24 / 25+, ethnic group",
          "2": "Least: year, under 25 / 25+, no gender or ethnicity"}


class ExtractForm(Form):
    """Read from the query string for the preview and posted (with CSRF)
    for the download."""

    trial = SelectField("Trial", widget=GovSelect(), choices=[],
                        validators=[InputRequired(message="Select a trial")])
    sites = SelectMultipleField("Sites", widget=GovCheckboxesInput(), choices=[],
                                validators=[Optional()],
                                description="Leave all unticked for every site of the trial")
    date_from = DateInputField("From")
    date_to = DateInputField("To")
    unit = RadioField("One row per", widget=GovRadioInput(),
                      choices=choices([("person", "Randomised person"),
                                       ("referral", "Referral")]),
                      validators=[InputRequired(message="Select person or referral rows")])
    level = RadioField("Detail", widget=GovRadioInput(), choices=choices(LEVELS.items()),
                       validators=[InputRequired(message="Select a level of detail")])
    format = RadioField("Format", widget=GovRadioInput(),
                        choices=choices([("csv", "CSV"), ("jsonl", "JSON Lines")]),
                        validators=[InputRequired(message="Select a format")])
    key = RadioField("Pseudonyms", widget=GovRadioInput(),
                     choices=choices([("project", "Project key: the same pseudonyms as "
                                                  "other project extracts"),
                                      ("one_off", "One-off key: pseudonyms that link to no "
                                                  "other extract")]),
                     validators=[InputRequired(message="Select the pseudonym key")])
    submit = SubmitField("Download", widget=GovSubmitInput())

    def request(self) -> ExtractRequest:
        return ExtractRequest(
            trial_id=int(self.trial.data), site_ids=tuple(int(s) for s in self.sites.data or []),
            date_from=self.date_from.data, date_to=self.date_to.data, unit=self.unit.data,
            format=self.format.data, level=int(self.level.data),
            per_extract_key=self.key.data == "one_off")


class TrialChoiceForm(Form):
    """The trial whose aggregates and CONSORT flow are shown (a GET that
    changes nothing: no CSRF)."""

    trial = SelectField("Trial", widget=GovSelect(), choices=[])
