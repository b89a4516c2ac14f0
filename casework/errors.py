"""Error pages that say what happened and what to do, and leak nothing."""

from __future__ import annotations

import logging

from flask import Flask, redirect, render_template, request, url_for
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


def init_errorhandlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        db.session.rollback()
        audit.forget_shown()  # an error page is sent, not the page viewed
        return render_template(
            "errors/400.html",
            message="Your form could not be sent because the page had expired. "
            "Go back, refresh the page and try again.",
        ), 400

    @app.errorhandler(401)
    def _unauthorised(_error):
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        db.session.rollback()
        audit.forget_shown()  # an error page is sent, not the page viewed
        code = error.code or 500
        template = PAGES.get(code, "errors/500.html" if code >= 500 else "errors/400.html")
        return render_template(template), code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # Logged with the request id for the operators; the person sees none of it.
        db.session.rollback()
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return render_template("errors/500.html"), 500
