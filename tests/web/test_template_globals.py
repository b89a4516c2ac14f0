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
