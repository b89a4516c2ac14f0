"""GOV.UK drawings kept once drawn: the fields of list pages' filter forms,
and the page's own furniture (header, navigation, footer, status tags,
buttons).

govuk-frontend-wtf draws every field through the GOV.UK Frontend macros, and
on a list page the filter form was most of the page's time (a date input is
three inputs, each several macros deep). What a widget draws depends on its
parameters alone, so the drawing of a filter field is kept in a small
bounded memo, keyed by those parameters: labels, hints and options, all
defined by the code or the sites. A value typed into a field (a name
searched for, a date) is never part of the key or the kept drawing: the
field is drawn once with a marker where a value goes, and each page puts
its own value, escaped as the macro would, in the marker's place. So
nothing a user typed stays in memory beyond their request, and a search
costs no more to draw than an empty form. A field with an error, or a
select with an option chosen, is drawn afresh every time and never kept.

Only for the filter forms of list pages (forms that search, never forms that
record something about a person), and only where the options are not people:
a select whose options carried personal data would keep them in the memo.

``kept(component, params)`` (a template global) does the same for a GOV.UK
Frontend component drawn with parameters the code makes: the header, the
phase banner, the footer, the service navigation (its links and which one
is current), status tags and buttons to fixed pages. Every page drew them
through macros several templates deep, a fifth of its time. What varies per
user is passed as ``slots`` and drawn afresh each time, never kept: the
navigation keeps its drawing with a marker where the signed-in user's name
and sign-out form go. Never for parameters holding a person's details or
anything a user typed.

``summary_list(params)`` and ``pagination(params)`` keep GOV.UK's summary
list and pagination the same way, by their shape (the labels, which rows
have actions, which links there are), with every value and every link's
address a slot: a person's details and a searched-for name are drawn into
the page each time and never kept.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from flask import current_app, request, url_for
from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovTextInput
from jinja2.filters import do_indent
from markupsafe import Markup, escape

from casework.forms import DateInput

if TYPE_CHECKING:
    from casework.navigation import NavItem

MEMO_SIZE = 256
_memo: OrderedDict[tuple, Markup] = OrderedDict()
_lock = threading.Lock()


def _frozen(value: Any) -> str:
    """``value`` (dicts, lists, strings, numbers) as a key: its ``repr``,
    made in C, which tells Markup from a plain string (they are drawn
    differently). Dicts are taken in their order, which each caller keeps
    (a different order would only be a drawing kept twice)."""
    return repr(value)


def _keep(key: tuple, draw) -> Markup:
    """The drawing kept under ``key``, or ``draw()`` kept (least recently used
    drawings go first past MEMO_SIZE)."""
    with _lock:
        html = _memo.get(key)
        if html is not None:
            _memo.move_to_end(key)
            return html
    html = draw()
    with _lock:
        _memo[key] = html
        while len(_memo) > MEMO_SIZE:
            _memo.popitem(last=False)
    return html


def _filled(html: Markup, marker: re.Pattern, values: dict[str, Any]) -> Markup:
    """``html`` (a kept drawing, autoescaped by its macro) with each
    ``marker`` replaced by the value its group names, escaped (Markup as it
    is); in one pass, so a value that looks like a marker stays as it is."""
    filled = marker.sub(lambda m: str(escape(values[m.group(1)])), html)
    return Markup(filled)  # noqa: S704  # nosec B704


_TYPED = re.compile(r"casework-typed-(\d+)")


def _typed_marker(n: int) -> str:
    return f"casework-typed-{n}"


class _KeepDrawing:
    """Mixed into a GOV.UK widget: ``render`` through the memo, with markers
    for the values typed (see the module's docstring)."""

    template: str

    def keepable(self, params: dict) -> bool:
        return not params.get("errorMessage")

    def typed(self, params: dict) -> tuple[dict, list]:
        """``params`` with each value typed replaced by a marker, and the
        values in the markers' order."""
        if not params.get("value"):
            return params, []
        return {**params, "value": _typed_marker(0)}, [params["value"]]

    def render(self, params: dict) -> Markup:
        if not self.keepable(params):
            return super().render(params)  # type: ignore[misc]
        marked, values = self.typed(params)
        key = (type(self).__name__, self.template, _frozen(marked))
        html = _keep(key, lambda: super(_KeepDrawing, self).render(marked))
        if not values:
            return html
        return _filled(html, _TYPED, {str(n): value for n, value in enumerate(values)})


class FilterTextInput(_KeepDrawing, GovTextInput):
    pass


class FilterSelect(_KeepDrawing, GovSelect):
    """A select of fixed options (statuses, sites, sort orders), kept while
    nothing is chosen or only its empty "any" option: which option someone
    chose (the member of staff whose actions they are looking into, say)
    is theirs, and is not kept."""

    def keepable(self, params: dict) -> bool:
        return super().keepable(params) and not any(
            item.get("selected") and item.get("value") for item in params.get("items") or ())

    def typed(self, params: dict) -> tuple[dict, list]:
        return params, []


class FilterDateInput(_KeepDrawing, DateInput):
    def typed(self, params: dict) -> tuple[dict, list]:
        # the whole date as typed (which GOV.UK's macro does not draw), then
        # each of its inputs
        params, values = super().typed(params)
        items = []
        for item in params.get("items") or ():
            if item.get("value"):
                values.append(item["value"])
                item = {**item, "value": _typed_marker(len(values) - 1)}
            items.append(item)
        return ({**params, "items": items} if values else params), values


# The components ``kept`` draws, by their GOV.UK Frontend folder; each is
# used with parameters the code makes (see the module's docstring).
KEPT_COMPONENTS = {
    "button": "govukButton",
    "phase-banner": "govukPhaseBanner",
    "service-navigation": "govukServiceNavigation",
    "tag": "govukTag",
}
# and the summary list and pagination, kept only by ``summary_list`` and
# ``pagination``, whose values and links are slots
_MACROS = {**KEPT_COMPONENTS, "summary-list": "govukSummaryList",
           "pagination": "govukPagination"}


_SLOT = re.compile(r"<!--casework-slot:(\w+)-->")
_SLOT_NAME = re.compile(r"\w+")


@lru_cache(maxsize=1024)
def _slot_marker(name: str) -> Markup:
    """The marker of slot ``name`` (the code's own names: v0, h2_0, next),
    made once: a summary list of a record has one for each value and
    link, and ``Markup.format`` was a fortieth of a person's page."""
    if not _SLOT_NAME.fullmatch(name):
        raise ValueError(f"not a slot name: {name!r}")
    return Markup(f"<!--casework-slot:{name}-->")  # noqa: S704  # nosec B704


def kept(component: str, params: dict, slots: dict[str, Any] | None = None) -> Markup:
    """GOV.UK Frontend's ``component`` drawn with ``params``, kept once drawn.

    ``slots`` (the service navigation's ``navigationEnd``, say) are drawn
    into the page afresh and are not kept: the kept drawing holds a marker
    in their place."""
    if component not in KEPT_COMPONENTS:
        raise KeyError(component)
    return _kept(component, ("component", component, _frozen(params)), lambda: params, slots)


def _kept(component: str, key: tuple, make_params: Callable[[], dict],
          slots: dict[str, Any] | None) -> Markup:
    """``component`` kept under ``key``; ``make_params`` is called only to
    draw it. (A status tag on every row of a list comes here: nothing is
    made for a drawing already kept beyond its key.)"""
    if slots:
        slots = {name: value for name, value in slots.items() if value}
    if slots:
        key = (*key, "slots", tuple(slots))
    html = _keep(key, partial(_draw, component, make_params, slots))
    return _filled(html, _SLOT, slots) if slots else html


def _draw(component: str, make_params: Callable[[], dict],
          slots: dict[str, Any] | None) -> Markup:
    params = make_params()
    if slots:
        params = {**params, "slots": {name: _slot_marker(name) for name in slots}}
    template = current_app.jinja_env.get_template(
        f"govuk_frontend_jinja/components/{component}/macro.html")
    return getattr(template.module, _MACROS[component])(params)  # Markup: autoescaped


def summary_list(params: dict) -> Markup:
    """GOV.UK Frontend's summary list (``govukSummaryList``), kept by its
    shape: its keys (labels), which rows have actions and the actions'
    texts, all the code's own. What belongs to a record goes in as slots,
    drawn into the kept drawing afresh each time and never kept: each row's
    value, and each action's link and hidden text ("for <a person's
    name>"). A person page drew three lists through the macro, a twentieth
    of its time; the kept drawing holds no one's details.

    The same markup as the macro's (tests/web/test_filter_widgets.py compares
    them): a value given as ``html`` is trimmed and indented as the macro
    does, one given as ``text`` is escaped as it would be."""
    slots: dict[str, Any] = {}
    rows = []
    for n, row in enumerate(params.get("rows") or ()):
        if not row:  # the macro skips an empty row (its place kept in the shape)
            rows.append(row)
            continue
        value = row.get("value") or {}
        slots[f"v{n}"] = _summary_value(value)
        shaped = {**row, "value": {**{k: v for k, v in value.items() if k not in ("html", "text")},
                                   "html": _slot_marker(f"v{n}")}}
        actions = row.get("actions")
        if actions and actions.get("items"):
            items = []
            for m, item in enumerate(actions["items"]):
                item = dict(item)
                for field, letter in (("href", "h"), ("visuallyHiddenText", "t")):
                    if item.get(field):
                        slots[f"{letter}{n}_{m}"] = item[field]
                        item[field] = _slot_marker(f"{letter}{n}_{m}")
                items.append(item)
            shaped["actions"] = {**actions, "items": items}
        rows.append(shaped)
    return _kept_by_shape("summary-list", {**params, "rows": rows}, slots)


def pagination(params: dict) -> Markup:
    """GOV.UK Frontend's pagination (``govukPagination``), kept by its shape
    (which links it has, their labels); each link's address goes in as a
    slot, never kept, as it carries what a list was searched for. The macro
    was a fiftieth of a list page."""
    slots: dict[str, Any] = {}
    shape = dict(params)
    for name in ("previous", "next"):
        link = params.get(name)
        if link and link.get("href"):
            slots[name] = link["href"]
            shape[name] = {**link, "href": _slot_marker(name)}
    if params.get("items"):
        items = []
        for n, item in enumerate(params["items"]):
            if item and item.get("href"):
                slots[f"i{n}"] = item["href"]
                item = {**item, "href": _slot_marker(f"i{n}")}
            items.append(item)
        shape["items"] = items
    return _kept_by_shape("pagination", shape, slots)


def list_query(*without: str, query=None) -> dict[str, str | list[str]]:
    """The current address's query (or ``query``: a list shown again from
    another address), for a list's page links to carry as
    ``url_for(endpoint, **list_query("page"), page=n)``: without the names
    given, and without any that would reach url_for as its own options
    (``_external``, ``_anchor``, ``_method``…; ``?_method=POST`` made the
    links unbuildable: a 500) or its first argument (``endpoint``).

    A name given more than once keeps every value (url_for repeats it): a
    date filter is three boxes of one name, and its page links carried
    only the day, so the next page lost the filter."""
    query = request.args if query is None else query
    pairs = query.lists() if hasattr(query, "lists") else (
        (name, value if isinstance(value, list) else [value]) for name, value in query.items())
    return {name: values[0] if len(values) == 1 else values for name, values in pairs
            if name not in without and not name.startswith("_") and name != "endpoint"}


def _kept_by_shape(component: str, shape: dict, slots: dict[str, Any]) -> Markup:
    """``component`` drawn with ``shape`` (its parameters with a slot marker
    in place of each value) and kept under it; each slot's value, including
    an empty one, filled in afresh."""
    html = _keep(("component", component, _frozen(shape)),
                 partial(_draw, component, lambda: shape, None))
    return _filled(html, _SLOT, slots) if slots else html


def _summary_value(value: dict) -> Any:
    """A row's value as the macro draws it: ``html`` trusted, trimmed and
    indented (``value.html | safe | trim | indent(6)``), else ``text``
    (escaped when filled in; nothing when not given)."""
    if value.get("html"):
        return do_indent(Markup(value["html"]).strip(), 6)  # noqa: S704  # nosec B704
    return value.get("text", "")


def service_navigation(items: Sequence[NavItem], endpoint: str | None,
                       navigation_end: Any = "") -> Markup:
    """The service navigation: a link to each of ``items``, the one of the
    current endpoint's section marked as current, kept per set of links and
    section (the links depend on the role, never on the person). The user's
    name and sign-out form (``navigation_end``) are drawn afresh each time.
    Drawn every request before, it was a tenth of a small page: a URL built
    for each link, the parameters built again in the template and made into
    the memo's key."""
    section = endpoint.split(".", 1)[0] if endpoint else None
    key = ("service-navigation", request.script_root, section,
           tuple(item.endpoint for item in items))

    def params() -> dict:
        return {
            "serviceName": "casework",
            "serviceUrl": url_for("main.index"),
            "navigation": [{"href": url_for(item.endpoint), "text": item.label,
                            "active": item.endpoint.split(".", 1)[0] == section}
                           for item in items],
            "navigationClasses": "casework-navigation",
        }

    return _kept("service-navigation", key, params, {"navigationEnd": navigation_end})


def memo_size() -> int:
    """How many drawings are kept (for tests)."""
    return len(_memo)


def memo_holds(text: str) -> bool:
    """Whether any kept drawing contains ``text`` (for tests)."""
    return any(text in html for html in _memo.values())


def clear_memo() -> None:
    with _lock:
        _memo.clear()
