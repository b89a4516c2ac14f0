"""a person's pathway proposals, found by an index

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 12:00:00

A decided disruption proposal (approved or rejected, by whom, when, with
the lead's note) is shown on the person's record: in the pathway panel
until the next move, and in the case record. Proposals were indexed by
site and status (the approvals queue) and, while pending, by person; a
person's decided ones were found only by reading the whole table.
"""
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_pathway_proposals_person_id_proposed_at", "pathway_proposals",
                    ["person_id", "proposed_at"])


def downgrade():
    op.drop_index("ix_pathway_proposals_person_id_proposed_at", table_name="pathway_proposals")
