"""casework: case management for intervention cohorts."""

from __future__ import annotations

import logging
from collections import ChainMap
from pathlib import Path
from types import BuiltinFunctionType, FunctionType, MethodType

from flask import Flask
from flask.templating import Environment
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader
from jinja2.runtime import Context, Macro
from werkzeug.routing import IntegerConverter

ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger(__name__)


class _Globals(ChainMap):
    """A template's globals (its own over the environment's), whose keys come
    as a set, made in C. Each ``{% from ... import ... %}`` a page runs asks
    which of the page's globals the imported template lacks (the page's keys
    less these); with ChainMap's own key view that set difference ran in
    Python, key by key, for every import of every page (a thirtieth of a
    small page)."""

    def keys(self):  # type: ignore[override]
        return set().union(*self.maps)


class _RecordId(IntegerConverter):
    """``<int:...>`` in every route: a whole number a record's id can be
    (``database.MAX_ID``). A larger number in a path was a 500 (out of range
    on PostgreSQL, and past 64 bits on SQLite); now it is not a route, so a
    404."""

    def __init__(self, url_map, *args, **kwargs):
        from casework.database import MAX_ID

        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def _takes_no_context(obj) -> bool:
    """Whether Jinja would call ``obj`` as it is: a callable that cannot be
    marked to take the context, eval context or environment (a function or
    method without ``jinja_pass_arg``, a builtin)."""
    kind = type(obj)  # not __class__, which a proxy reports as its object's
    if kind is FunctionType:
        return "jinja_pass_arg" not in obj.__dict__
    if kind is MethodType:
        func = obj.__func__
        return type(func) is FunctionType and "jinja_pass_arg" not in func.__dict__
    return kind is BuiltinFunctionType


class _Context(Context):
    def call(__self, __obj, *args, **kwargs):
        """A call in a template (``url_for(...)``, ``date.strftime(...)``, a
        macro): Jinja's own, with its search for a ``jinja_pass_arg`` marker
        (two failed attribute lookups and a bound ``__call__`` made for each
        call, most of a call's cost) skipped for callables that cannot carry
        one. A macro takes the eval context (``Macro.__call__`` is marked so),
        given here as Jinja gives it. A person page makes about 130 calls."""
        if type(__obj) is Macro:
            args = (__self.eval_ctx, *args)
        elif not _takes_no_context(__obj):
            return super().call(__obj, *args, **kwargs)
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.environment.undefined(
                "value was undefined because a callable raised a StopIteration exception")


_DICT_ATTRIBUTES = frozenset(dir(dict))
_MISSING = object()


class _Environment(Environment):
    context_class = _Context

    def make_globals(self, d):
        return _Globals(d or {}, self.globals)

    def getattr(self, obj, attribute):
        """``obj.name`` in a template: the attribute, else the item, as
        Jinja's own, found for a plain dict without raising. GOV.UK's macros
        read every parameter so (``params.rows``, ``row.key.text``), and Jinja
        first asked the dict for an attribute, caught the AttributeError and
        then looked up the key (and for a key not given, caught a KeyError
        too): hundreds of exceptions a page. A dict's own attributes
        (``items``, ``get``...) are still its methods, as before."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:  # not a proxy's __class__
            value = obj.get(attribute, _MISSING)
            if value is _MISSING:
                return self.undefined(obj=obj, name=attribute)
            return value
        # Jinja's own, inline (a call to it through super() cost every other
        # attribute a page reads more than the dicts' saved)
        try:
            return getattr(obj, attribute)
        except AttributeError:
            pass
        try:
            return obj[attribute]
        except (TypeError, LookupError, AttributeError):
            return self.undefined(obj=obj, name=attribute)


def _warn_at_start_up(config) -> None:
    """Log what production runs with but should not (``start_up_warnings``),
    and GOV.UK Frontend's files missing."""
    from casework import assets
    from casework.config import start_up_warnings

    warnings = start_up_warnings(config)
    if config["CASEWORK_ENV"] == "production" and (not_installed := assets.missing(config)):
        warnings.append(not_installed)
    for warning in warnings:
        log.warning(warning)


def create_app(config: dict | None = None) -> Flask:
    """Build the application. ``config`` (tests) overrides the environment."""
    from casework.config import load_config
    from casework.dates import (
        date_time,
        local_date,
        local_date_time,
        local_time,
        long_date,
        short_date,
    )
    from casework.forms import error_summary
    from casework.logs import configure_logging
    from casework.web import record_links
    from casework.widgets import kept, list_query, pagination, service_navigation, summary_list

    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=None,
        static_folder=None,
    )
    configure_logging()  # its records to standard error, with the time and request id
    app.jinja_environment = _Environment
    app.url_map.converters["int"] = _RecordId  # before any route is added
    if config is None:
        settings = load_config(Path(app.instance_path))
    else:
        # Tests and tools: the defaults, without reading the environment.
        settings = load_config(Path(app.instance_path), environ={"CASEWORK_ENV": "test"})
        settings.update(config)
    app.config.update(settings)
    _warn_at_start_up(app.config)
    replica = app.config.get("REPLICA_DATABASE_URL")
    if replica:
        from casework.database import REPLICA

        app.config["SQLALCHEMY_BINDS"] = {REPLICA: {
            "url": replica, **_engine_options(replica, app.config["DATABASE_PREPARE_THRESHOLD"])}}
    app.config.update(
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(app.config["SQLALCHEMY_DATABASE_URI"],
                                                  app.config["DATABASE_PREPARE_THRESHOLD"]),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="casework_session",
        PERMANENT_SESSION_LIFETIME=app.config["IDLE_TIMEOUT_MINUTES"] * 60,
        # The cookie is sent again when the session changes (its activity is
        # recorded at most once a minute: casework.web), not on every response.
        SESSION_REFRESH_EACH_REQUEST=False,
        REMEMBER_COOKIE_DURATION=0,
        WTF_CSRF_TIME_LIMIT=None,  # the session's idle timeout bounds the token
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    app.jinja_loader = ChoiceLoader([
        FileSystemLoader(str(ROOT / "templates")),
        PrefixLoader({
            "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
            "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
        }),
    ])
    app.add_template_global(kept, "kept")
    app.add_template_global(service_navigation, "service_navigation")
    app.add_template_global(summary_list, "summary_list")
    app.add_template_global(pagination, "pagination")
    app.add_template_global(list_query, "list_query")
    app.add_template_global(record_links, "record_links")
    app.add_template_global(error_summary, "error_summary")
    for date_filter in (long_date, short_date, date_time, local_date, local_date_time, local_time):
        app.add_template_filter(date_filter)

    register_extensions(app)
    register_blueprints(app)
    _check_rate_limits_in_limited_views_only(app)
    register_request_hooks(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def _check_rate_limits_in_limited_views_only(app: Flask) -> None:
    """Flask-Limiter checks every request against the app's limits before its
    view runs; casework has none app-wide, only on the views it decorates
    (`@limiter.limit`: the sign-in), which check their own limits when
    called. That check found nothing to do on every page (3% of a page's
    work), so it is left out, unless an app-wide, default, meta or
    blueprint limit is ever set (in code or by RATELIMIT_* settings). With
    rate limiting turned off (RATELIMIT_ENABLED) there is no check to leave
    out."""
    from casework.extensions import limiter

    check = limiter._check_request_limit
    limits = limiter.limit_manager
    if check in app.before_request_funcs.get(None, []) and not (
            limits.application_limits or limits.default_limits or limiter._meta_limits
            or any(limits.blueprint_limits(app, name) for name in app.blueprints)):
        app.before_request_funcs[None].remove(check)


def _engine_options(url: str, prepare_threshold: int | None = 5) -> dict:
    from sqlalchemy.engine import make_url

    from casework.database import load_json

    # A database error's message leaves out the statement's values: they are
    # names, dates of birth and note bodies, and the message goes into the
    # operators' log (errors.py logs every unexpected error).
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False},
                "json_deserializer": load_json, "hide_parameters": True}
    psycopg = make_url(url).get_driver_name() == "psycopg"
    # With psycopg a dead connection is found at checkout without a round
    # trip (casework.database.server_hung_up); another driver pings first.
    options = {"pool_pre_ping": not psycopg, "json_deserializer": load_json,
               "hide_parameters": True}
    if psycopg:  # its own option, no other driver's
        options["connect_args"] = {"prepare_threshold": prepare_threshold}
    return options


def register_extensions(app: Flask) -> None:
    from casework.database import configure_postgresql, configure_sqlite
    from casework.extensions import csrf, db, limiter, login_manager, migrate
    from casework.security import init_security

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():  # the database, and any read replica
            configure_sqlite(engine)
            configure_postgresql(engine)
    migrate.init_app(
        app, db, directory=str(ROOT / "migrations"), compare_type=True, render_as_batch=True
    )
    csrf.init_app(app)
    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(token: str):
        from casework.accounts.services import user_by_session_token

        return user_by_session_token(token)

    init_security(app)


# Every feature's blueprint, in one explicit list. Each feature's views
# module attaches its routes to the blueprint when imported here (not from
# the package, so a pure module such as trial.sequence imports no Flask code).
FEATURES = ("assets", "main", "accounts", "intake", "triage", "trial", "pathways", "notes",
            "diversion", "caseload", "extracts", "admin", "audit")


def register_blueprints(app: Flask) -> None:
    import importlib
    import importlib.util

    for feature in FEATURES:
        package = importlib.import_module(f"casework.{feature}")
        if importlib.util.find_spec(f"casework.{feature}.views"):
            importlib.import_module(f"casework.{feature}.views")
        app.register_blueprint(package.bp)


def register_request_hooks(app: Flask) -> None:
    from casework.web import init_request_hooks

    init_request_hooks(app)


def register_errorhandlers(app: Flask) -> None:
    from casework.errors import init_errorhandlers

    init_errorhandlers(app)


def register_commands(app: Flask) -> None:
    from casework.accounts.commands import users_cli
    from casework.audit.commands import audit_cli
    from casework.cli import needs_schema
    from casework.demo import seed_demo_command
    from casework.eligibility.commands import eligibility_cli
    from casework.extracts.commands import export_cli
    from casework.trial.commands import trial_cli

    for group in (users_cli, audit_cli, eligibility_cli, trial_cli, export_cli):
        for command in group.commands.values():
            needs_schema(command)
        app.cli.add_command(group)
    app.cli.add_command(needs_schema(seed_demo_command))
