from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
)
from wtforms import BooleanField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from casework.forms import DateInputField, Form, SubmissionField, VersionField, choices
from casework.notes.reference import CONTACT_TYPES, MAX_BODY_LENGTH, MAX_REASON_LENGTH, NoteKind
from casework.notes.services import NoteContent
from casework.widgets import FilterTextInput

ATTENDED = {"yes": "Yes", "no": "No, did not attend"}


class NoteFields(Form):
    body = TextAreaField(
        "Note", widget=GovTextArea(),
        description=f"Plain text, up to {MAX_BODY_LENGTH:,} characters",
        # its length is checked by the service, whose message says how long it is
    )
    contact_date = DateInputField("Date of the contact (contacts only)")
    contact_type = RadioField("Type of contact (contacts only)", widget=GovRadioInput(),
                              choices=choices(CONTACT_TYPES.items()), validators=[Optional()])
    attended = RadioField("Did the person attend? (contacts only)", widget=GovRadioInput(),
                          choices=choices(ATTENDED.items()), validators=[Optional()])

    def content(self) -> NoteContent:
        return NoteContent(
            body=self.body.data or "", contact_date=self.contact_date.data,
            contact_type=self.contact_type.data or None,
            attended={"yes": True, "no": False}.get(self.attended.data),
        )

    def fill_from(self, note) -> None:
        self.body.data = note.body
        self.contact_date.data = note.contact_date
        self.contact_type.data = note.contact_type
        self.attended.data = {True: "yes", False: "no"}.get(note.attended)


class NewNoteForm(NoteFields):
    submission = SubmissionField()  # a double click records one note or contact
    kind = RadioField("What are you recording?", widget=GovRadioInput(),
                      choices=choices((k.value, k.label) for k in NoteKind),
                      validators=[Optional()])
    restricted = BooleanField(
        "Restricted: only you and leads can read it", widget=GovCheckboxInput(),
    )
    submit = SubmitField("Save", widget=GovSubmitInput())


class AmendForm(NoteFields):
    version = VersionField()  # the revision it was drawn from
    reason = TextAreaField(
        "Why are you amending it?", widget=GovTextArea(),
        validators=[Length(max=MAX_REASON_LENGTH,
                           message=f"The reason must be {MAX_REASON_LENGTH:,} characters or "
                                   "fewer")],
    )
    submit = SubmitField("Save amendment", widget=GovSubmitInput())


class SearchForm(Form):
    class Meta:
        csrf = False

    q = StringField("Search notes", widget=FilterTextInput(), validators=[Length(max=200)])
