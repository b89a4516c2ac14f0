"""GOV.UK Frontend's compiled CSS and JavaScript, served from the npm
install (node_modules), never copied into the repository.

Not its fonts, nor its crown icons: GDS Transport and the crown are for
services on GOV.UK, which this partnership's internal service is not (GOV.UK
Frontend says to use another typeface then). The stylesheet is served
without its ``@font-face`` rules, so its font stacks fall back to Arial, as
GOV.UK Frontend's own ``$govuk-font-family`` setting would make them."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, request, send_from_directory

bp = Blueprint("assets", __name__, url_prefix="/assets")

STYLESHEET = "govuk-frontend.min.css"
_BUNDLE_FILES = frozenset({
    "govuk-frontend.min.css.map",
    "govuk-frontend.min.js",
    "govuk-frontend.min.js.map",
})
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}")


def frontend_dir(config=None) -> Path:
    """Where GOV.UK Frontend's files are, by ``config`` (the app's)."""
    from casework import ROOT

    configured = (config if config is not None else current_app.config).get("GOVUK_FRONTEND_DIR")
    base = Path(configured) if configured else ROOT / "node_modules" / "govuk-frontend"
    return base / "dist" / "govuk"


def missing(config) -> str | None:
    """Why the pages would be drawn without GOV.UK Frontend's styles and
    scripts (each answered 404, and the service started without a word:
    found by review), or None if its files are there."""
    root = frontend_dir(config)
    if (root / STYLESHEET).is_file():
        return None
    return (f"GOV.UK Frontend is not installed at {root.parent.parent}: every page would be "
            "drawn without its styles and scripts. Run `npm ci` in the checkout, or set "
            "GOVUK_FRONTEND_DIR to where it is installed.")


@lru_cache(maxsize=4)
def _without_fonts(path: Path, _modified: float) -> bytes:
    """The stylesheet without its fonts, worked out once for each version of
    the file (its modification time in the key)."""
    return _FONT_FACE.sub("", path.read_text(encoding="utf-8")).encode()


@bp.route("/<path:filename>")
def serve(filename: str):
    root = frontend_dir()
    if filename == STYLESHEET:
        path = root / STYLESHEET
        if not path.is_file():
            abort(404)
        response = Response(_without_fonts(path, path.stat().st_mtime), mimetype="text/css")
        response.cache_control.public = True
        response.cache_control.max_age = 3600
        response.add_etag()
        return response.make_conditional(request)
    if filename not in _BUNDLE_FILES:
        abort(404)
    return send_from_directory(root, filename, max_age=3600)
