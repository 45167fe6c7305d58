"""procedures: partial index for the officials' work queue (open dossiers of an agency by due date)

Revision ID: procedures_0002
Revises: procedures_0001
Create Date: 2026-11-27 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "procedures_0002"
down_revision: str | None = "procedures_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_SQL = "status IN ('received', 'assigned', 'in_review', 'for_signature', 'supplement_requested')"


def upgrade() -> None:
    with op.batch_alter_table("procedures_dossier", schema=None) as batch_op:
        batch_op.create_index(
            "ix_procedures_dossier_open_queue",
            ["agency_code", "due_at"],
            unique=False,
            postgresql_where=sa.text(OPEN_SQL),
            sqlite_where=sa.text(OPEN_SQL),
        )


def downgrade() -> None:
    with op.batch_alter_table("procedures_dossier", schema=None) as batch_op:
        batch_op.drop_index("ix_procedures_dossier_open_queue")
