"""Error pages that say what happened and what to do, and leak nothing."""

from __future__ import annotations

import logging

from flask import Flask, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from casework.audit import services as audit
from casework.extensions import db

log = logging.getLogger(__name__)

PAGES = {
    400: "errors/400.html",
    403: "errors/403.html",
    404: "errors/404.html",
    405: "errors/404.html",
    413: "errors/400.html",
    429: "errors/429.html",
    500: "errors/500.html",
}


# Why a form was refused, by Flask-WTF's reason. Over HTTPS it checks that
# the Referer is one of this site's pages (a defence against a cookie set by
# another site), so a browser or proxy that leaves Referers out is refused
# on every form, sign-in included; the page said it "had expired", which was
# untrue and sent people round in circles (found by review). The token's own
# failures (missing, of another session, its session gone) are an expired
# page.
PAGE_EXPIRED = ("Your form could not be sent because the page had expired. "
                "Go back, refresh the page and try again.")
CSRF_MESSAGES = {
    "The referrer header is missing.": (
        "Your form could not be sent because your browser did not say which page it was "
        "sent from. The service checks this to make sure forms come from its own pages. "
        "Allow your browser to send the referrer for this site (check its privacy "
        "settings and extensions, or ask your IT team), then go back, refresh the page "
        "and try again."),
    "The referrer does not match the host.": (
        "Your form could not be sent because your browser said it was sent from another "
        "website. Go to the casework home page and try again from there."),
}


def _too_large() -> str:
    """The 413 page's words: the limit, from MAX_CONTENT_LENGTH."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    size = (f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024
            else f"{limit // 1024 or 1} KB" if limit >= 1024 else f"{limit} bytes")
    return (f"What you sent is larger than the {size} the service takes. Go back and "
            "choose a smaller file.")


def init_errorhandlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        db.session.rollback()
        audit.forget_shown()  # an error page is sent, not the page viewed
        return render_template(
            "errors/400.html", message=CSRF_MESSAGES.get(error.description, PAGE_EXPIRED),
        ), 400

    @app.errorhandler(401)
    def _unauthorised(_error):
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        db.session.rollback()
        audit.forget_shown()  # an error page is sent, not the page viewed
        if error.response is not None:  # a page of its own (access.deny's)
            return error.response
        code = error.code or 500
        template = PAGES.get(code, "errors/500.html" if code >= 500 else "errors/400.html")
        if code == 413:  # it said only that the page "could not handle" it (found by review)
            return render_template(template, message=_too_large()), code
        return render_template(template), code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # Logged with the request id for the operators; the person sees none of it.
        db.session.rollback()
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return render_template("errors/500.html"), 500
