"""The gunicorn settings file the deployment guide and the benchmark use."""

from __future__ import annotations

import gc
import logging
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from casework import ROOT


def test_a_worker_freezes_what_it_loaded_and_collects_less_often():
    from casework.logs import WithoutQueries

    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    before = gc.get_threshold()
    error_log = logging.getLogger("gunicorn.error")
    filters = list(error_log.filters)
    try:
        settings["post_worker_init"](worker=None)
        assert gc.get_threshold() == settings["GC_THRESHOLDS"]
        assert gc.get_freeze_count() > 0
        settings["post_worker_init"](worker=None)  # once, however often
        assert [type(f) for f in error_log.filters] == [WithoutQueries]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        error_log.filters = filters


def test_the_access_log_leaves_out_queries_and_referers():
    """A query can hold a name searched for or a note search's words."""
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    logged = settings["access_log_format"]
    assert "%(U)s" in logged
    assert not {"%(r)s", "%(q)s", "%(f)s", "%({referer}i)s"} & {
        part for part in logged.replace('"', " ").split()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_error_log_leaves_out_queries(tmp_path):
    """gunicorn's own error log wrote a failed request's address whole
    ("Error handling request /sign-in?next=/referrals?q%3DEllis%2BOkafor",
    found by review), and a malformed request's line. A real gunicorn, with
    the repository's settings, serving an app that fails."""
    pytest.importorskip("gunicorn")  # the bench extra's
    (tmp_path / "failing_app.py").write_text(
        "def app(environ, start_response):\n"
        "    raise RuntimeError('failed at ' + environ['RAW_URI'])\n")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--pythonpath", str(tmp_path),
         "--access-logfile", "-", "failing_app:app"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/sign-in?next=/referrals?q%3DEllis%2BOkafor",
                    timeout=10)
            except urllib.error.HTTPError as error:
                assert error.code == 500
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as bad:
            bad.sendall(b"GET /notes/search?words=Okafor\r\n\r\n")  # no version
            assert bad.recv(100).startswith(b"HTTP/1.1 400")
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert "Error handling request /sign-in\n" in err
    assert "RuntimeError: failed at /sign-in\n" in err
    assert "Invalid HTTP request line: 'GET /notes/search'" in err
    assert "Ellis" not in err + out and "Okafor" not in err + out


def test_a_bad_setting_stops_gunicorn_rather_than_booting_workers_for_ever(tmp_path):
    """The app's "cannot start" exited its worker with code 1, so gunicorn
    booted another, about once a second, for ever: the port open, every
    connection hanging, a supervisor seeing it running (found by review).
    Code 4 is gunicorn's "App failed to load", and it stops. (One worker:
    with two, the second's exit can reach gunicorn while it is already
    stopping for the first's, and its handler raises the same HaltServer
    again, uncaught: gunicorn still stops, but with code 1 and a traceback.
    Seen on CI's loaded machine.)"""
    pytest.importorskip("gunicorn")
    env = {**os.environ, "CASEWORK_ENV": "test", "IDLE_TIMEOUT_MINUTES": "soon",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    server = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{_free_port()}", "--workers", "1", "wsgi:app"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert server.returncode == 4
    assert "casework cannot start: IDLE_TIMEOUT_MINUTES must be a whole number" in server.stderr
    assert "App failed to load" in server.stderr
    assert "Traceback" not in server.stderr
