"""The lookups pages and extracts make by a foreign key have an index to
make them by (migration 0011), and SQLite's plans use it: without one, each
was a read of the whole table (a person's record read every protocol
deviation; the referral extract read every allocation for each referral)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text

from casework.extensions import db

LOOKUPS = [
    ("allocations", "referral_id"),
    ("protocol_deviations", "person_id"),
    ("pathway_episodes", "allocation_id"),
]


@pytest.mark.parametrize(("table", "column"), LOOKUPS)
def test_each_lookup_has_an_index_leading_with_its_column(app, table, column):
    indexes = inspect(db.engine).get_indexes(table)
    assert any(index["column_names"][:1] == [column] for index in indexes), indexes


def _plan(engine, statement) -> str:
    sql = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        return "\n".join(row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))


def test_the_plans_use_them(app, make_trial):
    """SQLite's plans on the models' own schema, without the statistics a
    test database may hold (with them SQLite rightly scans a table of a few
    rows)."""
    from casework.extracts import services as extracts
    from casework.intake.models import Referral
    from casework.notes import timeline

    req = extracts.ExtractRequest(trial_id=make_trial().id, unit="referral")
    batch = extracts._referral_stmt(req).where(Referral.id > 0).order_by(Referral.id).limit(10)
    page, _ = timeline._statements(True)
    engine = create_engine("sqlite://")
    db.metadata.create_all(engine)
    assert "USING INDEX ix_allocations_referral_id" in _plan(engine, batch)
    assert "USING INDEX ix_protocol_deviations_person_id" in _plan(
        engine, page.params(person_id=1, skip=0, take=20))


def test_a_timeline_and_a_search_by_name_read_indexes_alone(app):
    """The person page's record reads its notes from the person's notes
    index alone (migration 0013), and a search by name its people and their
    referrals from theirs (migration 0012): none reads a row of the table
    (SQLite's plans, on the models' own schema, for a reader of every note
    and for one who may not read others' restricted notes)."""
    from casework.intake.services import _list_statements
    from casework.notes import timeline

    engine = create_engine("sqlite://")
    db.metadata.create_all(engine)
    for every_note in (True, False):
        page, _ = timeline._statements(every_note)
        plan = _plan(engine, page.params(person_id=1, actor_id=2, skip=0, take=20))
        assert "SEARCH notes USING COVERING INDEX ix_notes_person_timeline" in plan, plan
    def word(reading: int, n: int, key: str) -> dict:
        ranges = {"last": (key, key[:-1] + chr(ord(key[-1]) + 1))}
        ranges["first"] = ranges["last"]
        ranges["nickname"] = (key, key)
        return {f"{name}{reading}_{n}_{end}": bound for name, (start, stop) in ranges.items()
                for end, bound in (("from", start), ("to", stop))}

    # one word; and two words read as two names or as one ("Al Hassan")
    for names, params in (((1,), word(0, 0, "smith")),
                          ((2, 1), {**word(0, 0, "al"), **word(0, 1, "hassan"),
                                    **word(1, 0, "alhassan")})):
        search = _list_statements(True, False, names, (), "newest", 10_000)
        for statement in (search.searched, search.listed):
            plan = _plan(engine, statement.params(site_ids=[1, 2], skip=0, take=26, **params))
            assert "SEARCH people USING COVERING INDEX ix_people_name_keys" in plan, plan
            assert "SEARCH people USING COVERING INDEX ix_people_first_name_key" in plan, plan
            assert "SEARCH referrals USING COVERING INDEX" in plan, plan
            assert "SCAN people" not in plan and "SCAN referrals" not in plan, plan
    # a page of the list: its ids from the (site, date) index, then each
    # row's referral, person and site by key; the count from the index too
    plan = _plan(engine, _list_statements(True, False, (), (), "newest", 10_000).listed.params(
        site_ids=[1, 2], skip=0, take=26))
    assert plan.count("SEARCH referrals USING COVERING INDEX ix_referrals_site_id_referral_date") \
        == 2, plan
    for table in ("referrals", "people", "sites"):
        assert f"SEARCH {table} USING INTEGER PRIMARY KEY" in plan, plan
