from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovSubmitInput, GovTextInput
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import InputRequired, Length

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
