"""pathway_proposals.status: 'lapsed', a proposal a move overtook

While a disruption proposal waited for a lead no other move could be
recorded, not even an exit (a death, custody) or accepted support, which
DESIGN.md leaves to the caseworker. Such a move is now recorded, and ends
the waiting proposal as lapsed: undecided, its decision note saying what
overtook it. The status is a VARCHAR with a CHECK constraint
(database.str_enum), which takes the new value here; SQLite changes a
CHECK constraint only by copying the table (batch mode), its indexes (the
partial unique index of a pending proposal included) with it.

Downgraded, a lapsed proposal becomes rejected, the status before this
revision that says the same of it: decided against, it moved no one, and
waits no longer. Its note still says what overtook it, and the audit log
keeps its pathway:proposal_lapsed event.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-27 17:10:00
"""
import sqlalchemy as sa
from alembic import op


revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

CONSTRAINT = "ck_pathway_proposals_proposal_status"
BEFORE = ("pending", "approved", "rejected")
AFTER = (*BEFORE, "lapsed")


def _status_check(statuses: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{status}'" for status in statuses)
    with op.batch_alter_table("pathway_proposals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch_op.create_check_constraint(op.f(CONSTRAINT), sa.text(f"status IN ({allowed})"))


def upgrade():
    _status_check(AFTER)


def downgrade():
    op.execute("UPDATE pathway_proposals SET status = 'rejected' WHERE status = 'lapsed'")
    _status_check(BEFORE)
