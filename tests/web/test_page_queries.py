"""The pages caseworkers and leads use all day run a fixed number of SQL
queries whatever the size of the data (issue #10): counted on a small demo
data set and again on one ten times larger. Speed itself is measured by
``make bench``, never here."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from sqlalchemy import func, select

from casework.extensions import db

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALL_SITES = ("birmingham", "coventry", "dudley", "sandwell", "solihull", "walsall",
             "wolverhampton")
MAX_QUERIES = 10


def _busiest_person() -> tuple[int, str]:
    """The person with the longest record, and their surname (to search by)."""
    from casework.intake.models import Person
    from casework.notes.models import Note

    person_id = db.session.scalars(
        select(Note.person_id).group_by(Note.person_id)
        .order_by(func.count().desc(), Note.person_id).limit(1)).one()
    return person_id, db.session.get(Person, person_id).last_name


def _pages(person_id: int, surname: str) -> dict[str, str]:
    return {
        "bare endpoint": "/health",
        "referrals list": "/referrals",
        "person page": f"/people/{person_id}",
        "lead dashboard": "/dashboard",
        "search by name": f"/referrals?{urlencode({'q': surname})}",
        "caseloads": "/caseload",
    }


def _count(client, pages: dict[str, str]) -> dict[str, int]:
    """SQL queries per page; transaction control (SQLite's BEGIN IMMEDIATE,
    which PostgreSQL's driver sends on its own) is not a query."""
    from sqlalchemy import event

    statements: list[str] = []

    def before(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    counts = {}
    event.listen(db.engine, "before_cursor_execute", before)
    try:
        for name, path in pages.items():
            client.get(path)  # first use of the session, caches
            statements.clear()
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            counts[name] = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return counts


def test_each_page_runs_the_same_queries_on_ten_times_the_data(app, client, runner,
                                                                login_as):
    from casework.demo.activity import seed_activity
    from casework.demo.people import seed_people, site_leads
    assert runner.invoke(args=["seed-demo", "--people", "60", "--seed", "2"]).exit_code == 0
    db.session.commit()
    login_as("lead", ALL_SITES)
    person_id, surname = _busiest_person()
    small = _count(client, _pages(person_id, surname))

    from casework.accounts import services as accounts

    _, _, ids = seed_people(600, 3, now=NOW)  # ten times the people
    leads, _ = site_leads(accounts.find_user_by_email("lead@casework.example"), 3, now=NOW)
    seed_activity(ids, 3, leads=leads, now=NOW)
    db.session.commit()
    busiest, _ = _busiest_person()
    large = _count(client, _pages(busiest, surname))

    assert small == large, (small, large)
    assert max(large.values()) <= MAX_QUERIES, large
