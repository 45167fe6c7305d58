"""The message log: one entry per exchange, hash-chained and signed by the hub's Ed25519 key.

Entries are appended by one writer thread per process in short transactions, serialised by the head row.
Bodies are kept only for services not classified personal/secret, and only until their retention ends;
purging a body keeps its SHA-256, so the chain still verifies. `verify` walks the chain and the signatures.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import queue
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from tinhso.exchange.models import HubKey, LogHead, MessageLog
from tinhso.kit.db import Database, new_id, utcnow

GENESIS = "0" * 64
_lock = threading.Lock()
_keys: dict[str, tuple[str, Ed25519PrivateKey]] = {}

SIGNED_FIELDS = (
    "seq",
    "message_id",
    "request_id",
    "client",
    "service",
    "method",
    "path",
    "operation",
    "status",
    "error_type",
    "duration_ms",
    "upstream_ms",
    "request_bytes",
    "response_bytes",
    "request_sha256",
    "response_sha256",
    "request_hash",
    "user_id",
    "issue",
    "peer",
)


def ensure_hub_key(session: Session) -> HubKey:
    key = session.scalar(
        select(HubKey).where(HubKey.active.is_(True)).order_by(HubKey.created_at.desc()).limit(1)
    )
    if key is None:
        private = Ed25519PrivateKey.generate()
        key = HubKey(
            kid=new_id()[:16],
            private_pem=private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            public_pem=private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode(),
            active=True,
        )
        session.add(key)
        session.flush()
    return key


def hub_key(db: Database) -> tuple[str, Ed25519PrivateKey]:
    """The hub's active signing key (kid, key), cached per database."""
    cache_key = str(db.engine.url)
    with _lock:
        if cache_key not in _keys:
            with db.transaction(write=False) as session:
                row = session.scalar(
                    select(HubKey).where(HubKey.active.is_(True)).order_by(HubKey.created_at.desc()).limit(1)
                )
            if row is None:
                with db.transaction() as session:
                    row = ensure_hub_key(session)
            private = serialization.load_pem_private_key(row.private_pem.encode(), password=None)
            assert isinstance(private, Ed25519PrivateKey)
            _keys[cache_key] = (row.kid, private)
        return _keys[cache_key]


def public_pem(db: Database) -> str:
    _, key = hub_key(db)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def reset_cache() -> None:
    with _lock:
        _keys.clear()


def sign(db: Database, data: bytes) -> tuple[str, str]:
    kid, key = hub_key(db)
    return kid, base64.b64encode(key.sign(data)).decode()


def load_public(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def digest(fields: dict[str, Any], at: datetime, prev_hash: str) -> str:
    doc = {name: fields.get(name) for name in SIGNED_FIELDS}
    doc["at"] = at.isoformat(timespec="microseconds")
    doc["prev_hash"] = prev_hash
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Record:
    """What the gateway knows about one exchange when it ends."""

    message_id: str
    request_id: str | None
    client: str
    service: str
    service_pk: str | None
    provider_agency_code: str | None
    method: str
    path: str
    operation: str | None
    status: int
    error_type: str | None
    duration_ms: float
    upstream_ms: float | None
    request_bytes: int
    response_bytes: int
    request_sha256: str
    response_sha256: str
    request_hash: str | None = None
    user_id: str | None = None
    issue: str | None = None
    peer: str | None = None
    request_body: bytes | None = None
    response_body: bytes | None = None
    retention_days: int = 0


def append(db: Database, rec: Record) -> tuple[int, str]:
    """Write one signed, chained entry in its own transaction; raises if it cannot (callers fail closed)."""
    return append_many(db, [rec])


def _entries_for(
    recs: list[Record], seq: int, prev: str, kid: str, key: Ed25519PrivateKey
) -> tuple[list[dict[str, Any]], int, str]:
    """Chain and sign `recs` after (seq, prev): the rows to insert and the new head."""
    rows = []
    for rec in recs:
        seq += 1
        at = utcnow()
        fields = {name: getattr(rec, name) for name in SIGNED_FIELDS if name != "seq"}
        fields["seq"] = seq
        h = digest(fields, at, prev)
        keep = rec.retention_days > 0 and (rec.request_body is not None or rec.response_body is not None)
        rows.append(
            fields
            | {
                "service_pk": rec.service_pk,
                "provider_agency_code": rec.provider_agency_code,
                "at": at,
                "request_body": rec.request_body if keep else None,
                "response_body": rec.response_body if keep else None,
                "body_expires_at": at + timedelta(days=rec.retention_days) if keep else None,
                "prev_hash": prev,
                "hash": h,
                "key_id": kid,
                "signature": base64.b64encode(key.sign(bytes.fromhex(h))).decode(),
            }
        )
        prev = h
    return rows, seq, prev


def append_many(db: Database, recs: list[Record], head: tuple[int, str] | None = None) -> tuple[int, str]:
    """Write several entries, chained in order, in one transaction; returns the new head (seq, hash).

    `head` is the head this writer left last time: the entries are chained and signed before the
    transaction, and one conditional UPDATE of the head row both checks that no other writer moved it and
    takes its lock. If another process did write meanwhile, the entries are chained again under the lock.
    """
    kid, key = hub_key(db)
    ht: Any = LogHead.__table__
    table: Any = MessageLog.__table__
    rows: list[dict[str, Any]] | None = None
    if head is not None:
        rows, seq, last = _entries_for(recs, head[0], head[1], kid, key)
    with db.engine.begin() as conn:  # a write transaction (BEGIN IMMEDIATE on SQLite)
        moved = True
        if rows is not None and head is not None:
            result = conn.execute(
                update(ht)
                .where(ht.c.id == 1, ht.c.seq == head[0], ht.c.last_hash == head[1])
                .values(seq=seq, last_hash=last)
            )
            moved = result.rowcount != 1
        if moved:
            found = conn.execute(
                select(ht.c.seq, ht.c.last_hash).where(ht.c.id == 1).with_for_update()
            ).first()
            if found is None:
                conn.execute(insert(ht).values(id=1, seq=0, last_hash=GENESIS))
            at_seq, at_hash = (found[0], found[1]) if found is not None else (0, GENESIS)
            rows, seq, last = _entries_for(recs, at_seq, at_hash, kid, key)
            conn.execute(update(ht).where(ht.c.id == 1).values(seq=seq, last_hash=last))
        conn.execute(table.insert(), rows)
    return seq, last


def append_in(session: Session, recs: list[Record], signer: tuple[str, Ed25519PrivateKey]) -> tuple[int, str]:
    """Write entries inside the caller's transaction, so that an operation and its entries commit together
    or not at all; returns the new head (seq, hash). The head row stays locked until that transaction ends.
    `signer` is `hub_key(db)`, taken before the transaction opens (it may have to write the key)."""
    ht: Any = LogHead.__table__
    conn = session.connection()
    found = conn.execute(select(ht.c.seq, ht.c.last_hash).where(ht.c.id == 1).with_for_update()).first()
    if found is None:
        conn.execute(insert(ht).values(id=1, seq=0, last_hash=GENESIS))
    at_seq, at_hash = (found[0], found[1]) if found is not None else (0, GENESIS)
    rows, seq, last = _entries_for(recs, at_seq, at_hash, signer[0], signer[1])
    conn.execute(update(ht).where(ht.c.id == 1).values(seq=seq, last_hash=last))
    table: Any = MessageLog.__table__
    conn.execute(table.insert(), rows)
    return seq, last


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


def purge_bodies(session: Session, now: datetime | None = None) -> int:
    """Drop bodies whose retention ended (their hashes stay in the signed entry)."""
    now = now or utcnow()
    result = session.execute(
        update(MessageLog)
        .where(MessageLog.body_expires_at.is_not(None), MessageLog.body_expires_at <= now)
        .values(request_body=None, response_body=None, body_expires_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str | None = None


def _entries(session: Session, batch: int = 2000) -> Iterator[MessageLog]:
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(MessageLog).where(MessageLog.seq > last).order_by(MessageLog.seq).limit(batch)
            )
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify(session: Session) -> VerifyResult:
    """Walk the chain: links, contents, bodies still held, and each entry's hub signature."""
    keys = {k.kid: load_public(k.public_pem) for k in session.scalars(select(HubKey))}
    prev, expected, checked = GENESIS, 1, 0
    for e in _entries(session):
        if e.seq != expected:
            return VerifyResult(False, checked, expected, f"entry {expected} is missing")
        if e.prev_hash != prev:
            return VerifyResult(False, checked, e.seq, "previous-hash link does not match")
        fields = {name: getattr(e, name) for name in SIGNED_FIELDS}
        if digest(fields, e.at, prev) != e.hash:
            return VerifyResult(False, checked, e.seq, "content does not match its hash")
        if e.request_body is not None and hashlib.sha256(e.request_body).hexdigest() != e.request_sha256:
            return VerifyResult(False, checked, e.seq, "stored request body does not match its hash")
        if e.response_body is not None and hashlib.sha256(e.response_body).hexdigest() != e.response_sha256:
            return VerifyResult(False, checked, e.seq, "stored response body does not match its hash")
        key = keys.get(e.key_id)
        try:
            if key is None:
                raise InvalidSignature
            key.verify(base64.b64decode(e.signature), bytes.fromhex(e.hash))
        except (InvalidSignature, ValueError):
            return VerifyResult(False, checked, e.seq, "hub signature is not valid")
        prev, expected, checked = e.hash, expected + 1, checked + 1
    head = session.get(LogHead, 1)
    if head is not None and (head.seq != checked or head.last_hash != prev):
        return VerifyResult(False, checked, checked + 1, "entries after the last one found were removed")
    return VerifyResult(True, checked)
