"""Filter forms keep the drawings of their blank fields (casework.widgets):
the markup is exactly GOV.UK Frontend's, a value someone typed is never kept,
and the memo stays bounded."""

from __future__ import annotations

import pytest
from govuk_frontend_wtf.wtforms_widgets import GovDateInput, GovSelect, GovTextInput
from werkzeug.datastructures import MultiDict
from wtforms import SelectField, StringField

from casework import widgets
from casework.forms import DateInputField, Form, choices


class Plain(Form):
    class Meta:
        csrf = False

    q = StringField("Name", widget=GovTextInput())
    status = SelectField("Status", widget=GovSelect(),
                         choices=choices([("", "Any"), ("open", "Open"), ("closed", "Closed")]))
    since = DateInputField("Since", widget=GovDateInput())


class Kept(Form):
    class Meta:
        csrf = False

    q = StringField("Name", widget=widgets.FilterTextInput())
    status = SelectField("Status", widget=widgets.FilterSelect(),
                         choices=choices([("", "Any"), ("open", "Open"), ("closed", "Closed")]))
    since = DateInputField("Since", widget=widgets.FilterDateInput())


def _draw(form) -> list[str]:
    return [str(form.q()), str(form.status()), str(form.since())]


@pytest.fixture
def memo():
    widgets.clear_memo()
    yield widgets
    widgets.clear_memo()


@pytest.mark.parametrize("data", [
    {},
    {"status": "closed"},
    {"q": "Zebedee", "since": ["3", "4", "2026"]},
    {"since": ["31", "2", "2026"]},  # an error
])
def test_the_markup_is_govuk_frontends_own(app, memo, data):
    with app.test_request_context("/"):
        formdata = MultiDict([(k, x) for k, v in data.items()
                              for x in (v if isinstance(v, list) else [v])])
        plain, kept = Plain(formdata), Kept(formdata)
        plain.validate(), kept.validate()
        assert _draw(kept) == _draw(plain)
        assert _draw(kept) == _draw(plain)  # drawn again, from the memo where blank


def test_blank_fields_are_drawn_once(app, memo, monkeypatch):
    drawn = []
    original = GovTextInput.render

    def counting(self, params):
        drawn.append(params["name"])
        return original(self, params)

    monkeypatch.setattr(GovTextInput, "render", counting)
    with app.test_request_context("/"):
        for _ in range(3):
            Kept(MultiDict()).q()
    assert drawn == ["q"]
    assert memo.memo_size() == 1


def test_a_chosen_option_is_not_kept(app, memo):
    with app.test_request_context("/"):
        chosen = Kept(MultiDict({"status": "closed"}))
        assert 'value="closed" selected' in str(chosen.status())
        assert not memo.memo_holds('value="closed" selected')
        Kept(MultiDict({"status": ""})).status()  # "any" is as good as blank
        assert memo.memo_size() == 1


def test_a_value_typed_or_an_error_is_never_kept(app, memo, client, login_as):
    login_as("caseworker")
    page = client.get("/referrals?q=Zebedee&date_from=7&date_from=8&date_from=2026")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="Zebedee"' in html and 'value="2026"' in html
    assert memo.memo_size() > 0  # the blank fields of the same form were kept
    assert not memo.memo_holds("Zebedee") and not memo.memo_holds('value="2026"')
    wrong = client.get("/referrals?date_to=99&date_to=99&date_to=2026")
    assert "must be a real date" in wrong.get_data(as_text=True)
    assert not memo.memo_holds("must be a real date")


def test_the_memo_is_bounded(app, memo, monkeypatch):
    monkeypatch.setattr(widgets, "MEMO_SIZE", 5)
    with app.test_request_context("/"):
        for n in range(20):
            form = Kept(MultiDict())
            form.status.label.text = f"Status {n}:"
            form.status()
    assert memo.memo_size() == 5
    assert memo.memo_holds("Status 19:") and memo.memo_holds("Status 15:")
    assert not memo.memo_holds("Status 14:") and not memo.memo_holds("Status 0:")
