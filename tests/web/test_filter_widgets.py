"""Filter forms keep the drawings of their blank fields, and pages their
GOV.UK furniture (casework.widgets): the markup is exactly GOV.UK Frontend's,
a value someone typed or the signed-in user's name is never kept, and the
memo stays bounded."""

from __future__ import annotations

import re

import pytest
from govuk_frontend_wtf.wtforms_widgets import GovDateInput, GovSelect, GovTextInput
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import SelectField, StringField

from casework import widgets
from casework.forms import DateInputField, Form, choices
from casework.intake import referral_status_tag
from casework.intake.reference import ReferralStatus


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
    {"q": "\"<O'Neil & Sons>\" ", "since": ["1", "12", "2025"]},  # escaped as the macro does
    {"q": "casework-typed-0 casework-typed-1"},  # a value that looks like a marker
    {"since": ["1", "casework-typed-0", "2026"]},  # the same, in an error
])
def test_the_markup_is_govuk_frontends_own(app, memo, data):
    with app.test_request_context("/"):
        formdata = MultiDict([(k, x) for k, v in data.items()
                              for x in (v if isinstance(v, list) else [v])])
        plain, kept = Plain(formdata), Kept(formdata)
        plain.validate(), kept.validate()
        assert _draw(kept) == _draw(plain)
        assert _draw(kept) == _draw(plain)  # drawn again, from the memo where blank


@pytest.fixture
def drawings(monkeypatch):
    """``drawings(GovTextInput)``: the names of the fields that widget class
    draws (rather than takes from the memo) from now on."""

    def watch(widget_class) -> list[str]:
        drawn = []
        original = widget_class.render

        def counting(self, params):
            drawn.append(params["name"])
            return original(self, params)

        monkeypatch.setattr(widget_class, "render", counting)
        return drawn

    return watch


def test_blank_fields_are_drawn_once(app, memo, drawings):
    drawn = drawings(GovTextInput)
    with app.test_request_context("/"):
        for _ in range(3):
            Kept(MultiDict()).q()
    assert drawn == ["q"]
    assert memo.memo_size() == 1


def test_a_date_left_empty_in_a_submitted_form_is_kept(app, memo, drawings):
    with app.test_request_context("/"):
        plain = str(Plain(MultiDict()).since())
    drawn = drawings(GovDateInput)
    with app.test_request_context("/"):
        for _ in range(3):  # a name searched for; the dates left empty
            form = Kept(MultiDict({"q": "Zebedee"}))
            form.validate()
            assert str(form.since()) == plain
    assert drawn == ["since"]
    assert not memo.memo_holds("Zebedee")



def test_typed_values_share_one_drawing_and_are_never_kept(app, memo, drawings):
    drawn = drawings(GovTextInput)
    typed = (" ", "Zebedee", "Ada Lovelace", "<b>bold</b>", "casework-typed-0")
    with app.test_request_context("/"):
        for value in typed:
            formdata = MultiDict({"q": value})
            plain, kept = Plain(formdata), Kept(formdata)
            plain.validate(), kept.validate()
            assert str(kept.q()) == str(plain.q())
    assert drawn.count("q") == len(typed) + 1  # each plain field, and the kept one once
    assert memo.memo_size() == 1  # no one fills the memo by searching
    assert not any(memo.memo_holds(value) for value in ("Zebedee", "Ada", "bold"))


def test_typed_dates_share_one_drawing(app, memo, drawings):
    drawn = drawings(GovDateInput)
    with app.test_request_context("/"):
        for day in ("3", "4", "5"):
            form = Kept(MultiDict([("since", day), ("since", "4"), ("since", "2026")]))
            form.validate()
            assert f'value="{day}"' in str(form.since())
    assert drawn == ["since"]
    assert not memo.memo_holds('value="2026"')


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


# the page's furniture: kept("phase-banner", {...}) and the like

COMPONENTS = [
    ("phase-banner", "govukPhaseBanner", {"tag": {"text": "Beta"}, "html": "New <b>service</b>"}),
    ("tag", "govukTag", {"text": "Closed", "classes": "govuk-tag--grey"}),
    ("tag", "govukTag", {"text": "Fish & chips"}),
    ("button", "govukButton", {"text": "Add a user", "href": "/admin/users/new"}),
    ("button", "govukButton", {"text": "Apply", "classes": "govuk-button--secondary"}),
    ("service-navigation", "govukServiceNavigation", {
        "serviceName": "casework", "serviceUrl": "/",
        "navigation": [{"href": "/referrals", "text": "Referrals", "active": True},
                       {"href": "/audit", "text": "Audit log", "active": False}]}),
]


def _macro(app, component: str, macro: str, params: dict) -> str:
    template = app.jinja_env.from_string(
        f'{{% from "govuk_frontend_jinja/components/{component}/macro.html" import {macro} %}}'
        f"{{{{ {macro}(params) }}}}")
    return template.render(params=params)


@pytest.mark.parametrize(("component", "macro", "params"), COMPONENTS)
def test_a_kept_component_is_govuk_frontends_own_drawing(app, memo, component, macro, params):
    with app.test_request_context("/"):
        expected = _macro(app, component, macro, params)
        assert str(widgets.kept(component, params)) == expected
        assert str(widgets.kept(component, params)) == expected  # from the memo
    assert memo.memo_size() == 1


@pytest.mark.parametrize("status", list(ReferralStatus))
def test_a_referrals_status_tag_is_govuk_frontends_own_drawing(app, memo, status):
    params = {"text": status.label, "classes": "govuk-tag--grey" if status == "closed" else ""}
    with app.test_request_context("/"):
        assert str(referral_status_tag(status)) == _macro(app, "tag", "govukTag", params)
        assert referral_status_tag(status) is referral_status_tag(status)


def test_a_slots_marker_is_made_once_and_only_of_a_slot_name():
    assert widgets._slot_marker("v0") == Markup("<!--casework-slot:v0-->")
    assert widgets._slot_marker("h2_0") is widgets._slot_marker("h2_0")
    for name in ("", "v0-->", "<b>", "v 0"):
        with pytest.raises(ValueError, match="not a slot name"):
            widgets._slot_marker(name)


def test_slots_are_drawn_each_time_and_never_kept(app, memo):
    params = dict(COMPONENTS[-1][2])
    with app.test_request_context("/"):
        for name in ("Ada Lovelace", "Grace <Hopper>"):
            slot = Markup("<li>{}</li>").format(name)
            expected = _macro(app, "service-navigation", "govukServiceNavigation",
                              {**params, "slots": {"navigationEnd": slot}})
            assert str(widgets.kept("service-navigation", params,
                                    slots={"navigationEnd": slot})) == expected
        assert "Grace &lt;Hopper&gt;" in expected
        # not signed in: no slot at all, as the macro draws an empty one
        assert str(widgets.kept("service-navigation", params, slots={"navigationEnd": ""})) == \
            _macro(app, "service-navigation", "govukServiceNavigation",
                   {**params, "slots": {"navigationEnd": ""}})
        # a slot given as plain text is escaped, not trusted
        plain = widgets.kept("service-navigation", params, slots={"navigationEnd": "<script>"})
        assert "<script>" not in str(plain) and "&lt;script&gt;" in str(plain)
    assert memo.memo_size() == 2  # with and without the slot's marker
    assert not memo.memo_holds("Lovelace") and not memo.memo_holds("Hopper")


def test_only_the_listed_components_are_kept(app, memo):
    with app.test_request_context("/"), pytest.raises(KeyError):
        widgets.kept("summary-list", {"rows": []})  # only through summary_list
    with app.test_request_context("/"), pytest.raises(KeyError):
        widgets.kept("table", {"rows": []})


def test_a_page_keeps_its_furniture_not_its_user(app, memo, client, login_as):
    login_as("lead", display_name="Zephaniah Quill")
    page = client.get("/referrals").get_data(as_text=True)
    assert "Zephaniah Quill (lead)" in page
    assert 'class="govuk-service-navigation' in page and 'class="govuk-footer' in page
    assert memo.memo_holds('class="govuk-service-navigation') and \
        memo.memo_holds("Sign out") is False
    assert not memo.memo_holds("Zephaniah") and not memo.memo_holds("csrf_token")
    assert re.search(r'active-fallback">\s*Referrals', page)
    other = client.get("/audit/").get_data(as_text=True)  # the current link moves
    assert re.search(r'active-fallback">\s*Audit log', other)
    assert not re.search(r'active-fallback">\s*Referrals', other)


def test_pages_are_plain_ascii_when_their_data_is(app, client, login_as):
    """The furniture's own characters (the title's dash, the footer's
    separator) are written as references, so a page is
    ASCII throughout unless a record's own text is not: Python then keeps
    and encodes it byte for byte. Each says what it said before."""
    login_as("lead", display_name="Zephaniah Quill")
    for path in ("/referrals", "/dashboard", "/caseload", "/audit/"):
        page = client.get(path).get_data(as_text=True)
        assert page.isascii(), (path, {ch for ch in page if not ch.isascii()})
    assert "&ndash; casework</title>" in page
    assert "casework &middot; West Midlands Violence Reduction Partnership" in page


def test_the_service_navigation_is_govuk_frontends_drawing_of_the_users_links(app, memo):
    from casework.navigation import NAVIGATION

    items = [item for item in NAVIGATION if item.endpoint in ("intake.referrals", "audit.events")]
    slot = Markup("<li>Ada Lovelace (lead)</li>")
    with app.test_request_context("/"):
        for endpoint, current in (("intake.person", "Referrals"), ("audit.events", "Audit log"),
                                  (None, None)):
            expected = _macro(app, "service-navigation", "govukServiceNavigation", {
                "serviceName": "casework", "serviceUrl": "/",
                "navigation": [{"href": "/referrals", "text": "Referrals",
                                "active": current == "Referrals"},
                               {"href": "/audit/", "text": "Audit log",
                                "active": current == "Audit log"}],
                "navigationClasses": "casework-navigation",
                "slots": {"navigationEnd": slot}})
            drawn = widgets.service_navigation(items, endpoint, slot)
            assert str(drawn) == expected
            assert str(widgets.service_navigation(items, endpoint, slot)) == expected  # kept
        # another role's links are drawn and kept apart
        assert "Audit log" not in widgets.service_navigation(items[:1], "intake.person")
    assert memo.memo_size() == 4
    assert not memo.memo_holds("Lovelace")


# summary lists: kept by their shape, every value a slot

SUMMARY_LISTS = [
    {"rows": []},
    {"rows": [{"key": {"text": "Name"}, "value": {"text": "Ada Lovelace"}}]},
    {"rows": [  # values escaped as the macro escapes text, trusted as html
        {"key": {"text": "Name"}, "value": {"text": "\"<O'Neil & Sons>\""}},
        {"key": {"text": "Safe"}, "value": {"text": Markup("<b>already</b> safe")}},
        {"key": {"text": "Arm"},
         "value": {"html": Markup("<strong class=\"tag\">Treatment</strong>")}},
        {"key": {"text": "Lines"}, "value": {"text": "first\nsecond"}},
        {"key": {"text": "Block"}, "value": {"html": "  <p>one</p>\n<p>two</p>\n\n<p>three</p>  "}},
        {"key": {"text": "Empty"}, "value": {"text": ""}},
        {"key": {"text": "Missing"}, "value": {}},
        {"key": {"text": "Falls back"}, "value": {"html": "", "text": "to text"}},
        {"key": {"text": "Classes"}, "value": {"text": "x", "classes": "extra"}, "classes": "row"},
        {"key": {"text": "Marker"}, "value": {"text": "<!--casework-slot:v0-->"}},
        None,
    ]},
    {"rows": [  # rows with actions and without (which the macro marks)
        {"key": {"text": "Review"}, "value": {"text": "Not reviewed yet"},
         "actions": {"items": [{"href": "/people/7/review?a=1&b=2", "text": "Record a review",
                                "visuallyHiddenText": "for Grace <Hopper>"}]}},
        {"key": {"text": "Name"}, "value": {"text": "Grace Hopper"}},
        {"key": {"text": "Two"}, "value": {"text": "actions"},
         "actions": {"items": [{"href": "/a", "text": "Change"},
                               {"href": "/b", "text": "Remove",
                                "visuallyHiddenText": Markup("for <i>her</i>")}]}},
        {"key": {"text": "None"}, "value": {"text": "listed"}, "actions": {"items": []}},
    ], "classes": "govuk-summary-list--no-border"},
]


def test_a_summary_lists_values_are_never_kept(app, memo):
    def details(name: str, review: bool) -> dict:
        actions = {"items": [{"href": f"/people/{len(name)}/review", "text": "Record a review",
                              "visuallyHiddenText": f"for {name}"}]} if review else {"items": []}
        return {"rows": [{"key": {"text": "Name"}, "value": {"text": name}},
                         {"key": {"text": "Review"}, "value": {"text": "Not yet"},
                          "actions": actions}]}

    with app.test_request_context("/"):
        for name in ("Zephaniah Quill", "Ottoline Brackenbury", "Peregrine Fitch"):
            for review in (True, False):
                expected = _macro(app, "summary-list", "govukSummaryList", details(name, review))
                assert str(widgets.summary_list(details(name, review))) == expected
                assert name in expected
    assert memo.memo_size() == 2  # one drawing for each shape, not for each person
    for part in ("Zephaniah", "Ottoline", "Peregrine", "/people/"):
        assert not memo.memo_holds(part)
    assert memo.memo_holds("Record a review") and memo.memo_holds("Review")


def test_the_person_page_keeps_no_details_of_the_person(app, memo, client, login_as,
                                                      make_referral):
    referral = make_referral(last_name="Brackenbury", reason="Seen near Quillfeather Court")
    login_as("lead")
    page = client.get(f"/people/{referral.person_id}").get_data(as_text=True)
    assert "Brackenbury" in page and "Quillfeather Court" in page and "PC Referrer" in page
    assert page.count('class="govuk-summary-list__key"') >= 10
    assert memo.memo_holds('class="govuk-summary-list__key"')
    for part in ("Brackenbury", "Quillfeather", "PC Referrer", f"/people/{referral.person_id}"):
        assert not memo.memo_holds(part), part


PAGINATIONS = [
    {"previous": None, "next": None},
    {"previous": None, "next": {"href": "/referrals?page=2&q=O%27Neil+%3Cb%3E"}},
    {"previous": {"href": "/referrals?page=1"}, "next": {"href": "/referrals?page=3&a=1&b=2"}},
    {"previous": {"href": "/audit/?page=4", "text": "Newer"}, "next": {"href": ""},
     "landmarkLabel": "Events"},
    {"items": [{"number": 1, "href": "/x?page=1"}, {"ellipsis": True},
               {"number": 5, "href": "/x?page=5", "current": True}],
     "next": {"href": "/x?page=6", "labelText": "6 of 9"}},
]


KEPT_BY_SHAPE = ([("summary-list", "govukSummaryList", widgets.summary_list, params)
                  for params in SUMMARY_LISTS]
                 + [("pagination", "govukPagination", widgets.pagination, params)
                    for params in PAGINATIONS])


@pytest.mark.parametrize(("component", "macro", "draw", "params"), KEPT_BY_SHAPE)
def test_a_drawing_kept_by_its_shape_is_govuk_frontends_own(app, memo, component, macro, draw,
                                                             params):
    with app.test_request_context("/"):
        expected = _macro(app, component, macro, params)
        assert str(draw(params)) == expected
        assert str(draw(params)) == expected  # from the memo
    assert memo.memo_size() == 1


def test_a_paginations_links_are_never_kept(app, memo):
    with app.test_request_context("/"):
        for name in ("Quillfeather", "Brackenbury"):
            params = {"previous": {"href": f"/referrals?page=1&q={name}"},
                      "next": {"href": f"/referrals?page=3&q={name}"}}
            assert str(widgets.pagination(params)) == _macro(app, "pagination",
                                                             "govukPagination", params)
    assert memo.memo_size() == 1
    assert not memo.memo_holds("Quillfeather") and not memo.memo_holds("/referrals")
