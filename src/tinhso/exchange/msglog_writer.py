"""The message log's writer: one thread per process appends entries in group-committed batches.

A batch chained after the head this writer left goes through `Direct` (its own driver connection and statements
prepared once); the first batch, or one after another writer moved the head, goes through `msglog.append_many`
under the head row's lock. Callers wait on a future that settles once their entry is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tinhso.exchange.models import MessageLog
from tinhso.exchange.msglog import SIGNED_FIELDS, Record, _entries_for, append_many, hub_key
from tinhso.kit.db import Database

# Columns an entry row fills (`_entries_for`); the rest keep their database defaults.
ROW_COLUMNS = (
    *SIGNED_FIELDS,
    "service_pk",
    "provider_agency_code",
    "at",
    "request_body",
    "response_body",
    "body_expires_at",
    "prev_hash",
    "hash",
    "key_id",
    "signature",
)


class Direct:
    """The log writer's own driver connection and statements, built once. A batch chained after the head
    this writer left is written with a conditional update of the head row (it fails if any other writer
    moved the head) and the insert of the entries, in one transaction: on SQLite `BEGIN IMMEDIATE`, two
    statements, `COMMIT`; on PostgreSQL one statement (the update in a CTE of the insert), so one
    round trip that commits before it answers. Same values as `append_many` writes (the columns' own bind
    processors), none of its per-call statement building, pool checkout or ping."""

    def __init__(self, db: Database):
        table: Any = MessageLog.__table__
        dialect = db.engine.dialect
        self.url = db.engine.url
        self.sqlite = db.dialect == "sqlite"
        columns = [table.c[name] for name in ROW_COLUMNS]
        self.processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        names = ", ".join(ROW_COLUMNS)
        if self.sqlite:
            self.head_sql = "UPDATE exchange_log_head SET seq = ?, last_hash = ? WHERE id = 1 AND seq = ? AND last_hash = ?"
            marks = ", ".join("?" for _ in columns)
            self.insert_sql = f"INSERT INTO exchange_message_log ({names}) VALUES ({marks})"
        else:
            self.names = names
            self.row_sql = "(" + ", ".join(f"%s::{c.type.compile(dialect=dialect)}" for c in columns) + ")"
            self.pg_sql: dict[int, str] = {}  # per batch size (the driver prepares each after a few uses)
        self.conn: Any = None

    def _pg_insert(self, n: int) -> str:
        sql = self.pg_sql.get(n)
        if sql is None:
            sql = self.pg_sql[n] = (
                "WITH head AS (UPDATE exchange_log_head SET seq = %s, last_hash = %s"
                " WHERE id = 1 AND seq = %s AND last_hash = %s RETURNING id)"
                f" INSERT INTO exchange_message_log ({self.names})"
                f" SELECT * FROM (VALUES {', '.join([self.row_sql] * n)}) AS entry"
                " WHERE EXISTS (SELECT 1 FROM head)"
            )
        return sql

    def _connect(self) -> Any:
        if self.conn is None:
            conn: Any
            if self.sqlite:
                conn = sqlite3.connect(self.url.database or "", isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout=30000")
                conn.execute("PRAGMA synchronous=NORMAL")  # as the platform's engine (kit.db)
            else:
                import psycopg

                dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
                conn = psycopg.connect(dsn, autocommit=True)
            self.conn = conn
        return self.conn

    def append(
        self, recs: list[Record], head: tuple[int, str], signer: tuple[str, Ed25519PrivateKey]
    ) -> tuple[int, str] | None:
        """Write `recs` after `head`; the new head, or None (nothing written) if the head had moved."""
        rows, seq, last = _entries_for(recs, head[0], head[1], *signer)
        values = [
            [
                row[name] if fn is None else fn(row[name])
                for name, fn in zip(ROW_COLUMNS, self.processors, strict=True)
            ]
            for row in rows
        ]
        conn = self._connect()
        if not self.sqlite:
            # An explicit transaction, committed only once the statement has returned to this process: a hub
            # killed while its statement waits on the head's lock must leave no entry (an autocommitted
            # statement would still commit when the lock is released, logging a call whose answer never left).
            params = [seq, last, head[0], head[1], *(v for row in values for v in row)]
            conn.execute("BEGIN")
            try:
                count = conn.execute(self._pg_insert(len(rows)), params).rowcount
                conn.execute("COMMIT" if count == len(rows) else "ROLLBACK")
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
                raise
            return (seq, last) if count == len(rows) else None
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute(self.head_sql, (seq, last, head[0], head[1])).rowcount != 1:
                conn.execute("ROLLBACK")
                return None
            conn.executemany(self.insert_sql, values)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            raise
        return seq, last

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


class Writer:
    """Group commit for the gateway: calls hand in records and wait; one thread chains, signs and writes
    whatever has gathered while the previous commit ran, in one transaction. At concurrency 1 this is one
    commit per call; under load one commit carries many entries. If the batch cannot be written every
    waiting call fails (closed) and the next batch reads the head again. While no other writer moves the
    head, batches go through `Direct` (driver statements prepared once); otherwise through `append_many`."""

    def __init__(self, db: Database, max_batch: int = 256):
        self.db = db
        self.max_batch = max_batch
        self._head: tuple[int, str] | None = None
        self._direct = Direct(db)
        self._queue: queue.SimpleQueue[tuple[Record, Any, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="exchange-log-writer", daemon=True)
        self._thread.start()

    def submit(self, rec: Record) -> asyncio.Future[None]:
        """An awaitable settled when the entry is committed (or its batch failed)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put((rec, loop, future))
        return future

    def _append(self, recs: list[Record]) -> tuple[int, str]:
        if self._head is not None:
            head = self._direct.append(recs, self._head, hub_key(self.db))
            if head is not None:
                return head
        return append_many(self.db, recs)  # first batch, or another writer moved the head: under its lock

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._direct.close()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            error: Exception | None = None
            try:
                self._head = self._append([rec for rec, _, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting call fails closed
                self._head = None
                self._direct.close()
                error = exc
            by_loop: dict[Any, list[Any]] = {}
            for _, loop, fut in batch:
                by_loop.setdefault(loop, []).append(fut)
            for loop, futures in by_loop.items():
                # A closed event loop has nobody waiting any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, futures, error)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)


def _settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for fut in futures:
        if fut.done():
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)
