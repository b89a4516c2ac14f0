"""the audit chain's head, under its lock, in one call (PostgreSQL)

Every page view appends an event to the audit chain: it takes the chain's
lock (a transaction-scoped advisory lock), then reads the newest event's
hash, each a round trip to the server. One function does both, so a page
makes one. It is VOLATILE, so its query takes a snapshot of its own once the
lock is held and sees every event committed before (as the second statement
did). SQLite needs nothing: its write transaction is the lock.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 09:20:00
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION casework_audit_chain_head() RETURNS varchar
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            head varchar;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('audit_events.chain'));
            SELECT hash INTO head FROM audit_events ORDER BY id DESC LIMIT 1;
            RETURN head;
        END;
        $$
        """
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS casework_audit_chain_head()")
