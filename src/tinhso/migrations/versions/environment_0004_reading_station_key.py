"""Readings idempotent on (station, parameter, time) (expand): duplicates across a station's devices removed,
then a unique index in place of the plain one. The (device, parameter, time) constraint is dropped by the next
release's contract migration; the previous release's processes name it in their inserts while they serve.

Revision ID: environment_0004
Revises: environment_0003
Create Date: 2026-11-27 06:15:00
"""

from __future__ import annotations

from alembic import op

revision = "environment_0004"
down_revision = "environment_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Keep the first stored of readings that share station, parameter and time (two devices of one station).
    op.execute(
        "DELETE FROM environment_reading WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "
        "(PARTITION BY station_id, parameter, observed_at ORDER BY id) AS n FROM environment_reading) AS d "
        "WHERE n > 1)"
    )
    op.drop_index("ix_environment_reading_station_param_time", table_name="environment_reading")
    op.create_index(
        "uq_environment_reading_station_param_time",
        "environment_reading",
        ["station_id", "parameter", "observed_at"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_environment_reading_station_param_time", table_name="environment_reading")
    op.create_index(
        "ix_environment_reading_station_param_time",
        "environment_reading",
        ["station_id", "parameter", "observed_at"],
        unique=False,
    )
