"""Form pieces shared by every feature."""

from __future__ import annotations

import re
from datetime import date

from flask import flash, redirect
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovDateInput
from werkzeug.datastructures import MultiDict
from wtforms import Field, FieldList, FormField, HiddenField, IntegerField, SelectMultipleField
from wtforms.fields.choices import SelectChoice, SelectFieldBase
from wtforms.validators import StopValidation

from casework.submissions import AlreadySubmitted, new_key

BOXES = ("day", "month", "year")


class DateInput(GovDateInput):
    """GOV.UK's date input with only the boxes in error marked: all three
    were red when only the month was missing (found by an accessibility
    review); an ``autocomplete`` parameter is each box's (a child's date of
    birth is not kept in the browser's form history)."""

    def map_gov_params(self, field, **kwargs):
        params = super().map_gov_params(field, **kwargs)
        boxes = getattr(field, "boxes_in_error", BOXES)
        autocomplete = params.pop("autocomplete", None)
        for item in params.get("items") or ():
            if autocomplete:
                item["autocomplete"] = autocomplete
            if item.get("id", "").rsplit("-", 1)[-1] not in boxes:
                item["classes"] = " ".join(name for name in item.get("classes", "").split()
                                           if name != "govuk-input--error")
        return params


class DateInputField(Field):
    """A GOV.UK date input: three boxes (day, month, year) sharing one name.

    Messages follow the GOV.UK design system ("Date of birth must include a
    month"); what was typed is kept and shown again when it is wrong.
    """

    widget = DateInput()

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

    @property
    def boxes_in_error(self) -> tuple[str, ...]:
        """The boxes an error is about, which alone are marked (GOV.UK's
        pattern): those left empty ("Date of birth must include a month"),
        the year's for "Year must include 4 numbers", else all three."""
        if not self.errors:
            return ()
        parts = list(self.raw_data or ()) + [""] * 3
        empty = tuple(name for name, value in zip(BOXES, parts, strict=False) if not value)
        if empty and len(empty) < 3:
            return empty
        if self.errors[0].startswith("Year must include"):
            return ("year",)
        return BOXES

    @property
    def focus_id(self) -> str:
        """The box an error message about this date leads to: the first one
        in error, else the day. The field's own id is the boxes' wrapper,
        which takes no focus."""
        return f"{self.id}-{(self.boxes_in_error or BOXES)[0]}"


class NotBefore:
    """A date field's validator: not before the date of the form's field
    ``other`` ("To must be the same as or after From"). A range given the
    wrong way round matched nothing, and a list filtered by it said only
    that nothing matched."""

    def __init__(self, other: str):
        self.other = other

    def __call__(self, form, field):
        start = form[self.other]
        if field.data and start.data and field.data < start.data:
            raise StopValidation(f"{field.label.text} must be the same as or after "
                                 f"{start.label.text}")


class SubmissionField(HiddenField):
    """The key that makes a form which creates a record act once, however
    often it is sent (casework.submissions): new when the form is first
    drawn, then kept in it, through its errors and the duplicates page."""

    def __init__(self, **kwargs):
        super().__init__(default=new_key, **kwargs)


class VersionField(HiddenField):
    """What the record was (database.row_version of its editable values)
    when its edit form was drawn; the save is refused if it has changed
    since (database.ChangedMeanwhile), so nobody's change is put back
    unseen from a page opened before it."""


def sent_again(sent: AlreadySubmitted, to: str):
    """The answer to a form sent again (a double click: ``submissions``):
    the page ``to`` of what the first sending made, saying it was saved
    once (or only that the form was sent, if its key is someone else's)."""
    flash("This was already saved: it is recorded once" if sent.earlier.subject_id
          else "This form was already sent", "info")
    return redirect(to)


def changed_meanwhile(form, error) -> None:
    """Draw ``form`` again after a ChangedMeanwhile: what was typed kept,
    the problem at its top, and the record's version now (so saving again
    replaces the other change knowingly)."""
    form.version.data = error.version
    form.form_errors.append(str(error))


def whole_number(text: str | None, *, maximum: int = 1_000_000) -> int | None:
    """``text`` as a whole number from 0 to ``maximum``, or None. ASCII
    digits only: "²".isdigit() is true, but int("²") fails."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        return None
    value = int(text)
    return value if value <= maximum else None


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path of this site that a redirect may go to
    (a sign-in's ``next``, a form's ``back``), else None. Not another site's
    (``https://...``, ``//...``, or ``/\\...``, which browsers read as
    ``//``), and no control characters: with a CR or LF a redirect's
    Location header could not be sent, and the page answered 500 (found by
    review, at sign-in, then in a reassignment's ``back``)."""
    if not target or not target.startswith("/") or target.startswith("//") \
            or "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    return target  # from "/" on, neither a scheme nor another host


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
        if name and hasattr(form, "problem_at"):  # the form says which field a path names
            field, message = form.problem_at(name, message)
        else:
            field = getattr(form, name, None) if name else None
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)
    errors_again(form)


def show_more_problems(form, problems: dict) -> None:
    """Put a service's ``{field: message}`` problems beside the fields of
    ``form`` that have none of the form's own (``show_problems``), for a
    form that failed its own checks and so was never sent to the service:
    what only the service checks (a postcode's format, a name of spaces,
    a weak password) was said only once the form's own errors were put
    right, one round after another, where GOV.UK's pattern lists every
    problem at once (found by review). Problems of the form as a whole,
    or of a field it already has an error for, are left for then; a field
    with no problem may be given as None."""
    show_problems(form, {name: message for name, message in problems.items()
                         if name and message and (field := getattr(form, name, None)) is not None
                         and isinstance(field, Field) and not field.errors})


def errors_again(form) -> None:
    """Have ``form.errors`` count errors put on its fields after it was
    validated (a service's problems): WTForms keeps a form's errors once
    read, and a field list's as its entries' were when it was validated, so
    a problem put on a nested field was shown but the page answered 200."""
    for field in form:
        if isinstance(field, FieldList):
            for entry in field.entries:
                if isinstance(entry, FormField):
                    errors_again(entry.form)
            entries = [entry.errors for entry in field.entries]
            own = [error for error in field.errors if isinstance(error, str)]
            field.errors = (entries if any(entries) else []) + own
        elif isinstance(field, FormField):
            errors_again(field.form)
    form._errors = None


def refused(form, problem: str | None) -> bool:
    """Whether ``problem`` (why what ``form`` asks cannot be done now: it was
    decided, ended or fixed since the page was drawn) stops it. A form sent
    despite it gets the problem at its top, in place of its fields' own
    checks, which would point at fields the page no longer shows."""
    if problem and form.is_submitted():
        form.form_errors.append(problem)
    return problem is not None


def error_summary(forms) -> list[dict]:
    """The GOV.UK error summary's items for every form of a page: each
    field's first error, linked to the input it is about (nested forms'
    fields too), then each form's own errors, linked to nothing."""
    items: list[dict] = []
    for form in forms:
        if form:
            items += _problems(form)
    return items


def _problems(form) -> list[dict]:
    items = []
    for field in form:
        if isinstance(field, FieldList):
            items += [{"text": message, "href": f"#{_first_input(field)}"}
                      for message in field.errors if isinstance(message, str)][:1]
            for entry in field:
                items += (_problems(entry.form) if isinstance(entry, FormField)
                          else _field_problem(entry))
        elif isinstance(field, FormField):
            items += _problems(field.form)
        else:
            items += _field_problem(field)
    return items + [{"text": message} for message in form.form_errors]


def _field_problem(field) -> list[dict]:
    if not field.errors:
        return []
    return [{"text": field.errors[0], "href": f"#{_first_input(field)}"}]


def _first_input(field) -> str:
    """The id of the input a message about ``field`` leads to."""
    if isinstance(field, FieldList):
        return _first_input(field.entries[0]) if field.entries else field.id
    if isinstance(field, FormField):
        return _first_input(next(iter(field.form)))
    return getattr(field, "focus_id", field.id)


def _without_nul(formdata):
    """The submitted values with NUL characters taken out (files as they
    are): NUL is never text a person typed, and PostgreSQL refuses it.
    Taken out before the fields see the values, so a required field sent
    only a NUL is missing, as it looks."""
    return MultiDict([(key, value.replace("\x00", "") if isinstance(value, str) else value)
                      for key, value in formdata.items(multi=True)])


# WTForms' own messages name no field ("Field cannot be longer than 100
# characters."), and the error summary lists them away from their fields:
# each is said again naming its field, in the GOV.UK way.
_LIBRARY_MESSAGES = (
    (re.compile(r"Field cannot be longer than (\d+) characters?\."),
     "{label} must be {0} characters or fewer"),
    (re.compile(r"Field must be at least (\d+) characters? long\."),
     "{label} must be {0} characters or more"),
    (re.compile(r"Field must be between (\d+) and (\d+) characters long\."),
     "{label} must be between {0} and {1} characters"),
    (re.compile(r"Not a valid choice\.?"), "{label} must be one of the options"),
    (re.compile(r"'.*' is not a valid choice for this field\.|"
                r"'.*' are not valid choices for this field\."),
     "{label} must be among those listed"),
)


def _named(field, message) -> str:
    if not isinstance(message, str):
        return message
    for pattern, sentence in _LIBRARY_MESSAGES:
        found = pattern.fullmatch(message)
        if found:
            label = field.label.text.removesuffix(" (optional)")
            return sentence.format(*found.groups(), label=label)
    return message


class Form(FlaskForm):
    """Every casework form: FlaskForm (CSRF) whose submitted values lose any
    NUL character before the fields read them, so no input can make the
    database refuse a write.

    A form drawn on a page beside another sets ``Meta.id_prefix``: its
    fields' ids (and so their labels' and the error summary's links) then
    differ from the other form's, whose CSRF token and button share their
    names. The names sent are unchanged. (govuk-frontend-wtf draws radios',
    checkboxes' and date boxes' ids from the field's name, not its id: a form
    with those takes no prefix.)"""

    class Meta(FlaskForm.Meta):
        id_prefix = ""

        def bind_field(self, form, unbound_field, options):
            if self.id_prefix:
                options = {**options,
                           "id": f"{self.id_prefix}{options.get('prefix', '')}{options['name']}"}
            return super().bind_field(form, unbound_field, options)

        def wrap_formdata(self, form, formdata):
            formdata = super().wrap_formdata(form, formdata)
            return None if formdata is None else _without_nul(formdata)

    def validate(self, extra_validators=None) -> bool:
        """Choices as WTForms checks them, and what its ``Optional`` let
        through: a choice sent as spaces counted as none, but the field kept
        the spaces, and a view read them as a site's id (``?site=%20``: a
        500); a list of choices whose first is blank was not checked at all.
        A blank choice is no choice; any other not offered is refused."""
        valid = super().validate(extra_validators)
        for field in self:
            if isinstance(field, SelectMultipleField) and field.data:
                field.data = [value for value in field.data
                              if not isinstance(value, str) or value.strip()]
                offered = {str(choice[0]) for choice in field.iter_choices()} \
                    if field.validate_choice and not field.errors else None
                if offered is not None and any(str(value) not in offered
                                               for value in field.data):
                    field.errors = [*field.errors, f"{field.label.text} must be among "
                                                   "those listed"]
                    valid = False
            elif isinstance(field, SelectFieldBase) and isinstance(field.data, str) \
                    and not field.data.strip():
                field.data = ""
        if not valid:
            for field in self:
                if field.errors and not isinstance(field, FieldList | FormField):
                    field.errors = [_named(field, error) for error in field.errors]
            errors_again(self)
        return valid
