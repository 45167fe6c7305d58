"""DataStore: one typed, indexed table per resource (expand); existing rows are copied into them

The JSON rows table `opendata_datastore_row` stays for the processes of the previous release while they still
serve; a contract migration of the next release drops it.

Revision ID: opendata_0004
Revises: opendata_0003
Create Date: 2026-11-27 05:20:00
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "opendata_0004"
down_revision = "opendata_0003"
branch_labels = None
depends_on = None

TYPES: dict[str, Any] = {"int": sa.BigInteger, "numeric": sa.Float, "bool": sa.Boolean}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def _value(value: Any, kind: str) -> Any:
    if value is None or value == "":
        return None
    try:
        if kind == "int":
            return int(value)
        if kind == "numeric":
            return float(value)
        if kind == "bool":
            return bool(value) if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    except (TypeError, ValueError):
        return None
    return str(value)


def upgrade() -> None:
    with op.batch_alter_table("opendata_resource", schema=None) as batch_op:
        batch_op.add_column(sa.Column("datastore_table", sa.String(length=63), nullable=True))
    bind = op.get_bind()
    resource = sa.table(
        "opendata_resource",
        sa.column("id", sa.String),
        sa.column("fields", sa.JSON),
        sa.column("datastore_active", sa.Boolean),
        sa.column("datastore_table", sa.String),
    )
    legacy = sa.table(
        "opendata_datastore_row",
        sa.column("resource_id", sa.String),
        sa.column("row_no", sa.Integer),
        sa.column("data", sa.JSON),
    )
    active = bind.execute(
        sa.select(resource.c.id, resource.c.fields).where(resource.c.datastore_active.is_(True))
    ).all()
    for rid, fields in active:
        fields = fields or []
        name = f"opendata_ds_{rid}_{secrets.token_hex(3)}"[:63]
        cols: list[Any] = [
            sa.Column("_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("_text", sa.Text),
        ]
        cols += [sa.Column(f"c{i}", TYPES.get(f["type"], sa.Text)) for i, f in enumerate(fields)]
        table = sa.Table(name, sa.MetaData(), *cols)
        table.create(bind)
        rows = bind.execute(
            sa.select(legacy.c.row_no, legacy.c.data)
            .where(legacy.c.resource_id == rid)
            .order_by(legacy.c.row_no)
        )
        batch: list[dict[str, Any]] = []
        for row_no, data in rows:
            record: dict[str, Any] = {"_id": row_no}
            for i, f in enumerate(fields):
                record[f"c{i}"] = _value((data or {}).get(f["id"]), f["type"])
            record["_text"] = _fold(" ".join(v for v in record.values() if isinstance(v, str)))
            batch.append(record)
            if len(batch) >= 5000:
                bind.execute(sa.insert(table), batch)
                batch = []
        if batch:
            bind.execute(sa.insert(table), batch)
        for i in range(min(len(fields), 24)):
            sa.Index(f"ix_{name}_c{i}", table.c[f"c{i}"]).create(bind)
        if bind.dialect.name == "postgresql":
            op.execute(f"CREATE INDEX ix_{name}_text ON {name} USING gin (to_tsvector('simple', _text))")
        else:
            fts = "opendata_dq_" + name[len("opendata_ds_") :]
            op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5(_text, content='{name}', content_rowid='_id')")
            op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
        bind.execute(sa.update(resource).where(resource.c.id == rid).values(datastore_table=name))


def downgrade() -> None:
    bind = op.get_bind()
    names = [n for n in sa.inspect(bind).get_table_names() if n.startswith("opendata_ds_")]
    for name in names:
        if bind.dialect.name == "sqlite":
            op.execute(f"DROP TABLE IF EXISTS opendata_dq_{name[len('opendata_ds_') :]}")
        sa.Table(name, sa.MetaData()).drop(bind)
    with op.batch_alter_table("opendata_resource", schema=None) as batch_op:
        batch_op.drop_column("datastore_table")
