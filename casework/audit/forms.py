from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovTextInput
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from casework.audit.actions import Action
from casework.forms import DateInputField, Form, choices


class AuditFilterForm(Form):
    """Filters arrive in the query string (GET), so there is no CSRF token."""

    class Meta:
        csrf = False

    actor = SelectField("Who", widget=GovSelect(), choices=[], validators=[Optional()])
    action = SelectField(
        "Action",
        widget=GovSelect(),
        choices=choices([("", "Any action")] + [(a.value, a.value) for a in Action]),
        validators=[Optional()],
    )
    subject_type = StringField(
        "Subject type", widget=GovTextInput(), validators=[Optional(), Length(max=40)]
    )
    subject_id = StringField(
        "Subject id", widget=GovTextInput(), validators=[Optional(), Length(max=64)]
    )
    date_from = DateInputField("From")
    date_to = DateInputField("To")
