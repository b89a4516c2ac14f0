"""Benchmark: the referrals list at scale.

Builds a throwaway database (SQLite by default, or BENCH_DATABASE_URL), seeds
N synthetic people with their referrals, then times the list's queries as a
lead of all seven sites would run them. Prints figures; asserts nothing.

    .venv/bin/python bench/referrals_list.py --people 100000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from casework import create_app
    from casework.accounts import services as accounts
    from casework.demo.people import seed_people
    from casework.extensions import db
    from casework.intake import services

    url = os.environ.get("BENCH_DATABASE_URL") or \
        f"sqlite:///{tempfile.mkdtemp(prefix='casework-bench-')}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "TRIAL_KEY": b"bench", "PSEUDONYM_KEY": b"bench"})
    with app.app_context():
        upgrade()
        now = datetime.now(UTC)
        started = time.perf_counter()
        people, referrals = seed_people(args.people, seed=1, now=now)
        lead = accounts.create_user(
            email="bench@example.org", display_name="Bench", role="lead",
            sites=accounts.all_sites(), password="a long benchmark password",  # noqa: S106
            actor=None,
            now=now)
        db.session.commit()
        print(f"database: {db.engine.url.get_backend_name()}")
        print(f"seeded {people:,} people and {referrals:,} referrals "
              f"in {time.perf_counter() - started:.1f} s")

        queries = {
            "first page, newest first": services.ReferralQuery(),
            "page 200": services.ReferralQuery(),
            "sorted by surname": services.ReferralQuery(sort="name"),
            "search 'smi'": services.ReferralQuery(text="smi"),
            "status in triage, one site": services.ReferralQuery(
                status="in_triage", site_id=lead.sites[0].id),
            "date range, source police": services.ReferralQuery(
                source="police", date_from=date(2026, 1, 1), date_to=date(2026, 3, 31)),
        }
        for label, query in queries.items():
            page_number = 200 if label == "page 200" else 1
            timings = []
            for _ in range(args.repeat):
                db.session.expire_all()
                t0 = time.perf_counter()
                page = services.search_referrals(query, actor=lead, page=page_number)
                [r.person.last_name for r in page.referrals]
                timings.append((time.perf_counter() - t0) * 1000)
            print(f"{label:<30} {page.total:>8,} matches  "
                  f"median {statistics.median(timings):7.1f} ms  max {max(timings):7.1f} ms")


if __name__ == "__main__":
    main()
