from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovPasswordInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import (
    EmailField,
    PasswordField,
    RadioField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import EqualTo, InputRequired, Length

from casework.accounts.roles import Role
from casework.forms import Form, SubmissionField, VersionField, choices

ROLE_CHOICES = choices((role.value, role.label) for role in Role)


class UserDetailsForm(Form):
    version = VersionField()  # the details it was drawn from
    display_name = StringField(
        "Display name", widget=GovTextInput(),
        validators=[InputRequired(message="Enter a display name"), Length(max=120)],
    )
    role = RadioField(
        "Role", choices=ROLE_CHOICES, widget=GovRadioInput(),
        validators=[InputRequired(message="Select a role")],
    )
    sites = SelectMultipleField(
        "Sites", widget=GovCheckboxesInput(), choices=[],
        description="Caseworkers and leads see only the records of their sites.",
    )
    submit = SubmitField("Save", widget=GovSubmitInput())


class NewUserForm(UserDetailsForm):
    submission = SubmissionField()  # a double click adds one user
    email = EmailField(
        "Email address", widget=GovTextInput(),
        validators=[InputRequired(message="Enter an email address"), Length(max=254)],
    )
    password = PasswordField(
        "Initial password", widget=GovPasswordInput(),
        description="At least 12 characters, and hard to guess: three or four random words "
                    "make a good one. Give it to the user in person or by phone: they must "
                    "change it when they first sign in.",
        validators=[InputRequired(message="Enter an initial password")],
    )
    confirm = PasswordField(
        "Confirm initial password", widget=GovPasswordInput(),
        validators=[
            InputRequired(message="Confirm the initial password"),
            EqualTo("password", message="Passwords do not match"),
        ],
    )
    submit = SubmitField("Add user", widget=GovSubmitInput())


class TemporaryPasswordForm(Form):
    password = PasswordField(
        "Temporary password", widget=GovPasswordInput(),
        description="At least 12 characters, and hard to guess: three or four random words "
                    "make a good one. Give it to the user in person or by phone: they must "
                    "change it when they next sign in.",
        validators=[InputRequired(message="Enter a temporary password"),
                    Length(max=256, message="Password must be 256 characters or fewer")],
    )
    confirm = PasswordField(
        "Confirm temporary password", widget=GovPasswordInput(),
        validators=[InputRequired(message="Confirm the temporary password"),
                    EqualTo("password", message="Passwords do not match")],
    )
    submit = SubmitField("Set temporary password", widget=GovSubmitInput())


class ConfirmForm(Form):
    submit = SubmitField("Confirm", widget=GovSubmitInput())


class SiteForm(Form):
    name = StringField(
        "Name", widget=GovTextInput(),
        description="As users know it, for example the local authority: Coventry.",
        validators=[InputRequired(message="Enter the site's name"), Length(max=100)],
    )
    submit = SubmitField("Save", widget=GovSubmitInput())


class NewSiteForm(SiteForm):
    key = StringField(
        "Key", widget=GovTextInput(),
        description="Lower-case letters, digits and underscores, for example coventry. It "
                    "names the site in trial strata, extracts and commands, and cannot be "
                    "changed later.",
        validators=[InputRequired(message="Enter a key"), Length(max=40)],
    )
    submit = SubmitField("Add site", widget=GovSubmitInput())
