"""covering indexes for a search by name

A search of the referrals by name finds the people whose name keys start
with the words searched for, then their referrals at the user's sites, in
date order. PostgreSQL read every matching person's row and every matching
referral's row from the tables (its indexes held neither the person's id
nor the referral's date and id): 201 people named Hawkins at the bench's
size cost about 800 page reads in each of the count and the page's ids.
Now each is read from the indexes alone: the name indexes include the id
on PostgreSQL (SQLite's indexes hold the id already, so they are not
rebuilt there), and a referral's (person, site) index carries its date,
and its id on PostgreSQL.

The tables are analysed again for the new indexes: without their figures,
SQLite's planner looked a searched person's referrals up once for each of
the user's sites (three times slower than before), not once.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 07:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

NAME_INDEXES = (("ix_people_name_keys", ["last_name_key", "first_name_key"]),
                ("ix_people_first_name_key", ["first_name_key"]))


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_person_id_site_id')
        batch_op.create_index('ix_referrals_person_id_site_id_referral_date',
                              ['person_id', 'site_id', 'referral_date'], unique=False,
                              postgresql_include=['id'])
    if _postgresql():
        for name, columns in NAME_INDEXES:
            op.drop_index(name, table_name='people')
            op.create_index(name, 'people', columns, unique=False, postgresql_include=['id'])
    op.execute("ANALYZE referrals")
    op.execute("ANALYZE people")


def downgrade():
    if _postgresql():
        for name, columns in NAME_INDEXES:
            op.drop_index(name, table_name='people')
            op.create_index(name, 'people', columns, unique=False)
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_person_id_site_id_referral_date')
        batch_op.create_index('ix_referrals_person_id_site_id', ['person_id', 'site_id'],
                              unique=False)
    op.execute("ANALYZE referrals")
    op.execute("ANALYZE people")
