"""Configuration: the only module that reads the environment.

Every setting comes from an environment variable (or, for secrets, a key file
named by one). ``load_config`` returns a plain dict that ``create_app`` applies,
so tests can pass their own dict instead and never touch ``os.environ``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

from limits.storage import SCHEMES as STORAGE_SCHEMES

ENVIRONMENTS = ("development", "production", "test")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _read_key(environ: Mapping[str, str], name: str) -> bytes | None:
    """A secret from ``NAME`` (the value itself) or ``NAME_FILE`` (a path to a file).

    Keys are held outside the database on purpose: whoever can read the
    database must not thereby be able to predict allocations or reverse
    pseudonyms.
    """
    value = environ.get(name)
    path = environ.get(f"{name}_FILE")
    if value and path:
        raise ConfigError(f"Set either {name} or {name}_FILE, not both.")
    if value:
        return value.encode()
    if path:
        try:
            data = Path(path).read_bytes().strip()
        except OSError as error:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {error.strerror}") from error
        if not data:
            raise ConfigError(f"{name}_FILE: {path} is empty.")
        return data
    return None


# The secrets, each given as itself or as a file (NAME_FILE), and where
# development keeps the one it makes when none is given.
DEVELOPMENT_KEY_FILES = {"SECRET_KEY": "secret_key", "TRIAL_KEY": "trial.key",
                         "PSEUDONYM_KEY": "pseudonym.key"}
KEYS = tuple(DEVELOPMENT_KEY_FILES)
MIN_KEY_LENGTH = 16
KEY_ADVICE = "python3 -c 'import secrets; print(secrets.token_hex(32))' makes a good one"


def _check_production_keys(environ: Mapping[str, str], keys: dict[str, bytes | None]) -> None:
    """Refuse to start with keys that are missing, short or shared.

    The trial key's fingerprint and the pseudonym key's id are SHA-256
    digests of the keys, stored in the database and the audit log, so a
    short key could be found from them offline; the statistician holds the
    trial key, and with it equal to the pseudonym key could link an
    extract's pseudonyms back to people; and the session key signs every
    session. None of these was checked (found by review). Messages name the
    setting, never the key.

    A session key is changed at no cost (everyone signs in again). A trial
    or pseudonym key already in use is not: under another key the trial
    refuses to randomise, and pseudonyms no longer link to earlier
    extracts. So a deployment whose trial or pseudonym key is short, or is
    the other's, may keep it with ``ALLOW_WEAK_KEYS=1`` (a review found the
    checks would otherwise lock it out for good). A value is used as given,
    spaces and line breaks at its ends included, as before: a key file's
    are taken off."""
    allow_weak = environ.get("ALLOW_WEAK_KEYS", "").strip() == "1"
    for name, key in keys.items():
        if not key:
            raise ConfigError(f"{name} (or {name}_FILE) must be set in production.")
        if len(key) < MIN_KEY_LENGTH and not (allow_weak and name in KEYS_IN_USE):
            raise ConfigError(f"{name} must be at least {MIN_KEY_LENGTH} bytes long in "
                              f"production ({KEY_ADVICE}){_weak_advice(name)}.")
    for first, second in (("TRIAL_KEY", "PSEUDONYM_KEY"), ("SECRET_KEY", "TRIAL_KEY"),
                          ("SECRET_KEY", "PSEUDONYM_KEY")):
        if keys[first] == keys[second] and not (allow_weak and first in KEYS_IN_USE):
            raise ConfigError(f"{first} and {second} must be different keys ({KEY_ADVICE})"
                              f"{_weak_advice(first)}.")


# Keys whose change costs more than a sign-in: see _check_production_keys.
KEYS_IN_USE = ("TRIAL_KEY", "PSEUDONYM_KEY")


def _weak_advice(name: str) -> str:
    if name not in KEYS_IN_USE:
        return ""
    return ("; if people were already randomised or extracts made under it, ALLOW_WEAK_KEYS=1 "
            "keeps it, since another key would stop randomisation or pseudonyms linking")


def _development_secret(instance_path: Path, filename: str) -> bytes:
    """A random secret kept in ``instance/`` so development sessions and keys
    survive restarts. Never used in production, where a missing secret is an error."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / filename
    if not path.exists():
        # Written whole under another name, then linked into place: two
        # processes starting at once agree on one secret, and neither reads
        # a file the other has only begun to write.
        descriptor, draft = tempfile.mkstemp(dir=instance_path, prefix=f".{filename}.")
        try:
            with os.fdopen(descriptor, "w") as file:  # mkstemp: readable by us alone
                file.write(secrets.token_hex(32))
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            os.unlink(draft)
    return path.read_text().strip().encode()


def _positive_int(environ: Mapping[str, str], name: str, default: int,
                  minimum: int = 1) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from error
    if value < minimum:
        raise ConfigError(f"{name} must be greater than zero." if minimum == 1
                          else f"{name} must be {minimum} or more.")
    return value


def _prepare_threshold(environ: Mapping[str, str]) -> int | None:
    """How many runs of a statement on a connection before psycopg prepares
    it on the PostgreSQL server (psycopg's own default, 5), or ``off``: never
    (for a PgBouncer older than 1.21 in transaction pooling mode, which
    cannot follow a statement prepared on one server connection to the next)."""
    raw = (environ.get("DATABASE_PREPARE_THRESHOLD") or "").strip()
    if not raw:
        return 5
    if raw.lower() == "off":
        return None
    try:
        value = int(raw)
    except ValueError as error:
        raise ConfigError("DATABASE_PREPARE_THRESHOLD must be a whole number or off, "
                          f"not {raw!r}.") from error
    if value < 0:
        raise ConfigError("DATABASE_PREPARE_THRESHOLD must be 0 or more, or off.")
    return value


def _closing_code(environ: Mapping[str, str]) -> int:
    raw = environ.get("DIVERSION_CLOSING_CODE") or "22"
    if raw not in {"22", "23"}:
        raise ConfigError(f"DIVERSION_CLOSING_CODE must be 22 or 23, not {raw!r}.")
    return int(raw)


def _intensity_table(environ: Mapping[str, str]) -> dict[int, str | None]:
    """OUTCOME22_INTENSITY, like "1:light,2:light,3:structured,4:intensive,5:none":
    the least intense activity commensurate with each final gravity score."""
    raw = environ.get("OUTCOME22_INTENSITY") or "1:light,2:light,3:structured,4:intensive,5:none"
    table: dict[int, str | None] = {}
    for part in raw.split(","):
        score, _, level = part.strip().partition(":")
        if score not in {"1", "2", "3", "4", "5"} or level not in {
                "light", "structured", "intensive", "none"}:
            raise ConfigError("OUTCOME22_INTENSITY must map each score 1 to 5 to light, "
                              f"structured, intensive or none, like 1:light,...; not {raw!r}.")
        table[int(score)] = None if level == "none" else level
    if set(table) != {1, 2, 3, 4, 5}:
        raise ConfigError("OUTCOME22_INTENSITY must give every score from 1 to 5.")
    return table


# Failed sign-ins allowed: per account from one address; from one address
# across every account (one password tried on many); per account across
# every address (many addresses guessing one account's password). The last is
# generous: each address behind one NAT (an office) has its own allowance of
# the first, which the others are not to use up.
LOGIN_RATE_LIMITS = {
    "LOGIN_RATE_LIMIT": "5 per 15 minutes",
    "LOGIN_ADDRESS_RATE_LIMIT": "20 per 15 minutes",
    "LOGIN_ACCOUNT_RATE_LIMIT": "30 per 15 minutes",
}


def _rate_limit(environ: Mapping[str, str], name: str) -> str:
    """A sign-in limit, checked: Flask-Limiter ignores a limit it cannot
    read, which would leave sign-in unthrottled."""
    from limits import parse_many

    raw = environ.get(name) or LOGIN_RATE_LIMITS[name]
    try:
        parse_many(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a limit such as '5 per 15 minutes', "
                          f"not {raw!r}.") from error
    return raw


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    """A length of time in seconds, more than none (fractions allowed)."""
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}.") from error
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name} must be more than 0 seconds.")
    return value


def _storage_uri(environ: Mapping[str, str]) -> str:
    """The sign-in throttle's storage address, of a kind the limits library
    knows (a mistyped one was a traceback at start, where every other
    setting says what is wrong). The message names its kind, not the
    address, which may hold Redis's password."""
    uri = (environ.get("RATELIMIT_STORAGE_URI") or "memory://").strip()
    scheme, sep, _ = uri.partition("://")
    # of any case, as the limits library reads it (REDIS:// too)
    if sep and scheme.lower() in STORAGE_SCHEMES and not scheme.lower().startswith("async+"):
        return uri
    kind = f"an address of kind {scheme!r}" if sep else "an address without ://"
    raise ConfigError("RATELIMIT_STORAGE_URI must be memory:// or a Redis address such as "
                      f"redis://127.0.0.1:6379, not {kind}.")


def _rate_limit_storage_options(uri: str, timeout: float) -> dict:
    """What the sign-in throttle's storage client is made with: for Redis, a
    time limit on connecting and on each answer. redis-py waits for ever by
    default, so a Redis that took the connection but never answered held
    every sign-in (and the sync worker serving it, until gunicorn killed
    it), and the in-memory fallback never began, as nothing failed (found by
    review). Options in the URI's query (``?socket_timeout=5``) still win.
    Behind Sentinel, the sentinels are asked with the same limit. Other
    storages (``memory://``) take none."""
    server, _, topology = uri.partition("://")[0].lower().partition("+")
    if server not in {"redis", "rediss", "valkey", "valkeys"}:
        return {}
    limits = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    return {**limits, "sentinel_kwargs": limits} if topology == "sentinel" else limits


def start_up_warnings(config: Mapping) -> list[str]:
    """What an operator should hear of at start-up: settings production can
    run with but should not (found by review: it started with each of them
    without a word)."""
    if config["CASEWORK_ENV"] != "production":
        return []
    warnings = []
    if config["RATELIMIT_STORAGE_URI"].lower().startswith("memory://"):
        warnings.append("RATELIMIT_STORAGE_URI is memory://: each worker counts failed sign-ins "
                        "on its own, so the sign-in limits are multiplied by the number of "
                        "workers and servers; point it at Redis (see the README's deployment "
                        "guide).")
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        warnings.append("DATABASE_URL is a SQLite database: it suits one machine and one "
                        "server; a deployment runs on PostgreSQL.")
    return warnings


def load_config(instance_path: Path, environ: Mapping[str, str] | None = None) -> dict:
    """Read every setting casework understands from the environment."""
    environ = os.environ if environ is None else environ
    env = environ.get("CASEWORK_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"CASEWORK_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")
    production = env == "production"

    keys = {name: _read_key(environ, name) for name in KEYS}
    if production:
        _check_production_keys(environ, keys)
    else:
        keys = {name: key or _development_secret(instance_path, DEVELOPMENT_KEY_FILES[name])
                for name, key in keys.items()}

    database_url = (environ.get("DATABASE_URL") or "").strip()
    if production and not database_url:
        # Production on the checkout's SQLite file would keep its records
        # where nobody backs them up, beside a development database (it
        # started so, found by review).
        raise ConfigError("DATABASE_URL must be set in production: its PostgreSQL database's "
                          "address, such as postgresql+psycopg://casework@db.internal:5432/"
                          "casework.")
    database_url = database_url or f"sqlite:///{instance_path / 'casework.db'}"
    storage_uri = _storage_uri(environ)

    return {
        "CASEWORK_ENV": env,
        "SECRET_KEY": keys["SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": database_url,
        # A read replica of it for dashboards and extracts (optional).
        "REPLICA_DATABASE_URL": environ.get("REPLICA_DATABASE_URL") or None,
        "DATABASE_PREPARE_THRESHOLD": _prepare_threshold(environ),
        "TRIAL_KEY": keys["TRIAL_KEY"],
        "PSEUDONYM_KEY": keys["PSEUDONYM_KEY"],
        "RATELIMIT_STORAGE_URI": storage_uri,
        "RATELIMIT_STORAGE_OPTIONS": _rate_limit_storage_options(
            storage_uri, _seconds(environ, "RATELIMIT_STORAGE_TIMEOUT_SECONDS", 1.0)),
        # With its storage (Redis) unreachable, each worker throttles sign-in
        # on its own until it is back, rather than answering every sign-in 500.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        **{name: _rate_limit(environ, name) for name in LOGIN_RATE_LIMITS},
        "IDLE_TIMEOUT_MINUTES": _positive_int(environ, "IDLE_TIMEOUT_MINUTES", 30),
        # How long before the idle timeout a signed-in page warns that it is
        # coming (at most half the timeout: a page would otherwise warn at once)
        "TIMEOUT_WARNING_SECONDS": _positive_int(environ, "TIMEOUT_WARNING_SECONDS", 120),
        # How long a lead dashboard's figures are kept before being worked out
        # again (0: every time); the page says when they were worked out.
        "DASHBOARD_FIGURES_SECONDS": _positive_int(environ, "DASHBOARD_FIGURES_SECONDS", 30,
                                                   minimum=0),
        # Days without an attended contact before a treated person is overdue.
        "CONTACT_DAYS_ENGAGED": _positive_int(environ, "CONTACT_DAYS_ENGAGED", 14),
        "CONTACT_DAYS_AT_RISK": _positive_int(environ, "CONTACT_DAYS_AT_RISK", 28),
        # Diversion: weeks to the due date, the closing outcome code, and
        # Outcome 22's minimum activity intensity by final gravity score.
        "DIVERSION_WEEKS_CHECKPOINT": _positive_int(environ, "DIVERSION_WEEKS_CHECKPOINT", 16),
        "DIVERSION_WEEKS_OUTCOME22": _positive_int(environ, "DIVERSION_WEEKS_OUTCOME22", 12),
        "DIVERSION_CLOSING_CODE": _closing_code(environ),
        "OUTCOME22_INTENSITY": _intensity_table(environ),
        # Extracts are generalised until every quasi-identifier group has this many.
        "EXTRACT_MIN_K": _positive_int(environ, "EXTRACT_MIN_K", 5),
        "SESSION_COOKIE_SECURE": production,
        # Reverse proxies in front of the app whose X-Forwarded-For and
        # -Proto are trusted (the client's address for the sign-in throttle
        # and the audit log): 0 when the app is reached directly.
        "TRUSTED_PROXIES": _positive_int(environ, "TRUSTED_PROXIES", 0, minimum=0),
        "GOVUK_FRONTEND_DIR": environ.get("GOVUK_FRONTEND_DIR"),
    }
