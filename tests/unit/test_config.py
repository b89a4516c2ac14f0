from __future__ import annotations

import pytest

from casework.config import ConfigError, load_config


def test_defaults_use_sqlite_under_instance_and_memory_rate_limits(tmp_path):
    config = load_config(tmp_path, environ={})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'casework.db'}"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["IDLE_TIMEOUT_MINUTES"] == 30
    assert config["SESSION_COOKIE_SECURE"] is False
    # development keeps generated secrets in instance/, outside the database
    assert (tmp_path / "secret_key").exists() and config["TRIAL_KEY"]


def test_dashboard_figures_are_kept_30_seconds_unless_set(tmp_path):
    assert load_config(tmp_path, environ={})["DASHBOARD_FIGURES_SECONDS"] == 30
    environ = {"DASHBOARD_FIGURES_SECONDS": "0"}
    assert load_config(tmp_path, environ=environ)["DASHBOARD_FIGURES_SECONDS"] == 0


def test_statements_are_prepared_after_five_runs_unless_set(tmp_path):
    def threshold(raw=None):
        environ = {} if raw is None else {"DATABASE_PREPARE_THRESHOLD": raw}
        return load_config(tmp_path, environ=environ)["DATABASE_PREPARE_THRESHOLD"]

    assert threshold() == 5 and threshold("") == 5
    assert threshold("0") == 0 and threshold("20") == 20
    assert threshold("off") is None and threshold(" OFF ") is None


def test_only_psycopg_connections_are_given_its_prepare_threshold():
    from casework import _engine_options

    assert _engine_options("postgresql+psycopg://u@h/db", None)["connect_args"] == \
        {"prepare_threshold": None}
    assert _engine_options("postgresql+psycopg://u@h/db")["connect_args"] == \
        {"prepare_threshold": 5}
    # (SQLAlchemy 2.1 reads a plain postgresql:// as psycopg)
    assert _engine_options("postgresql://u@h/db", None)["connect_args"] == \
        {"prepare_threshold": None}
    for other in ("postgresql+psycopg2://u@h/db", "postgresql+pg8000://u@h/db"):
        assert "connect_args" not in _engine_options(other, None)
        assert _engine_options(other, None)["pool_pre_ping"]  # no check of their own
    # psycopg's connections are checked at checkout without a round trip
    assert not _engine_options("postgresql+psycopg://u@h/db")["pool_pre_ping"]
    assert "prepare_threshold" not in _engine_options("sqlite:///x.db")["connect_args"]


def test_a_read_replica_is_optional(tmp_path):
    assert load_config(tmp_path, environ={})["REPLICA_DATABASE_URL"] is None
    url = "postgresql+psycopg://reader@replica.internal:5432/casework"
    assert load_config(tmp_path, environ={"REPLICA_DATABASE_URL": url})[
        "REPLICA_DATABASE_URL"] == url


def test_generated_secrets_are_private_kept_and_agreed_by_concurrent_starts(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        configs = list(pool.map(lambda _: load_config(tmp_path, environ={}), range(16)))
    assert len({c["SECRET_KEY"] for c in configs}) == 1
    assert len({c["TRIAL_KEY"] for c in configs}) == 1 and len(configs[0]["TRIAL_KEY"]) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pseudonym.key", "secret_key",
                                                          "trial.key"]  # no drafts left
    assert load_config(tmp_path, environ={})["SECRET_KEY"] == configs[0]["SECRET_KEY"]


def test_keys_come_from_variables_or_files(tmp_path):
    key_file = tmp_path / "trial.key"
    key_file.write_text("from-a-file\n")
    config = load_config(tmp_path, environ={
        "TRIAL_KEY_FILE": str(key_file), "PSEUDONYM_KEY": "from-a-variable",
        "SECRET_KEY": "s", "DATABASE_URL": "postgresql+psycopg://x/y",
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379", "IDLE_TIMEOUT_MINUTES": "10",
    })
    assert config["TRIAL_KEY"] == b"from-a-file"
    assert config["PSEUDONYM_KEY"] == b"from-a-variable"
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://x/y"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379"
    assert config["IDLE_TIMEOUT_MINUTES"] == 10


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CASEWORK_ENV": "production"}, "SECRET_KEY \\(or SECRET_KEY_FILE\\) must be set"),
        ({"CASEWORK_ENV": "staging"}, "CASEWORK_ENV must be one of"),
        ({"TRIAL_KEY": "a", "TRIAL_KEY_FILE": "/x"}, "not both"),
        ({"TRIAL_KEY_FILE": "/nonexistent/key"}, "cannot read"),
        ({"IDLE_TIMEOUT_MINUTES": "soon"}, "whole number"),
        ({"IDLE_TIMEOUT_MINUTES": "0"}, "greater than zero"),
        ({"DASHBOARD_FIGURES_SECONDS": "-1"}, "DASHBOARD_FIGURES_SECONDS must be 0 or more"),
        ({"DASHBOARD_FIGURES_SECONDS": "half a minute"}, "whole number"),
        ({"DATABASE_PREPARE_THRESHOLD": "never"},
         "DATABASE_PREPARE_THRESHOLD must be a whole number or off, not 'never'"),
        ({"DATABASE_PREPARE_THRESHOLD": "-1"},
         "DATABASE_PREPARE_THRESHOLD must be 0 or more, or off"),
    ],
)
def test_bad_settings_name_the_variable(tmp_path, environ, message):
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, environ=environ)


PRODUCTION_KEYS = {"SECRET_KEY": "session-key-0123456789", "TRIAL_KEY": "trial-key-0123456789",
                   "PSEUDONYM_KEY": "pseudonym-key-0123456789"}
PRODUCTION = {"CASEWORK_ENV": "production", **PRODUCTION_KEYS,
              "DATABASE_URL": "postgresql+psycopg://casework@db.internal:5432/casework"}


def test_production_has_secure_cookies_and_no_generated_keys(tmp_path):
    config = load_config(tmp_path, environ={**PRODUCTION})
    assert config["SESSION_COOKIE_SECURE"] is True
    assert (config["TRIAL_KEY"], config["PSEUDONYM_KEY"]) == (b"trial-key-0123456789",
                                                              b"pseudonym-key-0123456789")
    # without a key, production does not start (and generates none): before,
    # it started, and randomisation or an extract failed on first use
    for missing in PRODUCTION_KEYS:
        environ = {**PRODUCTION}
        del environ[missing]
        with pytest.raises(ConfigError, match=f"{missing} \\(or {missing}_FILE\\) must be set"):
            load_config(tmp_path, environ=environ)
    assert not (tmp_path / "trial.key").exists() and not (tmp_path / "pseudonym.key").exists()
    assert not (tmp_path / "secret_key").exists()


def test_the_session_key_may_be_given_as_a_file(tmp_path):
    """The README said every key may be given as itself or as a file; the
    session key could not (found by review)."""
    key_file = tmp_path / "session.key"
    key_file.write_text("session-key-from-a-file\n")
    environ = {**PRODUCTION}
    del environ["SECRET_KEY"]
    config = load_config(tmp_path, environ={**environ, "SECRET_KEY_FILE": str(key_file)})
    assert config["SECRET_KEY"] == b"session-key-from-a-file"
    with pytest.raises(ConfigError, match="Set either SECRET_KEY or SECRET_KEY_FILE"):
        load_config(tmp_path, environ={**environ, "SECRET_KEY": "session-key-0123456789",
                                       "SECRET_KEY_FILE": str(key_file)})


@pytest.mark.parametrize(("changed", "message"), [
    ({"TRIAL_KEY": "k3y"}, "TRIAL_KEY must be at least 16 bytes long"),
    ({"PSEUDONYM_KEY": "fifteen-chars!!"}, "PSEUDONYM_KEY must be at least 16 bytes"),
    ({"SECRET_KEY": "sh0rt"}, "SECRET_KEY must be at least 16 bytes"),
    ({"PSEUDONYM_KEY": "trial-key-0123456789"},
     "TRIAL_KEY and PSEUDONYM_KEY must be different keys"),
    ({"SECRET_KEY": "trial-key-0123456789"}, "SECRET_KEY and TRIAL_KEY must be different"),
    ({"SECRET_KEY": "pseudonym-key-0123456789"},
     "SECRET_KEY and PSEUDONYM_KEY must be different"),
])
def test_production_refuses_short_or_shared_keys_without_showing_them(
        tmp_path, changed, message):
    """The trial key's fingerprint and the pseudonym key's id are SHA-256
    digests kept in the database: a short key is found from them offline.
    The statistician holds the trial key: were it the pseudonym key too,
    pseudonyms could be linked back to people. Both started (found by
    review)."""
    with pytest.raises(ConfigError, match=message) as refused:
        load_config(tmp_path, environ={**PRODUCTION, **changed})
    for key in (*PRODUCTION_KEYS.values(), *changed.values()):
        assert key.strip() not in str(refused.value)


def test_a_key_file_is_checked_as_a_value_is(tmp_path):
    key_file = tmp_path / "trial.key"
    key_file.write_text("pseudonym-key-0123456789\n")  # the file's line break is taken off
    environ = {**PRODUCTION}
    del environ["TRIAL_KEY"]
    with pytest.raises(ConfigError, match="TRIAL_KEY and PSEUDONYM_KEY must be different"):
        load_config(tmp_path, environ={**environ, "TRIAL_KEY_FILE": str(key_file)})
    key_file.write_text("too-short\n")
    with pytest.raises(ConfigError, match="TRIAL_KEY must be at least 16"):
        load_config(tmp_path, environ={**environ, "TRIAL_KEY_FILE": str(key_file)})


def test_a_trial_or_pseudonym_key_in_use_may_be_kept_however_weak(tmp_path):
    """Another trial key stops randomisation, another pseudonym key breaks
    the pseudonyms' links: a deployment already using a short or shared key
    would have been locked out for good (found by review), so it may keep
    it, saying so. A session key, changed at the cost of a sign-in, may not
    be weak; and a value is used as given, spaces at its ends included."""
    production = {**PRODUCTION}
    for changed in ({"TRIAL_KEY": "k3y"}, {"PSEUDONYM_KEY": PRODUCTION_KEYS["TRIAL_KEY"]}):
        with pytest.raises(ConfigError, match="ALLOW_WEAK_KEYS=1 keeps it"):
            load_config(tmp_path, environ={**production, **changed})
        config = load_config(tmp_path, environ={**production, **changed,
                                                "ALLOW_WEAK_KEYS": "1"})
        assert config["TRIAL_KEY"] == changed.get("TRIAL_KEY", PRODUCTION_KEYS["TRIAL_KEY"])\
            .encode()
    with pytest.raises(ConfigError, match="SECRET_KEY must be at least 16") as refused:
        load_config(tmp_path, environ={**production, "SECRET_KEY": "sh0rt",
                                       "ALLOW_WEAK_KEYS": "1"})
    assert "ALLOW_WEAK_KEYS" not in str(refused.value)
    padded = load_config(tmp_path, environ={**production,
                                            "TRIAL_KEY": "trial-key-0123456789\n"})
    assert padded["TRIAL_KEY"] == b"trial-key-0123456789\n"


def test_the_benchmarks_production_settings_start(tmp_path):
    """bench/run.py runs the app as production with keys of its own."""
    import runpy
    import secrets

    from casework import ROOT

    bench = runpy.run_path(str(ROOT / "bench" / "run.py"))
    environ = bench["app_env"]("sqlite:///bench.db", secrets.token_urlsafe(32))  # as it does
    assert load_config(tmp_path, environ=environ)["CASEWORK_ENV"] == "production"


def test_development_and_tests_keep_their_keys(tmp_path):
    """The checks are production's: development's and the tests' short,
    shared keys start as before (the tests' own, the throttle test's one key
    for all three)."""
    for env in ("development", "test"):
        config = load_config(tmp_path, environ={"CASEWORK_ENV": env, "SECRET_KEY": "s",
                                                "TRIAL_KEY": "k", "PSEUDONYM_KEY": "k"})
        assert (config["TRIAL_KEY"], config["PSEUDONYM_KEY"]) == (b"k", b"k")


def test_the_sign_in_limit_is_read_or_refused(tmp_path):
    def limit(raw):
        return load_config(tmp_path, environ={"LOGIN_RATE_LIMIT": raw})["LOGIN_RATE_LIMIT"]

    assert limit("") == "5 per 15 minutes" and limit("10 per hour") == "10 per hour"
    for bad in ("abc", "5 every 15 minutes", "five per minute"):
        # Flask-Limiter would ignore it, and sign-in would not be throttled at all
        with pytest.raises(ConfigError, match="LOGIN_RATE_LIMIT must be a limit"):
            limit(bad)


@pytest.mark.parametrize("name, default", [
    ("LOGIN_ADDRESS_RATE_LIMIT", "20 per 15 minutes"),
    ("LOGIN_ACCOUNT_RATE_LIMIT", "30 per 15 minutes"),
])
def test_the_address_and_account_limits_are_read_or_refused(tmp_path, name, default):
    assert load_config(tmp_path, environ={})[name] == default
    assert load_config(tmp_path, environ={name: "7 per hour"})[name] == "7 per hour"
    with pytest.raises(ConfigError, match=f"{name} must be a limit"):
        load_config(tmp_path, environ={name: "seven a minute"})


def test_the_sign_in_throttles_redis_gives_up_after_a_second_unless_set(tmp_path):
    """redis-py waits for ever unless told: a Redis that never answered held
    every sign-in, and the in-memory fallback never began (found by review)."""
    def options(uri=None, **environ):
        if uri is not None:
            environ["RATELIMIT_STORAGE_URI"] = uri
        return load_config(tmp_path, environ=environ)["RATELIMIT_STORAGE_OPTIONS"]

    limits = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
    for uri in ("redis://redis.internal:6379", "rediss://redis.internal:6380/1",
                "redis+unix:///run/redis.sock", "redis+cluster://c1:7000"):
        assert options(uri) == limits
    # the sentinels too, behind Sentinel
    assert options("redis+sentinel://s1:26379/casework") == {**limits, "sentinel_kwargs": limits}
    assert options("redis://r:6379", RATELIMIT_STORAGE_TIMEOUT_SECONDS="0.5") == {
        "socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    # the default memory:// (and any other storage) is given nothing it would not take
    assert options() == {} and options("memcached://m:11211") == {}
    for bad in ("0", "-1", "soon", "nan", "inf"):
        with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_TIMEOUT_SECONDS must be"):
            options("redis://r:6379", RATELIMIT_STORAGE_TIMEOUT_SECONDS=bad)


def test_a_throttle_storage_of_no_known_kind_is_said_not_a_traceback(tmp_path):
    """``bogus://x`` was a traceback from the limits library at start (found
    by review); the message names the address's kind, never the address,
    which may carry Redis's password."""
    for uri, kind in (("bogus://user:secret@x", "an address of kind 'bogus'"),
                      ("redis:secret@host:6379", "an address without ://"),
                      ("async+redis://r:6379", "an address of kind 'async+redis'")):
        with pytest.raises(ConfigError) as refused:
            load_config(tmp_path, environ={"RATELIMIT_STORAGE_URI": uri})
        assert str(refused.value) == ("RATELIMIT_STORAGE_URI must be memory:// or a Redis "
                                      f"address such as redis://127.0.0.1:6379, not {kind}.")
        assert "secret" not in str(refused.value)
    assert load_config(tmp_path, environ={"RATELIMIT_STORAGE_URI": " redis://r:6379 "})[
        "RATELIMIT_STORAGE_URI"] == "redis://r:6379"
    assert load_config(tmp_path, environ={"RATELIMIT_STORAGE_URI": "REDIS://r:6379"})[
        "RATELIMIT_STORAGE_OPTIONS"]["socket_timeout"] == 1.0


def test_trusted_proxies_is_read(tmp_path):
    assert load_config(tmp_path, environ={})["TRUSTED_PROXIES"] == 0
    assert load_config(tmp_path, environ={"TRUSTED_PROXIES": "1"})["TRUSTED_PROXIES"] == 1
    for bad in ("-1", "yes"):
        with pytest.raises(ConfigError, match="TRUSTED_PROXIES must be"):
            load_config(tmp_path, environ={"TRUSTED_PROXIES": bad})


def test_the_timeout_warning_comes_at_most_half_way_and_says_how_long():
    from casework.main import duration_words, warning_seconds

    assert warning_seconds(30 * 60, 120) == 120 and warning_seconds(60, 120) == 30
    assert duration_words(120) == "2 minutes" and duration_words(60) == "1 minute"
    assert duration_words(30) == "30 seconds"


def test_production_does_not_start_without_its_database(tmp_path):
    """Production without DATABASE_URL ran on the checkout's SQLite file
    (found by review)."""
    without = {name: value for name, value in PRODUCTION.items() if name != "DATABASE_URL"}
    for environ in (without, {**without, "DATABASE_URL": " "}):
        with pytest.raises(ConfigError, match="DATABASE_URL must be set in production"):
            load_config(tmp_path, environ=environ)
    assert load_config(tmp_path, environ={})["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:")


def test_production_warns_of_settings_it_should_not_run_with(tmp_path):
    """Production started with the sign-in throttle counting in each worker's
    memory, or on SQLite, without a word (found by review)."""
    from casework.config import start_up_warnings

    def warned(**changed):
        return " ".join(start_up_warnings(load_config(tmp_path, environ={**PRODUCTION,
                                                                         **changed})))

    assert "RATELIMIT_STORAGE_URI is memory://" in warned()
    assert warned(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379") == ""
    assert "DATABASE_URL is a SQLite database" in warned(
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379", DATABASE_URL="sqlite:////srv/x.db")
    assert start_up_warnings(load_config(tmp_path, environ={})) == []  # development's defaults


def test_production_says_so_when_gov_uk_frontend_is_not_installed(tmp_path, caplog):
    """Without `npm ci` every page was drawn unstyled, its stylesheet and
    scripts 404, and nothing said why (found by review)."""
    from casework import _warn_at_start_up

    config = {**load_config(tmp_path, environ={**PRODUCTION,
                                               "RATELIMIT_STORAGE_URI": "redis://r:6379"})}
    with caplog.at_level("WARNING", logger="casework"):
        _warn_at_start_up(config)  # installed, as the tests' checkout is
        assert caplog.messages == []
        _warn_at_start_up({**config, "GOVUK_FRONTEND_DIR": str(tmp_path / "none")})
    assert len(caplog.messages) == 1
    assert "GOV.UK Frontend is not installed at" in caplog.messages[0]
    assert "npm ci" in caplog.messages[0]
