"""audit events of several sites: each of their sites indexed

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 06:00:00

A list or search shown to someone who works at several sites was recorded
with no site (``site_id`` holds one), so no lead found it on their audit
log: who listed or searched their sites' people was visible to admins only.
Such an event's detail names its sites (``sites``, covered by the chain's
hash); ``audit_event_sites`` indexes them, one row a site, and is
append-only on PostgreSQL as the events are. A trigger writes the rows as
each event is stored (no statement more for a page, whichever way the event
is written), and events already stored with a ``sites`` list and no site
are indexed here too (the dashboard's and the caseloads page's).
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "audit_event_sites",
        sa.Column("event_id", BIG_ID, sa.ForeignKey("audit_events.id",
                                                    name="fk_audit_event_sites_event_id_audit_events"),
                  nullable=False),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id",
                                                         name="fk_audit_event_sites_site_id_sites"),
                  nullable=False),
        sa.PrimaryKeyConstraint("event_id", "site_id", name="pk_audit_event_sites"),
    )
    op.create_index("ix_audit_event_sites_site_id_event_id", "audit_event_sites",
                    ["site_id", "event_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            INSERT INTO audit_event_sites (event_id, site_id)
            SELECT DISTINCT e.id, s.value::integer
            FROM audit_events e, json_array_elements_text(e.detail -> 'sites') AS s(value)
            WHERE e.site_id IS NULL AND json_typeof(e.detail -> 'sites') = 'array'
              AND s.value ~ '^[0-9]{1,9}$' AND s.value::integer IN (SELECT id FROM sites)
        """)
        op.execute("""
            CREATE FUNCTION casework_index_audit_event_sites() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF json_typeof(NEW.detail -> 'sites') = 'array' THEN
                    INSERT INTO audit_event_sites (event_id, site_id)
                    SELECT DISTINCT NEW.id, s.value::integer
                    FROM json_array_elements_text(NEW.detail -> 'sites') AS s(value)
                    WHERE s.value ~ '^[0-9]{1,9}$'
                      AND s.value::integer IN (SELECT id FROM sites)
                    ON CONFLICT DO NOTHING;
                END IF;
                RETURN NULL;
            END;
            $$
        """)
        op.execute("""
            CREATE TRIGGER audit_events_index_sites
            AFTER INSERT ON audit_events
            FOR EACH ROW WHEN (NEW.site_id IS NULL)
            EXECUTE FUNCTION casework_index_audit_event_sites()
        """)
        op.execute("""
            CREATE TRIGGER audit_event_sites_append_only
            BEFORE UPDATE OR DELETE ON audit_event_sites
            FOR EACH ROW EXECUTE FUNCTION casework_refuse_change()
        """)
        op.execute("""
            CREATE TRIGGER audit_event_sites_no_truncate
            BEFORE TRUNCATE ON audit_event_sites
            FOR EACH STATEMENT EXECUTE FUNCTION casework_refuse_change()
        """)
    else:
        op.execute("""
            INSERT INTO audit_event_sites (event_id, site_id)
            SELECT DISTINCT e.id, s.value
            FROM audit_events e, json_each(e.detail, '$.sites') AS s
            WHERE e.site_id IS NULL AND json_valid(e.detail)
              AND json_type(e.detail, '$.sites') = 'array' AND s.type = 'integer'
              AND s.value IN (SELECT id FROM sites)
        """)
        op.execute("""
            CREATE TRIGGER audit_events_index_sites
            AFTER INSERT ON audit_events
            WHEN NEW.site_id IS NULL AND json_valid(NEW.detail)
                 AND json_type(NEW.detail, '$.sites') = 'array'
            BEGIN
                INSERT OR IGNORE INTO audit_event_sites (event_id, site_id)
                SELECT DISTINCT NEW.id, s.value FROM json_each(NEW.detail, '$.sites') AS s
                WHERE s.type = 'integer' AND s.value IN (SELECT id FROM sites);
            END
        """)


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS audit_events_index_sites"
               + (" ON audit_events" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS casework_index_audit_event_sites()")
        op.execute("DROP TRIGGER IF EXISTS audit_event_sites_no_truncate ON audit_event_sites")
        op.execute("DROP TRIGGER IF EXISTS audit_event_sites_append_only ON audit_event_sites")
    op.drop_index("ix_audit_event_sites_site_id_event_id", table_name="audit_event_sites")
    op.drop_table("audit_event_sites")
