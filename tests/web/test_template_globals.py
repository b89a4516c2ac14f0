"""Templates' globals (casework._Globals) list their keys as a set made in C,
the same keys a ChainMap lists, including a global added to the environment
after the template was made."""

from __future__ import annotations

from collections import ChainMap


def test_a_templates_globals_list_every_key_as_a_chain_map_would(app):
    template = app.jinja_env.from_string("{{ kept is defined }}", globals={"extra": 1})
    assert isinstance(template.globals, ChainMap)
    assert isinstance(template.globals.keys(), set)  # not a key view walked in Python
    assert set(template.globals.keys()) == set(ChainMap(*template.globals.maps).keys())
    keys = template.globals.keys()
    assert {"extra", "kept"} <= keys
    app.jinja_env.globals["late_global"] = 1
    try:
        assert {"late_global"} <= template.globals.keys()
    finally:
        del app.jinja_env.globals["late_global"]


def test_attributes_read_in_templates_are_jinjas_own(app):
    """casework's environment reads a plain dict's keys without raising;
    whatever a template reads is what Jinja's own ``getattr`` gives."""
    from collections import OrderedDict, defaultdict, namedtuple

    from jinja2 import Environment, Undefined

    plain = Environment(autoescape=True)
    ours = app.jinja_env
    Point = namedtuple("Point", "x y")

    class Thing:
        name = "thing"

        def __getitem__(self, key):
            return f"item {key}"

    cases = [
        ({"text": "a", "rows": [1]}, "text"), ({"text": "a"}, "html"), ({}, "classes"),
        ({"items": [1, 2]}, "items"), ({"get": 1}, "get"), ({"x": 1}, "keys"),
        ({"__class__": 1}, "__class__"), (OrderedDict(text="b"), "text"),
        (defaultdict(lambda: "made", text="c"), "absent"), (Point(1, 2), "x"),
        (Point(1, 2), "z"), (Thing(), "name"), (Thing(), "other"), (None, "text"),
        ("text", "upper"), ([1], "text"),
    ]
    for obj, name in cases:
        expected, got = plain.getattr(obj, name), ours.getattr(obj, name)
        if isinstance(expected, Undefined):
            assert isinstance(got, Undefined) and got._undefined_obj is obj
            assert got._undefined_name == name
        elif callable(expected):
            assert got == expected  # the same bound method
        else:
            assert got == expected and type(got) is type(expected)
    from werkzeug.local import LocalProxy

    proxied = LocalProxy(lambda: {"text": "a"})  # says its __class__ is dict
    assert ours.getattr(proxied, "text") == "a"
    assert ours.getattr(proxied, "_get_current_object") == plain.getattr(
        proxied, "_get_current_object")
    page = ours.from_string("{{ d.text }}|{{ d.missing is defined }}|{{ d.items is callable }}"
                            "|{{ d['items'] }}")
    assert page.render(d={"text": "<b>", "items": "kept"}) == "&lt;b&gt;|False|True|kept"
