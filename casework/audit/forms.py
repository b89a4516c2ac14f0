from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from casework.audit.actions import Action
from casework.forms import DateInputField, Form, NotBefore, choices
from casework.widgets import FilterDateInput, FilterSelect, FilterTextInput

UTC_DAYS = "A day in UTC, as the times in the log are"


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
    subject_type = StringField(
        "Subject type", widget=FilterTextInput(), validators=[Optional(), Length(max=40)]
    )
    subject_id = StringField(
        "Subject id", widget=FilterTextInput(), validators=[Optional(), Length(max=64)]
    )
    # The log's times are shown in UTC, so its days are UTC's too (an event
    # at 00:30 in British Summer Time is shown, and found, on the day before)
    date_from = DateInputField("From", widget=FilterDateInput(), description=UTC_DAYS)
    date_to = DateInputField("To", widget=FilterDateInput(), description=UTC_DAYS,
                             validators=[NotBefore("date_from")])
