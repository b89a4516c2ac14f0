"""The gunicorn settings file the deployment guide and the benchmark use."""

from __future__ import annotations

import gc
import runpy

from casework import ROOT


def test_a_worker_freezes_what_it_loaded_and_collects_less_often():
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    before = gc.get_threshold()
    try:
        settings["post_worker_init"](worker=None)
        assert gc.get_threshold() == settings["GC_THRESHOLDS"]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_access_log_leaves_out_queries_and_referers():
    """A query can hold a name searched for or a note search's words."""
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    logged = settings["access_log_format"]
    assert "%(U)s" in logged
    assert not {"%(r)s", "%(q)s", "%(f)s", "%({referer}i)s"} & {
        part for part in logged.replace('"', " ").split()}
