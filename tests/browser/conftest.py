"""A live server on a free port and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = Path(os.environ.get("CASEWORK_CHROMIUM", "/usr/bin/chromium"))


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    if os.environ.get("CASEWORK_REQUIRE_BROWSER"):
        raise pytest.UsageError(f"Browser tests are required here but {CHROMIUM} is missing")
    skip = pytest.mark.skip(reason=f"browser tests skipped: {CHROMIUM} is not installed "
                                   "(apt-get install chromium)")
    for item in items:
        if "browser" in str(item.fspath):
            item.add_marker(skip)


_RESPONSE = "casework.tests.response"


class _ClosingHandler(WSGIRequestHandler):
    """werkzeug's development server, closing a response whose client has
    gone. After sending a response the server reads what is left of the
    request from the socket, then closes the response (werkzeug.serving's
    ``execute``); when the client has reset the connection (Chromium
    cancelling a request it no longer wants), that read raises first and the
    response's open file (a GOV.UK asset) was left to the garbage collector:
    a ResourceWarning, which the suite treats as an error, in whichever test
    the collector ran. gunicorn, which serves casework, closes it."""

    def connection_dropped(self, error, environ=None):
        response = (environ or {}).pop(_RESPONSE, None)
        if response is not None and hasattr(response, "close"):
            response.close()


def _keeping_the_response(app):
    def wsgi(environ, start_response):
        response = app(environ, start_response)
        environ[_RESPONSE] = response  # for _ClosingHandler
        return response

    return wsgi


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, _keeping_the_response(app), threaded=True,
                         request_handler=_ClosingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
