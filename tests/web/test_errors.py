"""Error pages and the operators' log of errors."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import csrf_token, sign_in

HTTPS = "https://localhost"


def _sign_in_over_https(client, token, **headers):
    return client.post("/sign-in", base_url=HTTPS, headers=headers, data={
        "email": "nobody@example.org", "password": "not a password", "csrf_token": token})


def test_a_form_sent_over_https_without_a_referer_says_so_not_that_it_expired(client):
    """Over HTTPS Flask-WTF refuses a form without a Referer (its defence
    against another site's cookie, kept): a browser or proxy that leaves
    Referers out was told on every form, sign-in included, that the page
    had expired, which was untrue (found by review)."""
    token = csrf_token(client, "/sign-in")
    refused = _sign_in_over_https(client, token)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "did not say which page it was sent from" in page
    assert "Allow your browser to send the referrer for this site" in page
    assert "expired" not in page
    # from another site's page: not an expired page either
    elsewhere = _sign_in_over_https(client, token, Referer="https://evil.example/form")
    assert elsewhere.status_code == 400
    assert "sent from another website" in elsewhere.get_data(as_text=True)
    # from the service's own page the form is taken (a wrong password: 422)
    assert _sign_in_over_https(client, token, Referer=f"{HTTPS}/").status_code == 422


def test_a_form_whose_token_is_wrong_still_says_the_page_expired(client):
    csrf_token(client, "/sign-in")
    for token in ("", "not-a-token"):
        refused = _sign_in_over_https(client, token, Referer=f"{HTTPS}/sign-in")
        assert refused.status_code == 400
        assert "the page had expired" in refused.get_data(as_text=True)


@pytest.fixture
def exploding(make_app, make_user):
    """A signed-in client of an app with a page that fails, its error's
    message holding an address with a query."""
    app = make_app(own_app=True)  # a route of its own

    @app.route("/explode", methods=["GET", "POST"])
    def explode():
        raise RuntimeError("failed on https://casework.example/referrals?q=Ellis+Okafor")

    with app.app_context():
        user = make_user("lead")
        client = app.test_client()
        assert sign_in(client, user.email).status_code == 302
        yield client


@pytest.fixture(autouse=True)
def operators_log(monkeypatch):
    """The app's loggers as a process with no logging configuration of its
    own sets them up (gunicorn's, ``flask run``'s): pytest's capture gives
    the root logger handlers, where the app's records would go instead."""
    from casework import logs

    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    for name in logs.APP_LOGGERS:
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "handlers", [h for h in logger.handlers
                                                 if isinstance(h, logging.NullHandler)])
        monkeypatch.setattr(logger, "propagate", True)
    logs.configure_logging()


def test_an_upload_too_large_says_how_large_the_service_takes(client, login_as, make_trial):
    """Found by review: past MAX_CONTENT_LENGTH (16 MB) the page said only
    that it "could not handle what was sent"."""
    trial = make_trial(sites=("coventry",), method="allocation_list", status="closed")
    login_as("admin", ())
    # the body as bytes: a dict's file is spooled to a temporary file the
    # test client leaves open
    body = (b"--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
            + csrf_token(client).encode() + b"\r\n--b\r\nContent-Disposition: form-data; "
            b"name=\"allocation_list\"; filename=\"a.csv\"\r\n\r\n"
            + b"x" * (16 * 1024 * 1024) + b"\r\n--b--\r\n")
    response = client.post(f"/admin/trials/{trial.id}/allocation-list", data=body,
                           content_type="multipart/form-data; boundary=b")
    assert response.status_code == 413
    assert "What you sent is larger than the 16 MB the service takes. Go back and choose " \
           "a smaller file." in response.get_data(as_text=True)


def test_records_go_to_the_operators_own_configuration_where_there_is_one(monkeypatch):
    """A root logger configured by the operators (gunicorn's --log-config, a
    dictConfig) no longer received the app's records (found by review)."""
    import io

    from casework import logs

    theirs = io.StringIO()
    for name in logs.APP_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "handlers", [])
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.StreamHandler(theirs)])
    logs.configure_logging()
    logging.getLogger("casework.errors").error("Unhandled error on GET /x")
    assert theirs.getvalue() == "Unhandled error on GET /x\n"
    assert logging.getLogger("casework").handlers == []


RECORD = re.compile(r"^(?P<time>\S+) (?P<level>[A-Z]+) request=(?P<request>\S+) "
                    r"(?P<logger>\S+): (?P<message>.*)$")


def _records(err: str) -> list[re.Match]:
    return [match for line in err.splitlines() if (match := RECORD.match(line))]


def test_an_unhandled_error_is_logged_once_with_its_time_level_and_request_id(
        exploding, capsys):
    """It went to Python's last resort, the message alone, though the 500
    page asks users for the time it happened (found by review). The
    request's body and its query are not logged."""
    token = csrf_token(exploding, "/")
    capsys.readouterr()
    before = datetime.now(UTC)
    response = exploding.post("/explode?q=Ellis+Okafor", data={
        "details": "Disclosed at the youth club", "csrf_token": token})
    after = datetime.now(UTC)
    assert response.status_code == 500
    err = capsys.readouterr().err
    [record] = [r for r in _records(err) if "Unhandled error" in r["message"]]  # once
    assert record["message"] == "Unhandled error on POST /explode"
    assert (record["level"], record["logger"]) == ("ERROR", "casework.errors")
    assert record["request"] == response.headers["X-Request-Id"]
    assert record["time"].endswith("Z")
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(record["time"]) <= after
    assert "RuntimeError: failed on https://casework.example/referrals" in err  # the traceback
    assert "Ellis" not in err and "Okafor" not in err and "youth club" not in err


def test_another_app_in_the_process_adds_no_second_handler(exploding, make_app, capsys):
    make_app()
    capsys.readouterr()
    assert exploding.get("/explode").status_code == 500
    err = capsys.readouterr().err
    assert len([r for r in _records(err) if "Unhandled error" in r["message"]]) == 1


def test_the_throttles_warnings_and_records_outside_a_request_are_logged_the_same_way(
        app, capsys):
    """Flask-Limiter says so when Redis cannot be reached and each worker
    throttles on its own: the operators need to know when."""
    capsys.readouterr()
    logging.getLogger("flask-limiter").warning("Rate limit storage unreachable")
    [record] = _records(capsys.readouterr().err)
    assert (record["level"], record["request"], record["logger"]) == (
        "WARNING", "-", "flask-limiter")
