"""Every SQLite connection is set up the same way (casework.database.configure_sqlite)."""

from __future__ import annotations

import pytest

from casework.extensions import db


def test_each_sqlite_connection_is_set_up(app, is_postgres):
    if is_postgres:
        pytest.skip("SQLite's settings")
    with db.engine.connect() as conn:
        settings = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                    for name in ("foreign_keys", "journal_mode", "synchronous", "temp_store")}
    # temp_store 2 is memory: a bulk load's statement journals never touch a file
    assert settings == {"foreign_keys": 1, "journal_mode": "wal", "synchronous": 1,
                        "temp_store": 2}
