"""The message log: one entry per exchange, hash-chained and signed by the hub's Ed25519 key.

Entries are appended in their own short transaction, serialised by the head row (as the audit chain).
Bodies are kept only for services not classified personal/secret, and only until their retention ends;
purging a body keeps its SHA-256, so the chain still verifies. `verify` walks the chain and the signatures.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, update
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


def append(db: Database, rec: Record) -> dict[str, Any]:
    """Write one signed, chained entry in its own transaction; raises if it cannot (callers fail closed)."""
    return append_many(db, [rec])[0]


def append_many(db: Database, recs: list[Record]) -> list[dict[str, Any]]:
    """Write several entries, chained in order, in one transaction (one commit for the batch)."""
    kid, key = hub_key(db)
    table = MessageLog.__table__
    n = len(recs)
    with db.transaction() as session:
        # Taking the head row first serialises appenders (row lock on PostgreSQL, write lock on SQLite).
        session.execute(update(LogHead).where(LogHead.id == 1).values(seq=LogHead.seq + n))
        head = session.execute(select(LogHead.seq, LogHead.last_hash).where(LogHead.id == 1)).one_or_none()
        if head is None:
            session.add(LogHead(id=1, seq=n, last_hash=GENESIS))
            session.flush()
            head = session.execute(select(LogHead.seq, LogHead.last_hash).where(LogHead.id == 1)).one()
        seq, prev = head.seq - n, head.last_hash
        rows = []
        for rec in recs:
            seq += 1
            at = utcnow()
            fields = {k: v for k, v in rec.__dict__.items() if k in SIGNED_FIELDS}
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
        session.execute(table.insert(), rows)  # type: ignore[attr-defined]
        session.execute(update(LogHead).where(LogHead.id == 1).values(last_hash=prev))
    return rows


class Writer:
    """Group commit for the gateway: callers hand in records and wait; a thread writes whatever has
    gathered in one transaction. At concurrency 1 this is one commit per call, as before; under load one
    commit carries many entries. If the batch cannot be written every waiting call fails (closed)."""

    def __init__(self, db: Database, max_batch: int = 256):
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[Record, concurrent.futures.Future[None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="exchange-log-writer", daemon=True)
        self._thread.start()

    def submit(self, rec: Record) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put((rec, future))
        return future

    def _run(self) -> None:
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
            try:
                append_many(self.db, [rec for rec, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting call fails closed
                for _, fut in batch:
                    fut.set_exception(exc)
            else:
                for _, fut in batch:
                    fut.set_result(None)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)


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
