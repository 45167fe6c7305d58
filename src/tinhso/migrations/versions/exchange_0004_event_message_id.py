"""Published events remember the publisher's X-Road-Id (expand): a publish retried with the same id is stored
once. A nullable column and a unique index on (publisher, message_id); NULLs (no id given, and every event
before this release) never collide.

Revision ID: exchange_0004
Revises: exchange_0003
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "exchange_0004"
down_revision = "exchange_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("exchange_event", sa.Column("message_id", sa.String(length=100), nullable=True))
    op.create_index(
        "uq_exchange_event_publisher_message", "exchange_event", ["publisher", "message_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_exchange_event_publisher_message", table_name="exchange_event")
    op.drop_column("exchange_event", "message_id")
