"""Error pages and the operators' log of errors."""

from __future__ import annotations

from tests.conftest import csrf_token

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
