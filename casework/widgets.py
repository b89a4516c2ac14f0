"""GOV.UK widgets for the filter forms of list pages, whose blank fields are
drawn once and then kept.

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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from govuk_frontend_wtf.wtforms_widgets import GovDateInput, GovSelect, GovTextInput
from markupsafe import Markup

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


class _KeepBlank:
    """Mixed into a GOV.UK widget: ``render`` through the memo when blank."""

    template: str

    def is_blank(self, params: dict) -> bool:
        return not params.get("value") and not params.get("errorMessage")

    def render(self, params: dict) -> Markup:
        if not self.is_blank(params):
            return super().render(params)  # type: ignore[misc]
        key = (type(self).__name__, self.template, _frozen(params))
        with _lock:
            html = _memo.get(key)
            if html is not None:
                _memo.move_to_end(key)
                return html
        html = super().render(params)  # type: ignore[misc]
        with _lock:
            _memo[key] = html
            while len(_memo) > MEMO_SIZE:
                _memo.popitem(last=False)
        return html


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


def memo_size() -> int:
    """How many drawings are kept (for tests)."""
    return len(_memo)


def memo_holds(text: str) -> bool:
    """Whether any kept drawing contains ``text`` (for tests)."""
    return any(text in html for html in _memo.values())


def clear_memo() -> None:
    with _lock:
        _memo.clear()
