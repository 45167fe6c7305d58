"""The shared data warehouse (kho dữ liệu dùng chung): an embedded DuckDB file under TINHSO_VAR_DIR.

One DuckDB database per platform database (so the SQLite and PostgreSQL test runs, or two installations in one
var dir, never share a warehouse). The process keeps one DuckDB instance per file and hands each caller its own
cursor, which DuckDB makes safe across threads. Table metadata (entity, titles, column classification, row count)
is kept in the platform database (`data_warehouse_table`); the rows are in DuckDB.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tinhso.kit.errors import BadRequest, ServiceUnavailable
from tinhso.settings import get_settings

IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SYSTEM_COLUMNS = ("_batch_id", "_source", "_row", "_ingested_at")
# Dictionary field types -> DuckDB column types.
DUCK_TYPES = {
    "string": "VARCHAR",
    "code": "VARCHAR",
    "date": "DATE",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "datetime": "TIMESTAMP",
}

_lock = threading.Lock()
_instances: dict[str, duckdb.DuckDBPyConnection] = {}


def check_ident(name: str, what: str = "table") -> str:
    """Table and column names are interpolated into SQL, so only plain lower-case identifiers pass."""
    if not IDENT.match(name or ""):
        raise BadRequest("invalid_identifier", "Invalid {what} name: {name}", what=what, name=name)
    return name


def quote(name: str) -> str:
    return '"' + check_ident(name, "column") + '"'


def path_for_engine(engine: Engine) -> Path:
    """The DuckDB file that belongs to this platform database."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        stem = Path(url.database or "memory").stem
    else:
        digest = hashlib.sha1(f"{url.host}:{url.port}".encode()).hexdigest()[:8]
        stem = f"{url.database}-{digest}"
    folder = get_settings().var_dir / "warehouse"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{stem}.duckdb"


def path_for(session: Session) -> Path:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return path_for_engine(engine)


def _instance(path: Path) -> duckdb.DuckDBPyConnection:
    key = str(path.resolve())
    with _lock:
        con = _instances.get(key)
        if con is None:
            try:
                con = duckdb.connect(key)
            except duckdb.IOException as exc:  # another process holds the file
                raise ServiceUnavailable(
                    "warehouse_busy", "The data warehouse is in use by another process; try again later"
                ) from exc
            con.execute("SET preserve_insertion_order = false")
            _instances[key] = con
        return con


@contextmanager
def cursor(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB cursor on the warehouse file (its own connection on the shared instance)."""
    cur = _instance(path).cursor()
    try:
        yield cur
    finally:
        cur.close()


def close_all() -> None:
    """Close every open warehouse (tests, shutdown, before another process needs the file)."""
    with _lock:
        for con in _instances.values():
            con.close()
        _instances.clear()


def table_exists(cur: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
        [name],
    ).fetchone()
    return bool(row and row[0])


def ensure_table(cur: duckdb.DuckDBPyConnection, name: str, columns: list[dict[str, Any]]) -> None:
    """Create the table if missing, and add any column the entity gained since (never drops a column)."""
    check_ident(name)
    if not table_exists(cur, name):
        cols = [f"{quote(c['name'])} {DUCK_TYPES.get(c['type'], 'VARCHAR')}" for c in columns]
        cols += ['"_batch_id" VARCHAR', '"_source" VARCHAR', '"_row" BIGINT', '"_ingested_at" TIMESTAMP']
        cur.execute(f"CREATE TABLE {quote(name)} ({', '.join(cols)})")
        return
    have = {r[0] for r in cur.execute(f"DESCRIBE {quote(name)}").fetchall()}
    for c in columns:
        if c["name"] not in have:
            cur.execute(
                f"ALTER TABLE {quote(name)} ADD COLUMN {quote(c['name'])} {DUCK_TYPES.get(c['type'], 'VARCHAR')}"
            )


def count_rows(cur: duckdb.DuckDBPyConnection, name: str) -> int:
    rows = cur.execute(f"SELECT count(*) FROM {quote(name)}").fetchall()
    return int(rows[0][0]) if rows else 0


def replace_table(path: Path, name: str, columns: list[dict[str, Any]], rows: list[dict[str, Any]]) -> int:
    """Replace the whole content of a (small, derived) table in one DuckDB transaction."""
    with cursor(path) as cur:
        cur.execute("BEGIN TRANSACTION")
        try:
            if table_exists(cur, name):
                cur.execute(f"DROP TABLE {quote(name)}")
            ensure_table(cur, name, columns)
            names = [c["name"] for c in columns]
            if rows:
                placeholders = ", ".join("?" for _ in names)
                cur.executemany(
                    f"INSERT INTO {quote(name)} ({', '.join(quote(n) for n in names)}) VALUES ({placeholders})",
                    [[r.get(n) for n in names] for r in rows],
                )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return len(rows)
