"""Sign-in throttling holds across app servers that share Redis.

Two separate server processes (as two workers or two machines would be),
configured only through the environment as in production, take turns to
answer wrong passwords for one account: the limit counts the attempts made
to both. The same pair with in-memory storage lets each count alone, which
is why production sets RATELIMIT_STORAGE_URI to Redis."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager

import pytest

from tests.conftest import PASSWORD

REDIS_URL = os.environ.get("CASEWORK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = 4
SERVE = ("import sys; from werkzeug.serving import run_simple; from casework import create_app; "
         "run_simple('127.0.0.1', int(sys.argv[1]), create_app(), threaded=True)")


def redis_reachable() -> bool:
    parts = urllib.parse.urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not redis_reachable() and not os.environ.get("CASEWORK_REQUIRE_REDIS"),
    reason=f"Redis is not reachable at {REDIS_URL}",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def servers(database_url: str, storage: str, count: int = 2):
    env = {**os.environ, "CASEWORK_ENV": "test", "DATABASE_URL": database_url,
           "SECRET_KEY": "throttle-test", "TRIAL_KEY": "throttle-test",
           "PSEUDONYM_KEY": "throttle-test", "RATELIMIT_STORAGE_URI": storage,
           "LOGIN_RATE_LIMIT": f"{LIMIT} per 15 minutes",
           # every run's attempts come from 127.0.0.1, counted in Redis for
           # 15 minutes: the address's own limit is out of the way of runs
           # close together (each run's account is new)
           "LOGIN_ADDRESS_RATE_LIMIT": "10000 per 15 minutes"}
    ports = [free_port() for _ in range(count)]
    processes = [subprocess.Popen([sys.executable, "-c", SERVE, str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + 30
        for base in bases:
            while True:
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=2).close()  # noqa: S310
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        yield bases
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


class Browser:
    """One browser's cookies, talking to one server."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            NoRedirect())

    def sign_in(self, email: str, password: str) -> int:
        page = self.opener.open(f"{self.base}/sign-in", timeout=10).read().decode()
        token = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"email": email, "password": password,
                                       "csrf_token": token}).encode()
        try:
            with self.opener.open(f"{self.base}/sign-in", data=body, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def attempts_until_throttled(bases: list[str], email: str) -> int:
    browsers = [Browser(base) for base in bases]
    for attempt in range(1, 3 * LIMIT):
        status = browsers[attempt % len(browsers)].sign_in(email, "not the password")
        if status == 429:
            return attempt
        assert status == 422, status  # a failed sign-in, as every form with errors
    return 3 * LIMIT


def new_account(make_user) -> str:
    from casework.extensions import db

    email = make_user("caseworker", email=f"throttle-{uuid.uuid4().hex[:12]}@example.org").email
    db.session.commit()  # on SQLite, hold no lock while the servers write
    return email


def test_the_limit_is_shared_by_servers_using_redis(app, make_user, database_url):
    email = new_account(make_user)
    with servers(database_url, REDIS_URL) as bases:
        assert attempts_until_throttled(bases, email) == LIMIT + 1
        # Now refused everywhere, the right password included.
        assert [Browser(base).sign_in(email, PASSWORD) for base in bases] == [429, 429]


def test_in_memory_limits_are_per_server(app, make_user, database_url):
    email = new_account(make_user)
    with servers(database_url, "memory://") as bases:
        assert attempts_until_throttled(bases, email) == 2 * LIMIT + 1
