"""Pub/sub subscription options and event type codes in the GovStack form (expand).

Subscriptions get `fifo` (ordered delivery; existing ones keep the order per key they had, hence the
server default true) and `ttl_seconds` (none for existing ones: no expiry, as before); deliveries get
`expires_at`. Event type codes may now carry upper case (`newBirth`): a unique index on (owner, lower(code))
keeps `newBirth` and `newbirth` from coexisting (existing codes are all lower case, so nothing collides).
The index on (fanned_out, seq) finds the few events not yet fanned out, which ordered deliveries wait for.
Every change is additive: the previous release's processes keep working while the next one rolls out.

Revision ID: exchange_0003
Revises: exchange_0002
Create Date: 2026-11-27 07:52:21.426053
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tinhso.kit.db

revision = "exchange_0003"
down_revision = "exchange_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "exchange_subscription", sa.Column("fifo", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.add_column("exchange_subscription", sa.Column("ttl_seconds", sa.Integer(), nullable=True))
    op.add_column(
        "exchange_delivery",
        sa.Column("expires_at", tinhso.kit.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_exchange_event_fanout", "exchange_event", ["fanned_out", "seq"], unique=False)
    op.create_index(
        "uq_exchange_event_type_owner_code_ci",
        "exchange_event_type",
        ["owner", sa.text("lower(code)")],
        unique=True,
    )


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of these tables would cascade the deletes.
    op.drop_index("uq_exchange_event_type_owner_code_ci", table_name="exchange_event_type")
    op.drop_index("ix_exchange_event_fanout", table_name="exchange_event")
    op.drop_column("exchange_delivery", "expires_at")
    op.drop_column("exchange_subscription", "ttl_seconds")
    op.drop_column("exchange_subscription", "fifo")
