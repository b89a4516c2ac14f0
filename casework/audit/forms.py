import re

from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from casework.audit.actions import Action
from casework.forms import DateInputField, Form, NotBefore, choices
from casework.widgets import FilterDateInput, FilterSelect, FilterTextInput

UTC_DAYS = "A day in UTC, as the times in the log are"

# What the log's events are about (audit.record's subject_type), each
# named by a number but the offence, by its catalogue key
SUBJECT_TYPES = ("allocation", "assessment", "diversion_case", "exclusion", "note", "offence",
                 "outcome_code", "pathway_proposal", "person", "referral", "site", "triage",
                 "trial", "user")
KEYED_SUBJECT = "offence"
_OFFENCE_KEY = re.compile(r"[a-z0-9_]{1,60}")
MAX_ID_DIGITS = 18  # a 64-bit integer's


class AuditFilterForm(Form):
    """Filters arrive in the query string (GET), so there is no CSRF token."""

    class Meta:
        csrf = False

    # an email address, not a list of every user: a national service has thousands
    actor = StringField("Who (email address)", widget=FilterTextInput(),
                        validators=[Optional(), Length(max=254)])
    action = SelectField(
        "Action",
        widget=FilterSelect(),
        choices=choices([("", "Any action")] + [(a.value, a.value) for a in Action]),
        validators=[Optional()],
    )
    # chosen, and a number (a key): the filters are kept in the log's own
    # audit:viewed event, which holds no free text (a name or a disclosure
    # typed into a box stayed there for good: found by review)
    subject_type = SelectField(
        "Subject type", widget=FilterSelect(),
        choices=choices([("", "Any subject type")] + [(t, t) for t in SUBJECT_TYPES]),
        validators=[Optional()],
    )
    subject_id = StringField(
        "Subject id", widget=FilterTextInput(),
        description="A number, as the log shows it; an offence's is its key, such as "
                    "common_assault",
        validators=[Optional(), Length(max=60, message="Subject id must be 60 characters or "
                                                       "fewer")],
    )
    # The log's times are shown in UTC, so its days are UTC's too (an event
    # at 00:30 in British Summer Time is shown, and found, on the day before)
    date_from = DateInputField("From", widget=FilterDateInput(), description=UTC_DAYS)
    date_to = DateInputField("To", widget=FilterDateInput(), description=UTC_DAYS,
                             validators=[NotBefore("date_from")])

    def validate_subject_id(self, field) -> None:
        value = (field.data or "").strip()
        if not value:
            return
        if self.subject_type.data == KEYED_SUBJECT:
            if not _OFFENCE_KEY.fullmatch(value):
                raise ValidationError("An offence's subject id is its key: lower-case letters, "
                                      "digits and underscores, such as common_assault")
        elif not (value.isascii() and value.isdigit()) or len(value) > MAX_ID_DIGITS:
            raise ValidationError(f"Subject id must be a number of {MAX_ID_DIGITS} digits or "
                                  "fewer, such as 42")

    def subject_id_value(self) -> str | None:
        """The subject id as events hold it (a number without leading
        zeros), once validated."""
        value = (self.subject_id.data or "").strip()
        if not value:
            return None
        return value if self.subject_type.data == KEYED_SUBJECT else str(int(value))
