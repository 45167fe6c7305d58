"""Logical backup and restore: every table to JSON lines in one zip, portable between SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Integer, Table, delete, insert, select, text
from sqlalchemy.types import Date, LargeBinary, Numeric

from tinhso import __version__
from tinhso.kit.db import Base, Database, UTCDateTime
from tinhso.modules import load_models

FORMAT = "tinhso-backup/1"


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decoder(table: Table) -> Callable[[dict[str, Any]], dict[str, Any]]:
    conv: dict[str, Callable[[Any], Any]] = {}
    for col in table.columns:
        t = col.type
        if isinstance(t, UTCDateTime | DateTime):
            conv[col.name] = datetime.fromisoformat
        elif isinstance(t, Date):
            conv[col.name] = date.fromisoformat
        elif isinstance(t, LargeBinary):
            conv[col.name] = lambda v: base64.b64decode(v["$b64"])
        elif isinstance(t, Numeric):
            conv[col.name] = Decimal

    def decode(row: dict[str, Any]) -> dict[str, Any]:
        return {k: (conv[k](v) if v is not None and k in conv else v) for k, v in row.items() if k in table.c}

    return decode


def _tables() -> list[Table]:
    load_models()
    return list(Base.metadata.sorted_tables)


def backup(db: Database, target: Path, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Write every row of every table to `target` in one consistent read transaction."""
    counts: dict[str, int] = {}
    tmp = target.with_suffix(target.suffix + ".part")
    with db.engine.connect() as conn, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if db.dialect == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        versions = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
        for table in _tables():
            n = 0
            with zf.open(f"tables/{table.name}.jsonl", "w") as fh:
                pk = list(table.primary_key.columns)
                for row in conn.execute(select(table).order_by(*pk)).mappings():
                    fh.write(
                        (
                            json.dumps({k: _encode(v) for k, v in row.items()}, ensure_ascii=False) + "\n"
                        ).encode()
                    )
                    n += 1
            counts[table.name] = n
            if progress:
                progress(table.name, n)
        manifest = {
            "format": FORMAT,
            "version": __version__,
            "dialect": db.dialect,
            "alembic": versions,
            "tables": counts,
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    tmp.replace(target)
    return counts


def restore(db: Database, source: Path, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Replace every table's rows with those in `source`, in one transaction (all or nothing)."""
    from tinhso.migrate import upgrade

    with zipfile.ZipFile(source) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"not a tinhso backup: {source}")
        upgrade(str(db.engine.url.render_as_string(hide_password=False)))
        tables = _tables()
        counts: dict[str, int] = {}
        with db.engine.begin() as conn:
            for table in reversed(tables):
                conn.execute(delete(table))
            for table in tables:
                name = f"tables/{table.name}.jsonl"
                if name not in zf.namelist():
                    continue
                decode = _decoder(table)
                batch: list[dict[str, Any]] = []
                n = 0
                with zf.open(name) as fh:
                    for line in fh:
                        batch.append(decode(json.loads(line)))
                        if len(batch) >= 1000:
                            conn.execute(insert(table), batch)
                            n += len(batch)
                            batch = []
                if batch:
                    conn.execute(insert(table), batch)
                    n += len(batch)
                counts[table.name] = n
                if progress:
                    progress(table.name, n)
            if db.dialect == "postgresql":
                _reset_sequences(conn, tables)
    return counts


def _reset_sequences(conn: Any, tables: list[Table]) -> None:
    for table in tables:
        for col in table.primary_key.columns:
            if isinstance(col.type, Integer) and col.autoincrement in (True, "auto"):
                seq = conn.execute(
                    text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": col.name}
                ).scalar()
                if seq:
                    conn.execute(
                        text(
                            f"SELECT setval('{seq}', COALESCE((SELECT MAX({col.name}) FROM {table.name}), 0) + 1, false)"
                        )
                    )
