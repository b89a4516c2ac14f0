"""Signing in and out: messages, sessions, idle timeout, throttling, audit."""

from __future__ import annotations

import re
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.extensions import db
from tests.conftest import PASSWORD, csrf_token, sign_in


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_pages_need_sign_in(client):
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=/admin/users")


def test_sign_in_and_out(client, make_user):
    user = make_user("lead", ("coventry",))
    response = sign_in(client, user.email.upper())
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert user.display_name in client.get("/").get_data(as_text=True)
    client.post("/sign-out", data={"csrf_token": csrf_token(client)})
    assert client.get("/").status_code == 302
    assert actions()[-2:] == ["auth:login", "auth:logout"]


def test_a_session_cookie_replayed_after_sign_out_is_refused(app, client, make_user):
    user = make_user("lead", ("coventry",))
    sign_in(client, user.email)
    assert client.get("/").status_code == 200
    stolen = client.get_cookie("casework_session").value
    other_device = app.test_client()
    sign_in(other_device, user.email)
    client.post("/sign-out", data={"csrf_token": csrf_token(client)})

    attacker = app.test_client()
    attacker.set_cookie("casework_session", stolen)
    response = attacker.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")
    # Signing out ends the user's other sessions as well.
    assert other_device.get("/").status_code == 302
    sign_in(client, user.email)
    assert client.get("/").status_code == 200


def test_failures_look_the_same_whether_or_not_the_email_exists(client, make_user):
    user = make_user()
    wrong_password = sign_in(client, user.email, "not the right password")
    unknown_email = sign_in(client, "nobody@example.org", PASSWORD)
    for response in (wrong_password, unknown_email):
        assert response.status_code == 422
        assert "Enter a correct email address and password" in response.get_data(as_text=True)
    assert wrong_password.get_data(as_text=True).count("correct email") == \
        unknown_email.get_data(as_text=True).count("correct email")
    assert actions()[-2:] == ["auth:login_failed", "auth:login_failed"]


def test_a_failed_sign_in_is_by_someone_not_signed_in_about_the_account_tried(
        client, login_as, post, make_user):
    """Failed sign-ins were recorded as the tried account's own actions: an
    inspector filtering the log by the lead's email read an attacker's
    guesses as the lead's (found by review). They are now by someone not
    signed in, about the account; an unknown email's is about no one."""
    user = make_user("lead", ("coventry",), email="tried@example.org")
    sign_in(client, user.email, "not the right password")
    sign_in(client, "nobody@example.org", PASSWORD)
    failed = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "auth:login_failed").order_by(AuditEvent.id)).all()
    assert [(e.actor_id, e.actor_role, e.subject_type, e.subject_id) for e in failed] == [
        (None, "anonymous", "user", str(user.id)), (None, "anonymous", None, None)]
    login_as("admin", ())
    own = client.get(f"/audit/?actor={user.email}").get_data(as_text=True)
    assert "<code>auth:login_failed</code>" not in own
    shown = client.get("/audit/?action=auth:login_failed").get_data(as_text=True)
    assert shown.count("someone not signed in") == 2


def test_failed_sign_in_keeps_the_email_but_not_the_password(client, make_user):
    user = make_user()
    page = sign_in(client, user.email, "not the right password").get_data(as_text=True)
    assert f'value="{user.email}"' in page
    assert "not the right password" not in page


def test_deactivated_user_cannot_sign_in(client, make_user, now):
    from casework.accounts import services

    user = make_user()
    services.deactivate_user(user, actor=None, now=now)
    db.session.commit()
    response = sign_in(client, user.email)
    assert "Enter a correct email address and password" in response.get_data(as_text=True)


def test_sign_in_starts_a_new_session(client, make_user):
    user = make_user()
    client.get("/sign-in")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    sign_in(client, user.email)
    with client.session_transaction() as session:
        assert "planted" not in session


def test_next_only_goes_to_this_site(client, make_user):
    user = make_user("admin", ())
    token = csrf_token(client, "/sign-in")
    for target, expected in (("/admin/users", "/admin/users"), ("//evil.example/", "/"),
                             ("https://evil.example/", "/")):
        client.get("/sign-in")
        response = client.post(
            f"/sign-in?next={target}",
            data={"email": user.email, "password": PASSWORD, "csrf_token": token},
        )
        assert response.headers["Location"] == expected
        client.post("/sign-out", data={"csrf_token": csrf_token(client)})
        token = csrf_token(client, "/sign-in")


def test_a_next_with_a_line_break_goes_home_and_the_sign_in_is_audited(client, make_user):
    """?next=/x%0d%0a signed the user in, then failed to redirect: a 500
    carrying the new session's cookie, with the sign-in's event rolled back
    (found by review)."""
    from sqlalchemy import select

    from casework.audit.models import AuditEvent
    from casework.extensions import db

    user = make_user("admin", ())
    for target in ("/x%0d%0aSet-Cookie:%20a=b", "/x%09y", "/%5Cevil.example"):
        token = csrf_token(client, "/sign-in")
        response = client.post(f"/sign-in?next={target}",
                               data={"email": user.email, "password": PASSWORD,
                                     "csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"] == "/"
        client.post("/sign-out", data={"csrf_token": csrf_token(client)})
    logins = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "auth:login")).all()
    assert len(logins) == 3


def test_idle_session_is_signed_out(client, login_as):
    login_as("caseworker")
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        session["last_active"] = time.time() - 31 * 60
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in?next=/"
    assert "inactive for 30 minutes" in client.get("/sign-in").get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert "auth:session_expired" in actions()


def _idle(client):
    with client.session_transaction() as session:
        session["last_active"] = time.time() - 31 * 60


def test_signing_in_again_after_the_idle_timeout_goes_back_to_the_page(client, login_as):
    # the sign-in after the timeout went to the home page, wherever the user was
    user = login_as("lead")
    _idle(client)
    response = client.get("/referrals?page=2&q=smith")
    assert response.headers["Location"] == "/sign-in?next=/referrals?page%3D2%26q%3Dsmith"
    token = csrf_token(client, response.headers["Location"])
    again = client.post(response.headers["Location"], data={
        "email": user.email, "password": PASSWORD, "csrf_token": token})
    assert again.status_code == 302 and again.headers["Location"] == "/referrals?page=2&q=smith"
    # a form sent after the timeout: its page, drawn again (the form is not resent)
    token = csrf_token(client)
    _idle(client)
    response = client.post("/referrals/new", data={"csrf_token": token})
    assert response.headers["Location"] == "/sign-in?next=/referrals/new"
    # what has no page of its own leads nowhere in particular: the home page
    sign_in(client, user.email)
    token = csrf_token(client)
    _idle(client)
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.headers["Location"] == "/sign-in"
    assert actions().count("auth:session_expired") == 3


def test_activity_within_the_timeout_keeps_the_session(client, login_as):
    login_as("caseworker")
    with client.session_transaction() as session:
        session["last_active"] = time.time() - 29 * 60
    assert client.get("/").status_code == 200


def test_activity_is_recorded_at_most_once_a_minute(client, login_as):
    # Re-signing the cookie on every request was a twentieth of a small page:
    # within a minute of the last record the session is left as it is.
    login_as("caseworker")
    client.get("/")
    recorded = time.time() - 30
    with client.session_transaction() as session:
        session["last_active"] = recorded
    response = client.get("/")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    with client.session_transaction() as session:
        assert session["last_active"] == recorded
        session["last_active"] = time.time() - 90
    response = client.get("/")
    assert "casework_session=" in response.headers["Set-Cookie"]
    with client.session_transaction() as session:
        assert time.time() - session["last_active"] < 5


def test_the_cookie_sent_at_sign_in_needs_no_new_one_on_the_pages_after(client, make_user):
    """The sign-in's cookie holds the session's activity and CSRF token, so a
    client that keeps sending it (as a load generator does) is not sent a
    newly signed cookie with every page: each page drew a sign-out form
    (a CSRF token) and recorded activity into a session that had neither."""
    user = make_user("lead")
    sign_in(client, user.email)
    with client.session_transaction() as session:
        first = dict(session)
    assert time.time() - first["last_active"] < 5 and first["csrf_token"]
    for path in ("/", "/referrals", "/dashboard"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers, path
        assert 'name="csrf_token"' in response.get_data(as_text=True)  # the sign-out form
    with client.session_transaction() as session:
        assert dict(session) == first


def test_deactivation_ends_open_sessions(client, login_as, now):
    from casework.accounts import services

    user = login_as("caseworker")
    assert client.get("/").status_code == 200
    services.deactivate_user(user, actor=None, now=now)
    db.session.commit()
    assert client.get("/").status_code == 302


@pytest.fixture
def throttled_app(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per 15 minutes")
    with app.app_context():
        yield app


def _failed_attempts(app, count, email="victim@example.org"):
    client = app.test_client()
    token = csrf_token(client, "/sign-in")
    return client, [
        client.post("/sign-in", data={"email": email, "password": "wrong guess here",
                                      "csrf_token": token}).status_code
        for _ in range(count)
    ]


def test_repeated_failures_are_throttled(throttled_app):
    client, codes = _failed_attempts(throttled_app, 5)
    assert codes == [422, 422, 422, 429, 429]
    page = client.post("/sign-in", data={"email": "victim@example.org", "password": "x",
                                         "csrf_token": csrf_token(client, "/sign-in")})
    assert page.status_code == 429
    assert "Too many attempts" in page.get_data(as_text=True)
    assert actions().count("auth:throttled") == 3
    # by someone not signed in, about the account tried, as a failed sign-in
    # is: they were the account's own actions (found by review)
    throttled = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "auth:throttled")).all()
    assert {(e.actor_id, e.actor_role) for e in throttled} == {(None, "anonymous")}
    # Another account from the same address is not locked out by these.
    other = client.post("/sign-in", data={"email": "other@example.org", "password": "x",
                                          "csrf_token": csrf_token(client, "/sign-in")})
    assert other.status_code == 422


def test_a_long_email_makes_short_throttle_keys_and_is_not_sent_back(throttled_app):
    """The keys held the email as typed: each sign-in with another 5 MB
    email kept two keys of 5 MB in Redis for 15 minutes, and the page sent
    the 5 MB back (found by review)."""
    from casework.extensions import limiter

    long_email = "a" * 1_000_000 + "@example.org"
    client = throttled_app.test_client()
    token = csrf_token(client, "/sign-in")
    pages = [client.post("/sign-in", data={"email": long_email, "password": "wrong guess",
                                           "csrf_token": token}) for _ in range(4)]
    assert [page.status_code for page in pages] == [422, 422, 422, 429]  # counted, as one
    keys = list(limiter.storage.storage)
    assert len(keys) == 3 and all(len(key) < 200 for key in keys), keys  # the three limits
    html = pages[0].get_data(as_text=True)
    assert len(html) < 100_000 and "aaaaaaaaaa" not in html
    assert "Email address must be 254 characters or fewer" in html
    # One email is one key, whatever its case or the spaces around it.
    other = throttled_app.test_client()
    token = csrf_token(other, "/sign-in")
    assert [other.post("/sign-in", data={"email": email, "password": "wrong guess here",
                                         "csrf_token": token}).status_code
            for email in ("Someone@example.org", " someone@EXAMPLE.org ", "someone@example.org",
                          "SOMEONE@example.org")] == [422, 422, 422, 429]


def test_an_email_of_an_accounts_length_is_sent_back(client):
    email = "b" * 242 + "@example.org"  # 254 characters, the most an account's may have
    page = client.post("/sign-in", data={"email": email, "password": "x",
                                         "csrf_token": csrf_token(client, "/sign-in")})
    assert page.status_code == 422 and f'value="{email}"' in page.get_data(as_text=True)


def _attempt(client, email, address, token):
    return client.post("/sign-in", environ_base={"REMOTE_ADDR": address}, data={
        "email": email, "password": "Summer2026!xx", "csrf_token": token}).status_code


def test_one_address_cannot_try_a_password_on_account_after_account(make_app, make_user):
    # counted per account and address only, one address could try one
    # password on every account there is, a few tries each
    app = make_app(LOGIN_RATE_LIMIT="3 per 15 minutes",
                   LOGIN_ADDRESS_RATE_LIMIT="8 per 15 minutes")
    with app.app_context():
        known = make_user("caseworker", email="known@example.org")
        client = app.test_client()
        token = csrf_token(client, "/sign-in")
        codes = [_attempt(client, f"user{n}@example.org", "203.0.113.7", token)
                 for n in range(10)]
        assert codes == [422] * 8 + [429] * 2
        # refused whoever the account is, with the same page: known or not
        refusals = [client.post("/sign-in", environ_base={"REMOTE_ADDR": "203.0.113.7"}, data={
            "email": email, "password": password, "csrf_token": token})
            for email, password in (("nobody@example.org", "x"), (known.email, PASSWORD))]
        assert [r.status_code for r in refusals] == [429, 429]
        pages = [re.sub(r'nonce="[^"]+"', "", r.get_data(as_text=True)) for r in refusals]
        assert pages[0] == pages[1]
        # another address is not refused for it
        assert _attempt(client, "user0@example.org", "203.0.113.8", token) == 422
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "auth:throttled").order_by(AuditEvent.id)).all()
        assert [e.detail for e in events] == [{"limit": "address"}] * 4
        # about the account tried, if any; by someone not signed in
        assert events[-1].subject_id == str(known.id) and events[0].subject_id is None
        assert {e.actor_id for e in events} == {None}


def test_many_addresses_cannot_share_out_the_guesses_at_one_account(make_app):
    # each address had its own allowance for the account, however many
    app = make_app(LOGIN_RATE_LIMIT="3 per 15 minutes",
                   LOGIN_ACCOUNT_RATE_LIMIT="10 per 15 minutes")
    with app.app_context():
        client = app.test_client()
        token = csrf_token(client, "/sign-in")
        codes = [_attempt(client, "victim@example.org", f"198.51.100.{n}", token)
                 for n in range(12)]
        assert codes == [422] * 10 + [429] * 2
        # the addresses can still try other accounts
        assert _attempt(client, "other@example.org", "198.51.100.1", token) == 422
        assert [e.detail for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "auth:throttled"))] == [{"limit": "account"}] * 2


def test_the_limits_are_generous_enough_by_default(make_app):
    """An office behind one address (NAT): a few people's mistyped passwords
    are not refused, and one account mistyped from a few places neither."""
    app = make_app()
    with app.app_context():
        client = app.test_client()
        token = csrf_token(client, "/sign-in")
        office = [_attempt(client, f"person{n}@example.org", "192.0.2.1", token)
                  for n in range(5) for _ in range(3)]
        assert set(office) == {422}
        places = [_attempt(client, "roaming@example.org", f"192.0.2.{n}", token)
                  for n in range(10, 15) for _ in range(4)]
        assert set(places) == {422}


def test_refusals_do_not_spend_the_other_limits(make_app):
    """An address over its limit for an account kept trying it: each refusal
    counted against the account's ceiling too, so the attacker's refused
    guesses used up the allowance everyone else signs in to the account with.
    (The limits are checked shortest period first, and one is counted only
    if checked before the one refusing: so it was when the account's period
    was the shorter.)"""
    app = make_app(LOGIN_RATE_LIMIT="3 per hour", LOGIN_ADDRESS_RATE_LIMIT="100 per hour",
                   LOGIN_ACCOUNT_RATE_LIMIT="5 per 15 minutes")
    with app.app_context():
        client = app.test_client()
        token = csrf_token(client, "/sign-in")
        attacker = [_attempt(client, "victim@example.org", "203.0.113.66", token)
                    for _ in range(10)]
        assert attacker == [422] * 3 + [429] * 7
        others = [_attempt(client, "victim@example.org", f"192.0.2.{n}", token)
                  for n in range(3)]
        assert others == [422, 422, 429]  # 3 + 2 failures: the account's 5


def test_behind_a_trusted_proxy_the_client_is_its_forwarded_address(make_app, migrated,
                                                                    monkeypatch):
    from sqlalchemy import select
    from werkzeug.middleware.proxy_fix import ProxyFix

    from casework import create_app
    from casework.audit.models import AuditEvent

    # read from the environment, as the README's deployment sets it (it was not)
    monkeypatch.setenv("CASEWORK_ENV", "test")
    monkeypatch.setenv("DATABASE_URL", migrated)
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    assert isinstance(create_app().wsgi_app, ProxyFix)

    app = make_app(LOGIN_RATE_LIMIT="3 per 15 minutes", TRUSTED_PROXIES=1)
    with app.app_context():
        client = app.test_client()
        token = csrf_token(client, "/sign-in")
        codes = [client.post("/sign-in", headers={"X-Forwarded-For": f"198.51.100.{n % 2}"},
                             data={"email": "victim@example.org", "password": "wrong guess",
                                   "csrf_token": token}).status_code for n in range(6)]
        # each address has its own three attempts: one address cannot lock
        # everyone else behind the proxy out of the account
        assert codes == [422, 422, 422, 422, 422, 422]
        assert client.post("/sign-in", headers={"X-Forwarded-For": "198.51.100.0"},
                           data={"email": "victim@example.org", "password": "wrong guess",
                                 "csrf_token": token}).status_code == 429
        addresses = set(db.session.scalars(select(AuditEvent.client_addr).where(
            AuditEvent.action == "auth:login_failed")))
        assert addresses == {"198.51.100.0", "198.51.100.1"}


def test_with_redis_unreachable_each_worker_throttles_on_its_own(make_app):
    # nothing listens on this port: every sign-in answered 500 before
    from casework.extensions import limiter

    app = make_app(LOGIN_RATE_LIMIT="3 per 15 minutes",
                   RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    try:
        with app.app_context():
            _, codes = _failed_attempts(app, 5)
            assert codes == [422, 422, 422, 429, 429]
    finally:
        # The limiter is one object that every test's app shares; in service
        # each process has one app, whose limiter goes back to Redis once it
        # answers. The next test's app starts with its storage alive.
        limiter._storage_dead = False


@contextmanager
def _redis_that_never_answers():
    """A server that takes connections and never answers: a Redis hung, or
    something else listening on its port. Once done, the connections it
    holds are closed (a client still waiting on one is let go)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    held, done = [], threading.Event()

    def take_connections():
        while not done.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    taker = threading.Thread(target=take_connections, daemon=True)
    taker.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        done.set()
        taker.join()
        for connection in held:
            connection.close()
        listener.close()


def test_a_redis_that_never_answers_does_not_hold_sign_in(make_app, migrated, monkeypatch):
    """redis-py waits for an answer for ever unless told otherwise: every
    sign-in hung (and in service each sync worker with it, until gunicorn
    killed it), and the in-memory fallback never began, since nothing failed
    (found by review). Configured from the environment, as in service, the
    storage gives up after a second and each worker throttles on its own."""
    from concurrent.futures import ThreadPoolExecutor

    from casework import create_app
    from casework.extensions import limiter
    from tests.conftest import RequestClient

    make_app()  # its clean-up empties the tables this app writes to
    # the server is let go of first: a sign-in still waiting on it then ends
    with ThreadPoolExecutor(1) as pool, _redis_that_never_answers() as url:
        for name, value in {"CASEWORK_ENV": "test", "DATABASE_URL": migrated,
                            "RATELIMIT_STORAGE_URI": url,
                            "LOGIN_RATE_LIMIT": "3 per 15 minutes"}.items():
            monkeypatch.setenv(name, value)
        app = create_app()
        app.test_client_class = RequestClient
        try:
            client = app.test_client()
            token = csrf_token(client, "/sign-in")
            for expected in (422, 422, 422, 429):
                started = time.monotonic()
                answer = pool.submit(client.post, "/sign-in", data={
                    "email": "victim@example.org", "password": "wrong guess here",
                    "csrf_token": token})
                assert answer.result(timeout=10).status_code == expected
                assert time.monotonic() - started < 5
        finally:
            limiter._storage_dead = False  # the next test's app starts with its storage alive
            with app.app_context():
                db.engine.dispose()


def test_successful_sign_ins_are_not_counted(throttled_app):
    from casework.accounts import services
    from casework.database import utcnow

    services.create_user(email="often@example.org", display_name="Often", role="lead",
                         sites=services.sites_by_keys(["coventry"]), password=PASSWORD,
                         actor=None, now=utcnow())
    db.session.commit()
    client = throttled_app.test_client()
    for _ in range(5):
        assert sign_in(client, "often@example.org").status_code == 302
        client.post("/sign-out", data={"csrf_token": csrf_token(client)})


def test_an_app_wide_limit_keeps_the_limiters_check_of_every_request(make_app):
    """Only the views that carry a limit check one (the sign-in, above); an
    app-wide or default limit, if ever set, still applies to every page."""
    from casework.extensions import limiter

    assert limiter._check_request_limit not in make_app().before_request_funcs[None]
    try:
        limited = make_app(RATELIMIT_DEFAULT="2 per minute")
        assert limiter._check_request_limit in limited.before_request_funcs[None]
        client = limited.test_client()
        assert [client.get("/health").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        # the limiter is one for every app made here (as in a worker): no
        # other test is to inherit the default
        limiter.limit_manager.set_default_limits([])
    assert limiter._check_request_limit not in make_app().before_request_funcs[None]


def test_an_app_with_rate_limiting_turned_off_starts(make_app):
    from casework.extensions import limiter

    try:
        client = make_app(RATELIMIT_ENABLED=False).test_client()
        assert client.get("/health").status_code == 200
    finally:
        # the limiter keeps the setting for the apps made after (one limiter)
        make_app(RATELIMIT_ENABLED=True)
    assert limiter.enabled


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url("redis://127.0.0.1:6379", socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_available(), reason="Redis is not running on 127.0.0.1:6379")
def test_throttling_shares_state_through_redis(make_app):
    import uuid

    prefix = f"casework-test-{uuid.uuid4()}"
    settings = {"LOGIN_RATE_LIMIT": "2 per 15 minutes",
                "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
                "RATELIMIT_KEY_PREFIX": prefix}
    first = make_app(**settings)
    with first.app_context():
        _, codes = _failed_attempts(first, 2)
    assert codes == [422, 422]
    # A second worker (another app on the same Redis) sees the same count.
    second = make_app(**settings)
    with second.app_context():
        _, codes = _failed_attempts(second, 1)
    assert codes == [429]


def test_pages_carry_the_timeout_warning_for_the_signed_in(client, login_as, app):
    assert 'id="timeout-warning"' not in client.get("/sign-in").get_data(as_text=True)
    login_as("caseworker")
    page = client.get("/").get_data(as_text=True)
    minutes = app.config["IDLE_TIMEOUT_MINUTES"]
    assert 'id="timeout-warning"' in page and f'data-idle-seconds="{minutes * 60}"' in page
    alive = client.get("/session")
    assert alive.json == {"idle_timeout_seconds": minutes * 60}
    assert alive.headers["Cache-Control"] == "no-store"
