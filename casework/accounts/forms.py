from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovSubmitInput, GovTextInput
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import EqualTo, InputRequired, Length

from casework.forms import Form


class LoginForm(Form):
    email = EmailField(
        "Email address",
        widget=GovTextInput(),
        validators=[InputRequired(message="Enter your email address"),
                    Length(max=254, message="Email address must be 254 characters or fewer")],
    )
    password = PasswordField(
        "Password",
        widget=GovPasswordInput(),
        validators=[InputRequired(message="Enter your password"),
                    Length(max=256, message="Password must be 256 characters or fewer")],
    )
    submit = SubmitField("Sign in", widget=GovSubmitInput())


class LogoutForm(Form):
    submit = SubmitField("Sign out", widget=GovSubmitInput())


class ChangePasswordForm(Form):
    current_password = PasswordField(
        "Current password", widget=GovPasswordInput(),
        validators=[InputRequired(message="Enter your current password"),
                    Length(max=256, message="Password must be 256 characters or fewer")],
    )
    password = PasswordField(
        "New password", widget=GovPasswordInput(),
        description="At least 12 characters, and hard to guess: three or four random "
                    "words make a good one.",
        validators=[InputRequired(message="Enter a new password"),
                    Length(max=256, message="Password must be 256 characters or fewer")],
    )
    confirm = PasswordField(
        "Confirm new password", widget=GovPasswordInput(),
        validators=[InputRequired(message="Confirm your new password"),
                    EqualTo("password", message="Passwords do not match")],
    )
    submit = SubmitField("Change password", widget=GovSubmitInput())
