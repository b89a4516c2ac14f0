"""form submissions: a form that creates a record is acted on once

A double click on "Save", or a resend, sent the new-referral or new-note
form twice, and each sending made its record: two people for one child
(each of whom could be randomised), two contacts and two protocol
deviations, in tables PostgreSQL keeps append-only. Each such form now
carries a key; the first sending claims it in the transaction that writes
the record (casework.submissions). Claims are kept a day (the index on
``created_at`` finds the expired ones).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 01:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "form_submissions",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_form_submissions_user_id_users")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_form_submissions")),
    )
    op.create_index("ix_form_submissions_created_at", "form_submissions", ["created_at"])


def downgrade():
    op.drop_index("ix_form_submissions_created_at", table_name="form_submissions")
    op.drop_table("form_submissions")
