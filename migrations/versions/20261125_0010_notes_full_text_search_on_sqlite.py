"""notes full-text search on SQLite

PostgreSQL searches notes through the GIN index on to_tsvector('english',
body) (migration 0006). SQLite had no index for it, so a search read the body
of every note (4.4 s at a million notes). Here SQLite gets the same: an FTS5
index of the notes' bodies (words stemmed by the Porter stemmer, as
PostgreSQL's English configuration stems them), kept in step with the notes
by triggers, including when a note is amended. The index holds the stemmed
words of every note and their positions (as PostgreSQL's GIN index does),
not a second copy of the text: it is an external-content table reading
notes.body.

A later migration that rebuilds the notes table on SQLite (a batch
operation that recreates it) drops these triggers with the old table and
must create them again; tests/integration/test_migrations.py checks they
are there at head.

casework.database.DATABASE_ONLY_TABLES keeps autogenerate from dropping it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 18:05:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE VIRTUAL TABLE notes_fts USING fts5("
               "body, content='notes', content_rowid='id', tokenize='porter unicode61')")
    op.execute("CREATE TRIGGER notes_fts_insert AFTER INSERT ON notes BEGIN "
               "INSERT INTO notes_fts (rowid, body) VALUES (new.id, new.body); END")
    op.execute("CREATE TRIGGER notes_fts_delete AFTER DELETE ON notes BEGIN "
               "INSERT INTO notes_fts (notes_fts, rowid, body) "
               "VALUES ('delete', old.id, old.body); END")
    op.execute("CREATE TRIGGER notes_fts_update AFTER UPDATE OF body ON notes BEGIN "
               "INSERT INTO notes_fts (notes_fts, rowid, body) "
               "VALUES ('delete', old.id, old.body); "
               "INSERT INTO notes_fts (rowid, body) VALUES (new.id, new.body); END")
    op.execute("INSERT INTO notes_fts (notes_fts) VALUES ('rebuild')")


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("notes_fts_insert", "notes_fts_delete", "notes_fts_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS notes_fts")
