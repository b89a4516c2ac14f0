"""audit events are append-only: PostgreSQL refuses UPDATE, DELETE and TRUNCATE

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 21:00:00

SQLite has no equivalent that a connection could not drop, so there the
guarantee is the application's (no code path updates or deletes an event)
plus ``flask audit verify``.
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    # One function for every append-only table (allocations use it too).
    op.execute(
        """
        CREATE OR REPLACE FUNCTION casework_refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'casework: % on % is not allowed; this table is append-only',
                TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_events_append_only
        BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION casework_refuse_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER audit_events_no_truncate
        BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION casework_refuse_change()
        """
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
    op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS casework_refuse_change()")
