"""triages.decision_facts: the facts a decision was made on, kept with it

A decided triage's page showed the person's date of birth as their record
says now beside the criteria as decided: a date of birth corrected after
the decision (1 January 2008 to 2015) read "Date of birth 1 January 2015"
next to "Aged 18 on the referral date" (met). The decision stored the
criteria's sentences but not the facts outside the triage they were worked
out from. This column keeps them, as they stood when decided: the
referral's date and site, the person's date of birth and home. Decisions
made before it have none (null): their page shows the record as it is now
and claims nothing of what was decided on.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-27 14:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    # a plain ADD COLUMN, nullable, on both databases (SQLite does not
    # rebuild the table)
    op.add_column("triages", sa.Column("decision_facts", sa.JSON(), nullable=True))


def downgrade():
    # SQLite (3.35 and later) drops a column nothing indexes or references
    # in place, as PostgreSQL does
    op.drop_column("triages", "decision_facts")
