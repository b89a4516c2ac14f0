"""users.must_change_password: a temporary password is changed at sign-in

Nobody could change a password once an account was made: the admin who
typed the first one knew it for ever, and a forgotten one could not be
reset. Users now change their own, and an admin (or ``users set-password``)
can set a temporary one, which its user must change when they next sign in,
before anything else: this column says so. Every existing user keeps the
password they have (false).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 12:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    # a plain ADD COLUMN on both databases (SQLite adds a NOT NULL column
    # with a default without rebuilding the table its many keys point at)
    op.add_column("users", sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade():
    # SQLite (3.35 and later) drops a column that nothing indexes or
    # references in place, as PostgreSQL does
    op.drop_column("users", "must_change_password")
