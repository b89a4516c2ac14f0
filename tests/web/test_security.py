"""Headers, cookies, CSRF and error pages."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, csrf_token


def test_security_headers_on_every_page(client):
    response = client.get("/sign-in")
    csp = response.headers["Content-Security-Policy"]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
                      "default-src 'self'"):
        assert directive in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_inline_script_carries_the_csp_nonce(client):
    response = client.get("/sign-in")
    nonce = response.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.get_data(as_text=True)


def test_hsts_over_https(client):
    response = client.get("/sign-in", base_url="https://localhost")
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_authenticated_pages_are_not_cached(client, login_as):
    login_as("admin", ())
    response = client.get("/admin/users")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_session_cookie_flags(client, make_user):
    user = make_user()
    token = csrf_token(client, "/sign-in")
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD,
                                             "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development and tests run over plain HTTP


def test_session_cookie_is_secure_outside_development(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    with app.app_context():
        response = app.test_client().get("/sign-in", base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]


def test_post_without_csrf_token_is_refused(client, make_user):
    user = make_user()
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "page had expired" in response.get_data(as_text=True)


def test_signed_in_post_without_csrf_token_is_refused(client, login_as):
    login_as("admin", ())
    response = client.post("/admin/users/new", data={"email": "x@example.org"})
    assert response.status_code == 400


def test_unknown_page_is_a_plain_404(client, login_as):
    login_as()
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


@pytest.fixture
def exploding_app(make_app):
    app = make_app(own_app=True)  # a route of its own

    @app.route("/explode")
    def explode():
        raise RuntimeError("secret internals: postgresql://user:hunter2@db")

    @app.route("/explode-in-the-database")
    def explode_in_the_database():
        from sqlalchemy import text

        from casework.extensions import db

        db.session.execute(text("SELECT * FROM no_such_table WHERE name = :name"),
                           {"name": "Jordan Secretname"})

    with app.app_context():
        yield app


@pytest.fixture
def signed_in(exploding_app):
    """A client of the exploding app, signed in as a lead."""
    from casework.accounts import services
    from casework.database import utcnow
    from casework.extensions import db
    from tests.conftest import sign_in

    services.create_user(email="e@example.org", display_name="E", role="lead",
                         sites=services.sites_by_keys(["coventry"]), password=PASSWORD,
                         actor=None, now=utcnow())
    db.session.commit()
    client = exploding_app.test_client()
    sign_in(client, "e@example.org")
    return client


def test_500_page_leaks_nothing(signed_in, caplog):
    response = signed_in.get("/explode")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in body
    assert "hunter2" not in body and "Traceback" not in body
    assert "secret internals" in caplog.text  # logged for operators instead


def test_a_database_errors_log_leaves_out_the_statements_values(signed_in, caplog):
    """The values a statement was sent with are people's names, dates of
    birth and note bodies: the operators' log gets the statement, not them."""
    assert signed_in.get("/explode-in-the-database").status_code == 500
    assert "no_such_table" in caplog.text
    assert "Secretname" not in caplog.text

