"""The forms a page offers, read from its HTML (Beautiful Soup), so the
CSRF and fuzzing tests cover every form the service renders, including
forms added later, without a list of field names to keep up to date."""

from __future__ import annotations

from dataclasses import dataclass, field

from bs4 import BeautifulSoup

from tests.web.test_route_matrix import GET, TABLE


@dataclass
class FormField:
    name: str
    kind: str  # text, textarea, select, radio, checkbox, password, hidden, file, date
    options: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # what the page would submit as it is


@dataclass
class PageForm:
    page: str
    action: str
    method: str
    fields: dict[str, FormField]

    def submitted(self) -> list[tuple[str, str]]:
        """The form as a browser would submit it unchanged."""
        return [(f.name, v) for f in self.fields.values() for v in f.values]


def forms_on(html: str, page: str) -> list[PageForm]:
    found = []
    for form in BeautifulSoup(html, "html.parser").find_all("form"):
        method = (form.get("method") or "get").upper()
        fields: dict[str, FormField] = {}
        for element in form.find_all(["input", "select", "textarea"]):
            name = element.get("name")
            if not name or element.get("type") in ("submit", "button"):
                continue
            kind = element.name if element.name != "input" else element.get("type", "text")
            entry = fields.setdefault(name, FormField(name, kind))
            if entry.kind == "text" and kind == "text" and len(
                    form.find_all("input", attrs={"name": name})) == 3:
                entry.kind = "date"  # GOV.UK date input: day, month and year share a name
            if element.name == "select":
                entry.options = [o.get("value", o.text) for o in element.find_all("option")]
                chosen = element.find("option", selected=True)
                entry.values = [chosen.get("value", chosen.text)] if chosen else \
                    entry.options[:1]
            elif kind in ("radio", "checkbox"):
                entry.options.append(element.get("value", "on"))
                if element.has_attr("checked"):
                    entry.values.append(element.get("value", "on"))
            elif element.name == "textarea":
                entry.values = [element.text]
            elif kind != "file":
                entry.values.append(element.get("value", ""))
        found.append(PageForm(page, form.get("action") or page, method, fields))
    return found


def forms_for(client, role: str, ids: dict) -> list[PageForm]:
    """Every form on every page ``role`` may open (records in scope)."""
    forms = []
    for (_endpoint, method), row in TABLE.items():
        if method != GET or role not in row.roles or row.ok != 200:
            continue
        page = row.path.format(**ids)
        response = client.get(page)
        if response.mimetype == "text/html":
            forms += forms_on(response.get_data(as_text=True), page)
        response.close()
    return forms
