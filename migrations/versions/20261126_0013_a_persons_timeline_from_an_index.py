"""a person's timeline read from an index

The person page's record lists every event of the person's case, newest
first, a page at a time, and counts them: for each of their notes it reads
the note's date (the contact's, or when it was written) and, for a reader
who may not see every restricted note, whether it is restricted and who
wrote it. Those were in each note's row, so a record of 200 notes read 200
rows of the notes table (their bodies with them) on every view: 199 table
pages on PostgreSQL. The person's notes index now carries them (and the
note's id on PostgreSQL, whose indexes do not hold it), replacing the
(person, written) index it extends.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 07:07:51.328921

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.drop_index('ix_notes_person_id_created_at')
        batch_op.create_index('ix_notes_person_timeline',
                              ['person_id', 'created_at', 'contact_date', 'restricted',
                               'author_id'], unique=False, postgresql_include=['id'])
    op.execute("ANALYZE notes")


def downgrade():
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.drop_index('ix_notes_person_timeline')
        batch_op.create_index('ix_notes_person_id_created_at', ['person_id', 'created_at'],
                              unique=False)
    op.execute("ANALYZE notes")
