"""GOV.UK Frontend's compiled CSS, JavaScript, fonts and images, served from
the npm install (node_modules), never copied into the repository."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("assets", __name__, url_prefix="/assets")

_BUNDLE_FILES = frozenset({
    "govuk-frontend.min.css",
    "govuk-frontend.min.css.map",
    "govuk-frontend.min.js",
    "govuk-frontend.min.js.map",
})


def frontend_dir() -> Path:
    from casework import ROOT

    configured = current_app.config.get("GOVUK_FRONTEND_DIR")
    base = Path(configured) if configured else ROOT / "node_modules" / "govuk-frontend"
    return base / "dist" / "govuk"


@bp.route("/<path:filename>")
def serve(filename: str):
    root = frontend_dir()
    if filename in _BUNDLE_FILES:
        directory = root
    elif filename.startswith(("fonts/", "images/")) or filename == "manifest.json":
        directory = root / "assets"
    else:
        abort(404)
    response = send_from_directory(directory, filename, max_age=3600)
    return response
