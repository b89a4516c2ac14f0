"""HTTP security headers (Flask-Talisman) and cache rules."""

from __future__ import annotations

from flask import Flask, request

from casework.extensions import talisman

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "form-action": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}


def init_security(app: Flask) -> None:
    talisman.init_app(
        app,
        force_https=False,  # TLS ends at the reverse proxy; HSTS is sent over HTTPS
        strict_transport_security=True,
        strict_transport_security_max_age=31536000,
        strict_transport_security_include_subdomains=True,
        content_security_policy=CONTENT_SECURITY_POLICY,
        # style-src too: server-drawn SVG charts carry their <style> with the nonce
        content_security_policy_nonce_in=["script-src", "style-src"],
        frame_options="DENY",
        # only the origin, even to the service's own pages: an address can
        # hold a name or a note search's words (Flask-WTF's HTTPS referrer
        # check needs only the origin)
        referrer_policy="strict-origin",
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        permissions_policy={"geolocation": "()", "camera": "()", "microphone": "()"},
    )

    @app.after_request
    def _cache_rules(response):
        # Pages may hold personal data: never store them in any cache.
        if request.endpoint != "assets.serve":
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
