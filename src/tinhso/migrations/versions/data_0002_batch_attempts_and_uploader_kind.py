"""data_batch: attempts (a load interrupted by a stopped process is queued again from its stored file, up to a
limit) and the uploader's kind (the loader acts for the uploader).

Revision ID: data_0002
Revises: data_0001
Create Date: 2026-11-27 07:51:57.134470
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "data_0002"
down_revision = "data_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("created_by_kind", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_batch", schema=None) as batch_op:
        batch_op.drop_column("created_by_kind")
        batch_op.drop_column("attempts")
