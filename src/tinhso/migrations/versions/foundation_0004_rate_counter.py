"""rate limit counters

Revision ID: foundation_0004
Revises: foundation_0003
Create Date: 2026-11-27 05:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'foundation_0004'
down_revision = 'foundation_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Counters of the current and previous window only: not worth the write-ahead log on PostgreSQL.
    unlogged = ['UNLOGGED'] if op.get_bind().dialect.name == 'postgresql' else []
    op.create_table(
        'kit_rate_counter',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('window_start', sa.BigInteger(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_kit_rate_counter')),
        prefixes=unlogged,
    )


def downgrade() -> None:
    op.drop_table('kit_rate_counter')
