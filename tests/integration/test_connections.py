"""PostgreSQL connections the server has closed while they lay in the pool
(a restart, an administrator's terminate, an idle timeout) are found at
checkout without a round trip (casework.database.server_hung_up), so the
next page is served on a new connection rather than failing."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import text

from casework.extensions import db
from tests.conftest import csrf_token

pytestmark = pytest.mark.postgres


def _terminate_the_pool(app) -> int:
    """End every other session of the test database from outside the app, as
    a server restart would, and wait until they are gone."""
    db.session.remove()  # this test's own connection back in the pool too
    url = db.engine.url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        for _ in range(100):
            left = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()").fetchone()[0]
            if not left:
                break
            time.sleep(0.05)
    return ended


@pytest.mark.parametrize("first", ["a reader", "a writer"])
def test_a_request_after_the_server_ended_the_pooled_connections_is_served(
        app, client, login_as, make_referral, first):
    login_as("caseworker")
    person_id = make_referral().person_id
    token = csrf_token(client)  # read before the connections end
    assert client.get(f"/people/{person_id}").status_code == 200
    assert _terminate_the_pool(app) >= 1
    time.sleep(0.1)  # the goodbye reaches the pooled sockets
    if first == "a writer":
        response = client.post(f"/people/{person_id}/notes/new", data={
            "csrf_token": token, "kind": "case_note", "body": "Seen after the restart"})
        assert response.status_code == 302, response.status_code
    assert client.get(f"/people/{person_id}").status_code == 200
    assert db.session.execute(text("SELECT 1")).scalar() == 1


def test_a_closed_pooled_connection_is_known_without_a_round_trip(app):
    from casework.database import server_hung_up

    raw = db.engine.raw_connection()
    try:
        connection = raw.dbapi_connection
        assert not server_hung_up(connection)
        pid = connection.info.backend_pid
        url = db.engine.url.set(drivername="postgresql")
        with psycopg.connect(url.render_as_string(hide_password=False),
                             autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            if server_hung_up(connection):
                break
            time.sleep(0.02)
        assert server_hung_up(connection)
    finally:
        raw.invalidate()
        raw.close()
