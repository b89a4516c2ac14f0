"""notes searched without accents on PostgreSQL, as on SQLite

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 06:40:00

SQLite's full-text index (FTS5, unicode61) ignores accents: "Zoe" finds a
note about Zoë. PostgreSQL's English configuration did not, so the same
search found the note on one database and not the other. A text search
configuration of casework's own, English with ``unaccent`` before the
stemmer, is used for the index and the search. Where the ``unaccent``
extension is not installed on the server (it ships with PostgreSQL's
contrib), the configuration is English alone and behaves as before.
"""
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    available = op.get_bind().exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'").first()
    op.execute("CREATE TEXT SEARCH CONFIGURATION casework_english (COPY = english)")
    if available:
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        op.execute("ALTER TEXT SEARCH CONFIGURATION casework_english "
                   "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem")
    op.execute("DROP INDEX IF EXISTS ix_notes_body_fts")
    op.execute("CREATE INDEX ix_notes_body_fts ON notes "
               "USING gin (to_tsvector('casework_english', body))")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_notes_body_fts")
    op.execute("CREATE INDEX ix_notes_body_fts ON notes "
               "USING gin (to_tsvector('english', body))")
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS casework_english")
    # the extension stays: other schemas of the database may use it
