"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from casework.database import include_object
from casework.extensions import db


def test_models_and_migrations_agree(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_the_seven_sites_are_seeded_with_two_trial_sites(app):
    from casework.accounts.services import all_sites

    sites = {site.key: site.is_trial_site for site in all_sites()}
    assert sites == {
        "birmingham": False, "coventry": True, "dudley": False, "sandwell": False,
        "solihull": False, "walsall": False, "wolverhampton": True,
    }
