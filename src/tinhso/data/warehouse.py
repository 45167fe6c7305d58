"""The shared data warehouse (kho dữ liệu dùng chung): embedded DuckDB files under TINHSO_VAR_DIR.

One warehouse per platform database (so the SQLite and PostgreSQL test runs, or two installations in one var dir,
never share one). Table metadata (entity, titles, column classification, row count) is kept in the platform
database (`data_warehouse_table`); the rows are in DuckDB.

Several processes use the warehouse at once (two API processes and the worker in the data centre). DuckDB lets
one process write a file or several read it, never both, so the warehouse is a folder of *generations*:

    warehouse/<database>/CURRENT        name of the published generation (replaced atomically)
    warehouse/<database>/g000042.duckdb  immutable once published; opened read-only by every reader
    warehouse/<database>/write.lock      writers take it in turn (flock: across processes and threads)

A writer takes the lock, copies the current generation to a new file, changes it, checkpoints, closes it and
publishes it by replacing CURRENT. Readers always open the published generation read-only, so they never wait
for a writer and never see half a write; a writer that fails or crashes leaves an unpublished file that is
removed, and the warehouse is as it was. The previous generation is kept (a reader may still hold it and a
writer may need to take a publication back); older ones are deleted.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
GENERATION = re.compile(r"^g(\d{6,})\.duckdb$")
WRITE_WAIT_S = 600.0  # how long a writer waits for another process's write before answering busy

_lock = threading.Lock()


@dataclass
class _Reader:
    con: duckdb.DuckDBPyConnection
    users: int = 0
    retired: bool = False


_readers: dict[str, _Reader] = {}  # generation file -> its read-only instance in this process


def check_ident(name: str, what: str = "table") -> str:
    """Table and column names are interpolated into SQL, so only plain lower-case identifiers pass."""
    if not IDENT.match(name or ""):
        raise BadRequest("invalid_identifier", "Invalid {what} name: {name}", what=what, name=name)
    return name


def quote(name: str) -> str:
    return '"' + check_ident(name, "column") + '"'


def path_for_engine(engine: Engine) -> Path:
    """The warehouse folder that belongs to this platform database."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        stem = Path(url.database or "memory").stem
    else:
        digest = hashlib.sha1(f"{url.host}:{url.port}".encode()).hexdigest()[:8]
        stem = f"{url.database}-{digest}"
    folder = get_settings().var_dir / "warehouse" / stem
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def path_for(session: Session) -> Path:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return path_for_engine(engine)


def _current(folder: Path) -> Path | None:
    try:
        name = (folder / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None
    return folder / name if GENERATION.match(name) else None


def _generation(path: Path) -> int:
    found = GENERATION.match(path.name)
    return int(found.group(1)) if found else 0


def _publish(folder: Path, target: Path) -> None:
    pointer = folder / f"CURRENT.{os.getpid()}.{threading.get_ident()}"
    with pointer.open("w") as fh:
        fh.write(target.name)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, folder / "CURRENT")


@contextmanager
def _write_lock(folder: Path, wait_s: float) -> Iterator[None]:
    fd = os.open(folder / "write.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        "warehouse_busy", "The data warehouse is in use by another process; try again later"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def _ensure_published(folder: Path) -> Path:
    """The current generation, creating the first (empty) one when the warehouse is new."""
    current = _current(folder)
    if current is not None and current.exists():
        return current
    with _write_lock(folder, WRITE_WAIT_S):
        current = _current(folder)
        if current is not None and current.exists():
            return current
        # CURRENT names a file that is gone: the newest earlier generation (a newer file is a writer's unpublished
        # copy, never published as is)
        published = sorted(
            (g for g in folder.glob("g*.duckdb") if current and 0 < _generation(g) < _generation(current)),
            key=_generation,
        )
        if current is not None and published:
            _publish(folder, published[-1])
            return published[-1]
        first = folder / "g000001.duckdb"
        for stale in (first, first.with_name(first.name + ".wal")):
            stale.unlink(missing_ok=True)
        legacy = folder.parent / f"{folder.name}.duckdb"  # the single-file layout of earlier releases
        if legacy.exists():
            shutil.copyfile(legacy, first)
            if legacy.with_name(legacy.name + ".wal").exists():
                shutil.copyfile(legacy.with_name(legacy.name + ".wal"), first.with_name(first.name + ".wal"))
        con = duckdb.connect(str(first))
        con.execute("CHECKPOINT")
        con.close()
        _publish(folder, first)
        return first


def _open_reader(folder: Path) -> tuple[str, _Reader]:
    for _ in range(5):
        current = _ensure_published(folder)
        key = str(current)
        with _lock:
            reader = _readers.get(key)
            if reader is None:
                try:
                    con = duckdb.connect(key, read_only=True)
                except duckdb.IOException:  # deleted by a writer after two newer publications: look again
                    continue
                reader = _readers[key] = _Reader(con)
                for other_key, other in list(_readers.items()):
                    if other_key != key and other_key.startswith(str(folder)):
                        other.retired = True
                        if other.users == 0:
                            other.con.close()
                            del _readers[other_key]
            reader.users += 1
            return key, reader
    raise ServiceUnavailable(
        "warehouse_busy", "The data warehouse is in use by another process; try again later"
    )


def _release(key: str, reader: _Reader) -> None:
    with _lock:
        reader.users -= 1
        if reader.retired and reader.users == 0 and _readers.get(key) is reader:
            reader.con.close()
            del _readers[key]


@contextmanager
def reader(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only DuckDB cursor on the published warehouse (never waits for writers)."""
    key, shared = _open_reader(path)
    try:
        cur = shared.con.cursor()
        try:
            yield cur
        finally:
            cur.close()
    finally:
        _release(key, shared)


class Writer:
    """One write to the warehouse: a new generation, published when the block ends without error."""

    def __init__(self, folder: Path, con: duckdb.DuckDBPyConnection, target: Path, previous: Path):
        self.folder, self.con, self.target, self.previous = folder, con, target, previous
        self.published = False

    def publish(self) -> None:
        """Publish now (before the block ends), e.g. before committing the platform database's side."""
        if self.published:
            return
        self.con.execute("CHECKPOINT")
        self.con.close()
        _publish(self.folder, self.target)
        self.published = True

    def take_back(self) -> None:
        """Undo a publication made by publish() (the platform database refused its side)."""
        if self.published:
            _publish(self.folder, self.previous)


@contextmanager
def writer(path: Path, wait_s: float = WRITE_WAIT_S) -> Iterator[Writer]:
    """Exclusive write access: yields a Writer whose `con` is a read-write connection on a copy of the current
    generation. The copy is published when the block ends without error; otherwise it is thrown away."""
    current = _ensure_published(path)
    with _write_lock(path, wait_s):
        current = _current(path) or current
        target = path / f"g{_generation(current) + 1:06d}.duckdb"
        for stale in (target, target.with_name(target.name + ".wal")):
            stale.unlink(missing_ok=True)
        shutil.copyfile(current, target)
        con = duckdb.connect(str(target))
        con.execute("SET preserve_insertion_order = false")
        handle = Writer(path, con, target, current)
        try:
            yield handle
            handle.publish()
        except BaseException:
            if handle.published:
                handle.take_back()
            else:
                con.close()
            for stale in (target, target.with_name(target.name + ".wal")):
                stale.unlink(missing_ok=True)
            raise
        for old in path.glob("g*.duckdb"):
            if _generation(old) < _generation(current):
                old.unlink(missing_ok=True)


def close_all() -> None:
    """Close every read-only instance this process holds (tests, shutdown)."""
    with _lock:
        for shared in _readers.values():
            shared.con.close()
        _readers.clear()


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
    """Replace the whole content of a (small, derived) table in one write."""
    with writer(path) as w:
        cur = w.con
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
    return len(rows)
