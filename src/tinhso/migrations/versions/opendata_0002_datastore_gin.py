"""DataStore equality filters: a GIN index (jsonb_path_ops) on the rows' data, PostgreSQL only

Revision ID: opendata_0002
Revises: opendata_0001
Create Date: 2026-11-27 02:55:00
"""

from __future__ import annotations

from alembic import op

revision = "opendata_0002"
down_revision = "opendata_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_opendata_datastore_row_data ON opendata_datastore_row USING gin (data jsonb_path_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_opendata_datastore_row_data")
