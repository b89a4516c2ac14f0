"""Form pieces shared by every feature."""

from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovDateInput
from werkzeug.datastructures import MultiDict
from wtforms import Field, IntegerField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation


class DateInputField(Field):
    """A GOV.UK date input: three boxes (day, month, year) sharing one name.

    Messages follow the GOV.UK design system ("Date of birth must include a
    month"); what was typed is kept and shown again when it is wrong.
    """

    widget = GovDateInput()

    def __init__(self, label=None, validators=None, *, required_message=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.required_message = required_message
        self.data: date | None = None

    def process_formdata(self, valuelist):
        parts = [str(v).strip() for v in valuelist[:3]]
        parts += [""] * (3 - len(parts))
        self.raw_data = parts
        day, month, year = parts
        self.data = None
        if not any(parts):
            return
        name = self.label.text
        missing = [label for label, value in zip(("day", "month", "year"), parts, strict=True)
                   if not value]
        if missing:
            raise ValueError(f"{name} must include a {' and a '.join(missing)}")
        if not (day.isdigit() and month.isdigit() and year.isdigit()):
            raise ValueError(f"{name} must be a real date, written in numbers")
        if len(year) != 4:
            raise ValueError("Year must include 4 numbers")
        try:
            self.data = date(int(year), int(month), int(day))
        except (ValueError, OverflowError) as error:  # 30 February; a 20-digit day
            raise ValueError(f"{name} must be a real date") from error

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()
        if self.data is None and self.required_message:
            raise StopValidation(self.required_message)

    def _value(self):
        if any(self.raw_data or ()):  # three empty boxes are no value at all
            return " ".join(self.raw_data)
        return self.data.strftime("%d %m %Y") if self.data else ""


def whole_number(text: str | None, *, maximum: int = 1_000_000) -> int | None:
    """``text`` as a whole number from 0 to ``maximum``, or None. ASCII
    digits only: "²".isdigit() is true, but int("²") fails."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        return None
    value = int(text)
    return value if value <= maximum else None


class WholeNumberField(IntegerField):
    """An IntegerField that takes ASCII digits only, at most 12 of them.

    WTForms' own accepts any length, and NumberRange then fails on numbers
    too large for a float (a 500); this refuses them as not a number, with
    the field's ``message``."""

    def __init__(self, label=None, validators=None, *, message: str, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.message = message

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = str(valuelist[0]).strip()
        if not text:
            self.data = None
            return
        self.data = whole_number(text, maximum=10**12)
        if self.data is None:
            raise ValueError(self.message)


def choices(pairs) -> list[SelectChoice]:
    """``(value, label)`` pairs as WTForms choices."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def show_problems(form, problems: dict) -> None:
    """Put a service's ``{field: message}`` problems beside the form's fields;
    problems with no matching field go to the top of the form."""
    for name, message in problems.items():
        field = getattr(form, name, None) if name else None
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)


def _without_nul(formdata):
    """The submitted values with NUL characters taken out (files as they
    are): NUL is never text a person typed, and PostgreSQL refuses it.
    Taken out before the fields see the values, so a required field sent
    only a NUL is missing, as it looks."""
    return MultiDict([(key, value.replace("\x00", "") if isinstance(value, str) else value)
                      for key, value in formdata.items(multi=True)])


class Form(FlaskForm):
    """Every casework form: FlaskForm (CSRF) whose submitted values lose any
    NUL character before the fields read them, so no input can make the
    database refuse a write."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            formdata = super().wrap_formdata(form, formdata)
            return None if formdata is None else _without_nul(formdata)
