"""exclusions: the C5 exclusions as reference data admins keep

DESIGN.md's C5 is "no exclusion applies (configured list)", yet the list
was fixed in the code (casework/eligibility/cirv.py): a new exclusion, or
a clearer title, needed a release. This table holds it, as the offence
catalogue is held: a key (what triages store: it never changes and no row
is deleted), a title (how pages and C5's sentence name it) and whether it
is still offered at triage. It ships with the four the code held, with the
same keys and titles, so every triage recorded reads as before.

Downgraded, the table goes: triages keep the keys they recorded, and the
code before this revision names any it does not know by its key.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-27 15:00:00
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# The exclusions as shipped (a copy of cirv.DEFAULT_EXCLUSIONS on the day of
# this migration; admins edit the table afterwards), in the order offered.
EXCLUSIONS = [
    ("other_focused_deterrence", "Already in another focused-deterrence programme"),
    ("long_custodial_sentence", "Serving a custodial sentence that covers the trial period"),
    ("mappa_managed", "Managed under MAPPA at level 2 or 3"),
    ("safeguarding_plan_conflict", "Safeguarding plan rules out programme contact"),
]


def upgrade():
    exclusions = op.create_table(
        "exclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("offered", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusions")),
        sa.UniqueConstraint("key", name=op.f("uq_exclusions_key")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(exclusions, [
        {"key": key, "title": title, "offered": True, "created_at": now, "updated_at": now}
        for key, title in EXCLUSIONS])


def downgrade():
    op.drop_table("exclusions")
