"""PostgreSQL: a stored tsvector of the folded search text, so ranking does not re-parse every match

Revision ID: opendata_0003
Revises: opendata_0002
Create Date: 2026-11-27 03:05:00
"""

from __future__ import annotations

from alembic import op

revision = "opendata_0003"
down_revision = "opendata_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_opendata_dataset_fts")
        op.execute(
            "ALTER TABLE opendata_dataset ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED"
        )
        op.execute(
            "CREATE INDEX ix_opendata_dataset_search_vector ON opendata_dataset USING gin (search_vector)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_opendata_dataset_search_vector")
        op.execute("ALTER TABLE opendata_dataset DROP COLUMN IF EXISTS search_vector")
        op.execute(
            "CREATE INDEX ix_opendata_dataset_fts ON opendata_dataset USING gin (to_tsvector('simple', search_text))"
        )
