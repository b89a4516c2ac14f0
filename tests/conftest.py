"""Fixtures shared by every test layer.

The database is SQLite (a file per test session) unless TEST_DATABASE_URL
names a PostgreSQL database, in which case every database test runs there.
Either way the schema comes from the Alembic migrations, not create_all, so
the migrations (and PostgreSQL's triggers) are what the tests exercise.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache
from sqlalchemy import create_engine, text

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
PASSWORD = "correct horse battery staple"
# Reference data shipped by the migrations stays; tests that edit it put it back.
KEEP_TABLES = {"sites", "alembic_version", "offences", "outcome_codes", "exclusions"}
SHIPPED_SITES = {key: key.title() for key in ("birmingham", "coventry", "dudley", "sandwell",
                                               "solihull", "walsall", "wolverhampton")}


def pytest_addoption(parser):
    parser.addoption(
        "--database-tests-only", action="store_true",
        help="run only the tests that use the test database (CI's PostgreSQL run: the "
             "others, the pure rules' and a few with files of their own, ran on SQLite)")


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="PostgreSQL tests skipped: TEST_DATABASE_URL is not set")
    on_pg = bool(TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"))
    for item in items:
        if "postgres" in item.keywords and not on_pg:
            item.add_marker(skip_pg)
    if config.getoption("database_tests_only"):
        # every fixture of the test database starts from database_url
        uses = ["database_url" in getattr(item, "fixturenames", ()) for item in items]
        if not all(uses):
            config.hook.pytest_deselected(
                items=[item for item, used in zip(items, uses, strict=True) if not used])
            items[:] = [item for item, used in zip(items, uses, strict=True) if used]


def pytest_report_header(config):
    if TEST_DATABASE_URL:
        return f"database: {TEST_DATABASE_URL}"
    return "database: SQLite (set TEST_DATABASE_URL to also run the PostgreSQL tests)"


def pytest_terminal_summary(terminalreporter):
    if not TEST_DATABASE_URL:
        skipped = [
            r for r in terminalreporter.stats.get("skipped", [])
            if "TEST_DATABASE_URL" in str(r.longrepr)
        ]
        terminalreporter.write_line(
            f"PostgreSQL: not configured; {len(skipped)} PostgreSQL-only tests were skipped. "
            "Set TEST_DATABASE_URL=postgresql+psycopg://... to run them."
        )


@pytest.fixture(autouse=True)
def _quick_password_hashing(request, monkeypatch):
    """argon2id at the service's cost (64 MiB, 3 passes) takes a tenth of a
    second or more per hash and per sign-in; tests that are not about hashing
    use the same algorithm at its lowest cost. tests/unit/test_passwords.py
    and tests marked ``real_password_cost`` check the real parameters."""
    from casework.accounts import passwords

    # the unknown-account dummy follows the hasher's parameters: made afresh
    passwords._dummy_hash.cache_clear()
    if request.node.path.name == "test_passwords.py" or "real_password_cost" in request.keywords:
        yield
        return
    quick_password_hashing(monkeypatch)
    yield
    passwords._dummy_hash.cache_clear()


def quick_password_hashing(monkeypatch) -> None:
    """argon2id at its lowest cost for what ``monkeypatch`` covers."""
    from argon2 import PasswordHasher

    from casework.accounts import passwords

    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'casework-test.db'}"


@pytest.fixture(scope="session")
def is_postgres(database_url) -> bool:
    return database_url.startswith("postgresql")


def base_config(database_url: str, **overrides) -> dict:
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret-key",
        "TRIAL_KEY": b"test-trial-key",
        "PSEUDONYM_KEY": b"test-pseudonym-key",
        "RATELIMIT_STORAGE_URI": "memory://",
        "SERVER_NAME": None,
        # figures worked out afresh on every load (tests change data between loads)
        "DASHBOARD_FIGURES_SECONDS": 0,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def migrated(database_url) -> str:
    """Build the schema once per session from the migrations."""
    from flask_migrate import upgrade

    from casework import create_app

    if database_url.startswith("postgresql"):
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
            # A test database's commits need not wait for the disk: a
            # fifth of the suite's time went waiting for them. (Its
            # sessions from now on; nothing a test checks depends on it.)
            name = conn.scalar(text("SELECT current_database()"))
            conn.exec_driver_sql(
                f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
        engine.dispose()
    app = create_app(base_config(database_url))
    with app.app_context():
        upgrade()
        from casework.extensions import db

        db.engine.dispose()
    return database_url


def _empty_tables(engine) -> None:
    from casework.extensions import db

    # Children before parents, so foreign keys hold throughout.
    names = [t.name for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Append-only triggers guard real data; a test database is wiped
            # with them switched off for this transaction only (the
            # connection goes back to the shared app's pool).
            # DELETE, not TRUNCATE: a test's few rows go in 6 ms, where
            # TRUNCATE made every table and index anew, 75 ms a test (a
            # sixth of the PostgreSQL suite). Their ids start again at 1,
            # as TRUNCATE's RESTART IDENTITY did. One script, sent at once
            # (no parameters: PostgreSQL's simple protocol runs several
            # statements), not a round trip each.
            # (the names are the schema's own)
            listed = ", ".join(f"'{name}'" for name in names)
            deletes = [f'DELETE FROM "{name}"' for name in names]  # noqa: S608
            restart = ("SELECT setval(s.oid, 1, false) FROM pg_class s"  # noqa: S608
                       " JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')"
                       " JOIN pg_class t ON t.oid = d.refobjid"
                       f" WHERE s.relkind = 'S' AND t.relname IN ({listed})")
            conn.exec_driver_sql(";\n".join(
                ["SET LOCAL session_replication_role = replica", *deletes, restart]))
        else:
            for name in names:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')  # noqa: S608 (names from the schema)
        # the sites the migrations ship stay, as shipped; any a test added goes
        conn.execute(text("DELETE FROM sites WHERE key NOT IN (:a, :b, :c, :d, :e, :f, :g)"),
                     dict(zip("abcdefg", SHIPPED_SITES, strict=True)))
        conn.execute(text("UPDATE sites SET name = :name WHERE key = :key AND name <> :name"),
                     [{"key": key, "name": name} for key, name in SHIPPED_SITES.items()])
        # and the exclusions as shipped (migration 0024: cirv's defaults), offered
        from casework.eligibility.cirv import DEFAULT_EXCLUSIONS

        shipped = list(DEFAULT_EXCLUSIONS)
        conn.execute(text("DELETE FROM exclusions WHERE key NOT IN (:a, :b, :c, :d)"),
                     dict(zip("abcd", shipped, strict=True)))
        conn.execute(text("UPDATE exclusions SET title = :title, offered = :offered "
                          "WHERE key = :key AND (title <> :title OR offered <> :offered)"),
                     [{"key": key, "title": title, "offered": True}
                      for key, title in DEFAULT_EXCLUSIONS.items()])


class _TemplateBytecode(BytecodeCache):
    """Compiled templates, shared by every app the tests make. Each test's app
    has its own Jinja environment, which compiled every page and GOV.UK macro
    it rendered afresh (a second for all the templates, most of a page test's
    time); Jinja's bytecode cache gives a new environment the code compiled
    before, checked against the template's source. Every app is made by
    ``create_app``, so with the same Jinja settings."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if (code := self.compiled.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_BYTECODE = _TemplateBytecode()


class RequestClient(FlaskClient):
    """A test client whose every request runs in its own app context and
    database session, as in production, instead of sharing the test's.

    The test's own session commits first: on SQLite every transaction holds
    the write lock (BEGIN IMMEDIATE), so a test must not sit in one while the
    app serves a request.
    """

    def open(self, *args, **kwargs):
        from flask import has_app_context

        from casework.extensions import db

        if has_app_context():
            db.session.commit()
        with self.application.app_context():
            return super().open(*args, **kwargs)


class _SharedApp:
    """One app, on the test database with the tests' settings, for every
    test that asks for no other: made for each test, an app cost the test
    its making (the routes' URL builders compiled, 60 ms), its templates
    and its SQL statements compiled afresh, and on PostgreSQL a new
    connection: half of a page test's time.

    Between tests its tables are emptied, its settings put back, the
    extensions made for one app but kept by the module (the limiter, whose
    storage is the app's it was last given, and Talisman) made its own
    again, the throttle emptied, and anything a test kept in
    ``app.extensions`` dropped. SQLite's connections are made again (a
    bulk load's page cache stays with its connection); PostgreSQL's are
    kept, a new one costing 13 ms. A test that changes the app itself (a
    route, a view, a hook, a template global, a listener on its engine)
    would change it for the tests after: that fails the test, whose app is
    then made with ``make_app(own_app=True)`` or marked ``own_app``."""

    def __init__(self, database_url: str) -> None:
        self.app = new_app(database_url)
        self.config = copy.deepcopy(dict(self.app.config))
        self.extensions = set(self.app.extensions)
        from casework.extensions import limiter, talisman

        # the extensions that keep what the last app they were set up for
        # gave them (Flask-Limiter its storage, Talisman its app and options)
        self.modules = [(extension, _copied(vars(extension))) for extension in (limiter, talisman)]
        self.shape = self._shape()

    def _shape(self) -> tuple:
        from casework.extensions import db

        app, env = self.app, self.app.jinja_env
        with app.app_context():
            engines = list(db.engines.values())
        return (
            sorted((rule.rule, rule.endpoint) for rule in app.url_map.iter_rules()),
            dict(app.view_functions), app.wsgi_app, app.test_client_class,
            dict(app.url_map.converters), dict(app.cli.commands),
            dict(env.globals), dict(env.filters), dict(env.tests),
            [{key: list(funcs) for key, funcs in hooks.items() if funcs} for hooks in (
                app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs,
                app.template_context_processors, app.url_value_preprocessors,
                app.url_default_functions)],
            list(app.teardown_appcontext_funcs),
            # (Flask adds an empty entry for each blueprint it looks in)
            {(key, code): dict(handlers) for key, by_code in app.error_handler_spec.items()
             for code, handlers in by_code.items() if handlers},
            [[(name, list(getattr(dispatch, name)))
              for name in dir(dispatch) if not name.startswith("_")]
             for engine in engines for dispatch in (engine.dispatch, engine.pool.dispatch)],
        )

    def take(self):
        for extension, attributes in self.modules:
            vars(extension).update(_copied(attributes))
        from casework.extensions import limiter

        limiter._storage.reset()
        return self.app

    def put_back(self) -> str | None:
        """The app as it was; what a test changed of it that cannot be put
        back, if anything."""
        app = self.app
        try:
            discard_app(app, keep_connections=app.config["SQLALCHEMY_DATABASE_URI"]
                        .startswith("postgresql"))
        finally:
            app.config.clear()
            app.config.update(copy.deepcopy(self.config))
            for key in set(app.extensions) - self.extensions:
                del app.extensions[key]
        if self._shape() != self.shape:
            return ("the test changed the shared app (a route, a view, a hook, a template "
                    "global, a listener on its engine): make its app with "
                    "make_app(own_app=True), or mark it own_app")
        return None

    def discard(self) -> None:
        from casework.extensions import db

        with self.app.app_context():
            db.engine.dispose()


def _copied(attributes: dict) -> dict:
    """Attributes, their containers copied (a later change to one changes
    no snapshot)."""
    return {name: copy.copy(value) if isinstance(value, dict | list | set) else value
            for name, value in attributes.items()}


@pytest.fixture(scope="session")
def shared_app(migrated) -> Iterator[list[_SharedApp]]:
    """The shared app (``_SharedApp``), made when first asked for."""
    holder: list[_SharedApp] = []
    yield holder
    for shared in holder:
        shared.discard()


@pytest.fixture
def make_app(migrated, shared_app, monkeypatch) -> Iterator[Callable[..., object]]:
    """``make_app(own_app=False, **config)``: an app on the test database,
    emptied afterwards. A test's first without settings of its own is the
    shared one (``_SharedApp``), unless ``own_app``."""
    made = []

    def factory(own_app=False, **overrides):
        if not (overrides or made or own_app):
            if not shared_app:
                shared_app.append(_SharedApp(migrated))
            app = shared_app[0].take()
        else:
            app = new_app(migrated, **overrides)
        made.append(app)
        return app

    yield factory
    for app in made:
        if not (shared_app and app is shared_app[0].app):
            discard_app(app)
            continue
        # what the test patched undone first, as it was before the app was taken
        monkeypatch.undo()
        problem = "the shared app could not be put back"
        try:
            problem = shared_app[0].put_back()
        finally:
            if problem is not None:  # the next test has an app made anew
                shared_app.pop().discard()
        if problem is not None:
            pytest.fail(problem)


def new_app(database_url: str, **overrides):
    """An app on the test database, as the tests make them."""
    from casework import create_app

    app = create_app(base_config(database_url, **overrides))
    app.test_client_class = RequestClient
    app.jinja_env.bytecode_cache = TEMPLATE_BYTECODE
    return app


@contextmanager
def demo_seeded_app(database_url: str, people: int, seed: int) -> Iterator[object]:
    """An app of its own on the test database with ``seed-demo`` run once,
    for a module whose tests only read the demo (seeded for each test, the
    seed was most of their time); the tables emptied afterwards."""
    from casework.extensions import db

    app = new_app(database_url)
    try:
        with pytest.MonkeyPatch.context() as monkeypatch, app.app_context():
            quick_password_hashing(monkeypatch)
            result = app.test_cli_runner().invoke(
                args=["seed-demo", "--people", str(people), "--seed", str(seed)])
            assert result.exit_code == 0, result.output
            db.session.commit()
        yield app
    finally:  # emptied even when the seed failed
        discard_app(app)


def discard_app(app, *, keep_connections: bool = False) -> None:
    """The test database emptied of what ``app`` wrote, its connections
    closed unless kept."""
    from casework.extensions import db

    with app.app_context():
        db.session.remove()
        _empty_tables(db.engine)
        if not keep_connections:
            db.engine.dispose()


@pytest.fixture
def app(make_app, request):
    """The test's app: the shared one, or its own if marked ``own_app``."""
    app = make_app(own_app=request.node.get_closest_marker("own_app") is not None)
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def make_user(app):
    """``make_user(role, sites=("coventry",), email=None)``: a user with PASSWORD."""
    from casework.accounts import services
    from casework.extensions import db

    counter = iter(range(1, 10_000))

    def factory(role="caseworker", sites=("coventry",), email=None, **kwargs):
        email = email or f"{role}{next(counter)}@example.org"
        user = services.create_user(
            email=email,
            display_name=kwargs.get("display_name", email.split("@")[0]),
            role=role,
            sites=services.sites_by_keys(sites),
            password=PASSWORD,
            actor=None,
            now=datetime.now(UTC),
        )
        db.session.commit()
        return user

    return factory


CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token(client, path: str = "/") -> str:
    """The CSRF token of the client's current session, read from a page."""
    response = client.get(path, follow_redirects=True)
    match = CSRF_PATTERN.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    token = csrf_token(client, "/sign-in")
    return client.post(
        "/sign-in", data={"email": email, "password": password, "csrf_token": token}
    )


@pytest.fixture
def login_as(client, make_user):
    """``login_as(role, sites=("coventry",))``: sign the test client in as a new user."""

    def factory(role="caseworker", sites=("coventry",), **kwargs):
        user = make_user(role, sites, **kwargs)
        response = sign_in(client, user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return factory


@pytest.fixture
def post(client):
    """``post(path, data)``: a form POST carrying the session's CSRF token."""

    def send(path, data=None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", csrf_token(client))
        return client.post(path, data=data, **kwargs)

    return send


@pytest.fixture
def make_referral(app, make_user):
    """``make_referral(site="coventry", dob=date(2008, 1, 1), person=None, **details)``:
    a referral (and a new person, unless ``person`` is given), committed."""
    from datetime import date

    from casework.accounts.services import sites_by_keys
    from casework.extensions import db
    from casework.intake import services

    worker = make_user("caseworker", ("coventry", "wolverhampton", "birmingham"),
                       email="factory-worker@example.org")
    counter = iter(range(1, 1_000_000))

    def factory(site="coventry", dob=date(2008, 1, 1), person=None, referral_date=None,
                last_name=None, **details):
        n = next(counter)
        site_id = sites_by_keys([site])[0].id
        first, last = (person.first_name, person.last_name) if person else (
            f"Test{n}", last_name or f"Person{n}")
        dob = person.date_of_birth if person else dob
        referral = services.record_referral(
            services.PersonDetails(first, last, dob, "male", "white_british", site),
            services.ReferralDetails(site_id, referral_date or date(2026, 11, 1), "police",
                                     "PC Referrer", details.get("reason", "Reason")),
            existing_person_id=person.id if person else None, actor=worker,
            now=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        )
        db.session.commit()
        return referral

    return factory


@pytest.fixture
def dashboard_on_21_november_2026(monkeypatch) -> None:
    """The lead dashboard's today fixed: its chart holds the last 26 weeks,
    and ``make_referral`` dates its referrals 1 November 2026, which leave
    the chart in April 2027 (and figures kept are kept by day: England's
    midnight passing between two loads would work them out again)."""
    from casework.caseload import views

    monkeypatch.setattr(views, "local_today", lambda: date(2026, 11, 21))


@pytest.fixture
def make_trial(app):
    """``make_trial(sites=("coventry", "wolverhampton"), allocation_list=None,
    **settings)``: a trial, committed; with ``allocation_list`` (a CSV's
    bytes), made closed, sent the list, then opened (or left as
    ``status`` says), as an admin would."""
    from casework.extensions import db
    from casework.trial import services
    from casework.trial.models import TrialStatus

    def factory(sites=("coventry", "wolverhampton"), key="cirv", allocation_list=None,
                **settings):
        on = datetime(2026, 11, 1, tzinfo=UTC)
        status = settings.pop("status", TrialStatus.OPEN)
        wanted = services.TrialSettings(
            key=key, name=settings.pop("name", "CIRV trial"), site_keys=list(sites), **settings,
            status=TrialStatus.CLOSED if allocation_list else status)
        trial = services.save_trial(None, wanted, actor=None, now=on)
        db.session.commit()
        if allocation_list:
            services.upload_allocation_list(trial, allocation_list, "list.csv", actor=None,
                                            now=on)
            wanted.status, wanted.key = status, None
            services.save_trial(trial, wanted, actor=None, now=on)
            db.session.commit()
        return trial

    return factory


@pytest.fixture
def triage_referral(app, make_user):
    """``triage_referral(referral, **facts)``: record eligible-looking triage facts."""
    from casework.extensions import db
    from casework.triage import services

    worker = make_user("caseworker", ("coventry", "wolverhampton", "birmingham"),
                       email="factory-triager@example.org")

    def factory(referral, **facts):
        values = {"group_violence_evidence": ["recent_violence"], "panel_confirmed": True,
                  "exclusions": [], "recommendation": "eligible"}
        values.update(facts)
        triage = services.record_triage(referral, services.TriageFacts(**values), actor=worker,
                                        now=datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
        db.session.commit()
        return triage

    return factory


@pytest.fixture
def randomised(make_trial, make_referral, triage_referral, make_user):
    """``randomised(arm, site="coventry", on=datetime)``: a person allocated to
    ``arm`` (decided eligible through the services until the sequence gives it)."""
    from casework.extensions import db
    from casework.triage import services
    from casework.trial.models import Trial

    lead = make_user("lead", ("coventry", "wolverhampton", "birmingham"),
                     email="randomising-lead@example.org")

    def factory(arm="treatment", site="coventry", on=datetime(2026, 6, 1, 9, 0, tzinfo=UTC)):
        if db.session.query(Trial).count() == 0:
            make_trial()
        for _ in range(20):
            referral = make_referral(site)
            triage = services.decide(triage_referral(referral), "eligible", None, actor=lead,
                                     now=on, key=b"test-trial-key")
            db.session.commit()
            if triage.allocation.arm == arm:
                return referral.person
        raise AssertionError(f"no {arm} allocation in 20 tries")

    return factory


def load_migration(revision: str):
    """Migration ``revision`` ("0017"), loaded from its file, to run its
    steps with ``run_migration_step``."""
    import importlib.util
    from pathlib import Path

    [path] = Path(__file__).parents[1].glob(f"migrations/versions/*_{revision}_*.py")
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_migration_step(step) -> None:
    """Run a migration's ``upgrade`` or ``downgrade`` on the test database,
    the test's own transaction committed first (on SQLite it would hold the
    write lock)."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    from casework.extensions import db

    db.session.commit()
    try:
        with db.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
            step()
    finally:
        # connections made before the schema changed are made again (the
        # shared app's are kept from test to test)
        db.engine.dispose()


def statements_sent(fn) -> list[str]:
    """The SQL statements ``fn()`` sends to the database, as sent."""
    from sqlalchemy import event

    from casework.extensions import db

    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return statements


def count_queries(fn) -> int:
    """How many SQL statements ``fn()`` sends to the database."""
    return len(statements_sent(fn))


def day(d) -> list[str]:
    """A date as a GOV.UK date input's three boxes are sent."""
    return [str(d.day), str(d.month), str(d.year)]


def living_at_coventry_treated_at_wolverhampton(make_trial, make_referral, triage_referral,
                                                make_user, *, randomised_on=None,
                                                engaged_on=None):
    """A person whose own site is Coventry, referred and randomised to
    treatment at Wolverhampton (on 1 August 2026 unless said), and engaged
    since ``engaged_on`` (1 September: their contact overdue)."""
    from casework.extensions import db
    from casework.pathways import services as pathways
    from casework.triage import services as triage

    randomised_on = randomised_on or date(2026, 8, 1)
    engaged_on = engaged_on or date(2026, 9, 1)
    make_trial()
    decider = make_user("lead", ("wolverhampton",), email="decider@example.org")
    for n in range(20):
        person = make_referral("coventry", last_name=f"Livesapart{n}").person
        decided = triage.decide(triage_referral(make_referral("wolverhampton", person=person)),
                                "eligible", None, actor=decider,
                                now=datetime.combine(randomised_on, datetime.min.time(), UTC),
                                key=b"test-trial-key")
        db.session.commit()
        if decided.allocation.arm == "treatment":
            pathways.move(person, pathways.MoveRequest("engaged", engaged_on), actor=decider,
                          now=datetime.combine(engaged_on, datetime.min.time(), UTC)
                          .replace(hour=12))
            db.session.commit()
            return person
    raise AssertionError("no treatment allocation in 20 tries")
