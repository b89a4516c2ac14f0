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


def test_the_lines_filter_escapes_and_breaks_as_each_line_escaped_and_joined(app):
    """``lines`` escapes the text once and splits it: the same markup as each
    of ``str.splitlines``' lines escaped and joined with a break."""
    from markupsafe import Markup, escape

    lines = app.jinja_env.filters["lines"]
    texts = ["", "one line", "a\nb", "a\r\nb\rc", "trailing\n", "\n\nblank lines\n\n",
             "<b>bold</b> & 'quoted' \"too\"\nnext", "para\u2028sep\x85nel\x0bvt\x0cff\x1cfs",
             Markup("<em>already safe</em>\nline")]
    for text in texts:
        expected = Markup("<br>\n").join(escape(line) for line in text.splitlines())
        assert lines(text) == expected
        assert isinstance(lines(text), Markup)
    assert lines(None) == Markup("")
    assert lines("<i>x</i>\ny") == Markup("&lt;i&gt;x&lt;/i&gt;<br>\ny")


def test_calls_in_templates_are_jinjas_own(app):
    """casework's context calls a callable that cannot take the context
    directly; whatever a template calls gives what Jinja's own gives, and a
    callable marked to take the context, eval context or environment still
    gets it."""
    from datetime import date

    from jinja2 import Environment, pass_context, pass_environment, pass_eval_context
    from jinja2.runtime import Macro
    from jinja2.utils import _PassArg

    from casework import _Context

    @pass_context
    def whose(context, suffix=""):
        return f"{context.name}{suffix}"

    @pass_environment
    def env_kind(environment):
        return type(environment).__name__

    @pass_eval_context
    def autoescaping(eval_ctx):
        return eval_ctx.autoescape

    class Caller:
        @pass_context
        def __call__(self, context):
            return f"called in {context.name}"

    class Plain:
        def __call__(self, n):
            return n * 2

        def method(self, n):
            return n + 1

        @pass_context
        def marked(self, context):
            return f"marked in {context.name}"

    def stops():
        raise StopIteration

    source = ("{% macro m(x) %}<{{ x }}>{% endmacro %}"
              "{{ whose() }}|{{ whose('!') }}|{{ env_kind() }}|{{ autoescaping() }}|{{ caller() }}|"
              "{{ plain(3) }}|{{ plain.method(3) }}|{{ plain.marked() }}|{{ d.strftime('%Y') }}|"
              "{{ {'a': 1}.get('a') }}|{{ m('<y>') }}|{{ stops() is defined }}|{{ len('abc') }}|"
              "{% for i in [1] %}{{ whose(i | string) }}{% endfor %}|"
              "{% set v = 5 %}{{ whose() }}|"
              "{% set ns = namespace() %}{% autoescape false %}{% set ns.r = m('<z>') %}"
              "{% endautoescape %}{{ ns.r }}")
    values = {"whose": whose, "env_kind": env_kind, "autoescaping": autoescaping,
              "caller": Caller(), "plain": Plain(), "d": date(2026, 11, 26), "stops": stops,
              "len": len}
    ours = app.jinja_env.from_string(source).render(values)
    theirs = Environment(autoescape=True).from_string(source).render(values)
    assert ours == theirs.replace("Environment", type(app.jinja_env).__name__)
    assert ours.split("|")[:4] == ["None", "None!", type(app.jinja_env).__name__, "True"]
    assert "|<&lt;y&gt;>|" in ours  # the macro's markup, its argument escaped
    assert ours.split("|")[11] == "False"  # StopIteration gives an undefined
    assert app.jinja_env.context_class is _Context
    # a macro called where nothing is escaped gives plain text, escaped once shown
    assert ours.endswith("|&lt;&amp;lt;z&amp;gt;&gt;")
    # What the shortcut takes on trust: a macro takes the eval context alone.
    assert not hasattr(Macro, "jinja_pass_arg")
    assert Macro.__call__.jinja_pass_arg is _PassArg.eval_context


def test_reference_data_is_a_global_of_every_template(app):
    """Each feature's labels and codes are template globals, set once (not
    gathered by a context processor for every template drawn): a template
    drawn outside any request, or a macro imported without context, reads
    them too."""
    from casework.caseload.models import REVIEW_OUTCOMES
    from casework.diversion.services import SCHEMES
    from casework.intake.reference import GENDERS, LOCAL_AUTHORITIES, SOURCES
    from casework.notes.reference import CONTACT_TYPES
    from casework.pathways.services import DEVIATION_KINDS
    from casework.pathways.states import Pathway

    expected = {"contact_types": CONTACT_TYPES, "diversion_schemes": SCHEMES,
                "review_outcomes": REVIEW_OUTCOMES, "deviation_kinds": DEVIATION_KINDS,
                "pathways": tuple(Pathway), "genders": GENDERS,
                "local_authorities": LOCAL_AUTHORITIES, "sources": SOURCES}
    for name, value in expected.items():
        assert app.jinja_env.globals[name] == value, name
    page = app.jinja_env.from_string(
        "{% macro m() %}{{ result_label('eligible') }}/{{ outcome_label(outcome) }}/"
        "{{ criterion_titles['C1'] }}/{{ ethnicity_label('white_british') }}{% endmacro %}"
        "{{ m() }}").render(outcome="pass")
    assert page.startswith("Eligible/Met/") and "Undefined" not in page and "//" not in page
    processors = [f.__module__ for f in app.template_context_processors[None]]
    assert not [m for m in processors if m.startswith("casework.") and m != "casework.main"]
