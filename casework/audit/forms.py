from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from casework.audit.actions import Action
from casework.forms import DateInputField, Form, choices
from casework.widgets import FilterDateInput, FilterSelect, FilterTextInput


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
    date_from = DateInputField("From", widget=FilterDateInput())
    date_to = DateInputField("To", widget=FilterDateInput())
