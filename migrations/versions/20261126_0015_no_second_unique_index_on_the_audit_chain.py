"""the audit chain's hash no longer has a unique index of its own

Every event (a page view included) inserted into two unique indexes on
random 64-character hashes, ``hash`` and ``prev_hash``: each insert lands on
a random leaf of each, a page of the WAL on PostgreSQL after every
checkpoint, and at a national deployment's tens of millions of events each
index runs to gigabytes. ``prev_hash`` stays unique, which is what keeps the
chain one total order (no two events can follow the same one); ``hash``
then cannot repeat either, since an event's hash is that of its predecessor's
hash with its own fields (two equal hashes would need two events after the
same one). Nothing looks an event up by its hash. On SQLite an insert
transaction of an event took 208-225 microseconds without the index against
263-278 with it (the bench's 2.3 million events, alternating).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 16:20:00
"""
from alembic import op


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_events_hash", type_="unique")


def downgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_audit_events_hash", ["hash"])
