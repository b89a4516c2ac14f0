"""GOV.UK drawings kept once drawn: the blank fields of list pages' filter
forms, and the page's own furniture (header, navigation, footer, status tags,
buttons).

govuk-frontend-wtf draws every field through the GOV.UK Frontend macros, and
on a list page the filter form was most of the page's time (a date input is
three inputs, each several macros deep). What a widget draws depends on its
parameters alone, so the drawing of a filter field *left blank* (no value
typed, no error) is kept in a small bounded memo, keyed by those parameters:
labels, hints and options, all defined by the code or the sites. A field with
a value typed into it (a name searched for, a date) or an error is drawn
afresh every time and never kept, so nothing a user typed stays in memory
beyond their request.

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
anything a user typed (a summary list of a person, a pagination link with a
searched name in it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from flask import current_app, request, url_for
from govuk_frontend_wtf.wtforms_widgets import GovDateInput, GovSelect, GovTextInput
from markupsafe import Markup, escape

if TYPE_CHECKING:
    from casework.navigation import NavItem

MEMO_SIZE = 256
_memo: OrderedDict[tuple, Markup] = OrderedDict()
_lock = threading.Lock()


def _frozen(value: Any) -> Any:
    """``value`` (dicts, lists, strings, numbers) as a hashable key; Markup
    and plain strings are kept apart, since they are drawn differently."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return (type(value).__name__, value)


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


class _KeepBlank:
    """Mixed into a GOV.UK widget: ``render`` through the memo when blank."""

    template: str

    def is_blank(self, params: dict) -> bool:
        return not params.get("value") and not params.get("errorMessage")

    def render(self, params: dict) -> Markup:
        if not self.is_blank(params):
            return super().render(params)  # type: ignore[misc]
        key = (type(self).__name__, self.template, _frozen(params))
        return _keep(key, lambda: super(_KeepBlank, self).render(params))


class FilterTextInput(_KeepBlank, GovTextInput):
    pass


class FilterSelect(_KeepBlank, GovSelect):
    """A select of fixed options (statuses, sites, sort orders), kept while
    nothing is chosen or only its empty "any" option: which option someone
    chose (the member of staff whose actions they are looking into, say)
    is theirs, and is not kept."""

    def is_blank(self, params: dict) -> bool:
        return not params.get("errorMessage") and not any(
            item.get("selected") and item.get("value") for item in params.get("items") or ())


class FilterDateInput(_KeepBlank, GovDateInput):
    def is_blank(self, params: dict) -> bool:
        return super().is_blank(params) and not any(
            item.get("value") for item in params.get("items") or ())


# The components ``kept`` draws, by their GOV.UK Frontend folder; each is
# used with parameters the code makes (see the module's docstring).
KEPT_COMPONENTS = {
    "button": "govukButton",
    "footer": "govukFooter",
    "header": "govukHeader",
    "phase-banner": "govukPhaseBanner",
    "service-navigation": "govukServiceNavigation",
    "tag": "govukTag",
}


def _slot_marker(name: str) -> Markup:
    return Markup("<!--casework-slot:{}-->").format(name)


def kept(component: str, params: dict, slots: dict[str, Any] | None = None) -> Markup:
    """GOV.UK Frontend's ``component`` drawn with ``params``, kept once drawn.

    ``slots`` (the service navigation's ``navigationEnd``, say) are drawn
    into the page afresh and are not kept: the kept drawing holds a marker
    in their place."""
    return _kept(component, ("component", component, _frozen(params)), lambda: params, slots)


def _kept(component: str, key: tuple, make_params: Callable[[], dict],
          slots: dict[str, Any] | None) -> Markup:
    """``component`` kept under ``key``; ``make_params`` is called only to
    draw it."""
    macro_name = KEPT_COMPONENTS[component]
    slots = {name: value for name, value in (slots or {}).items() if value}
    if slots:
        key = (*key, "slots", tuple(slots))

    def draw() -> Markup:
        params = make_params()
        if slots:
            params = {**params, "slots": {name: _slot_marker(name) for name in slots}}
        template = current_app.jinja_env.get_template(
            f"govuk_frontend_jinja/components/{component}/macro.html")
        return getattr(template.module, macro_name)(params)  # Markup: autoescaped

    html = _keep(key, draw)
    for name, value in slots.items():
        html = html.replace(_slot_marker(name), escape(value))
    return html


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
