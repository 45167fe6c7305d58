"""The message log: one entry per exchange, hash-chained and signed by the hub's Ed25519 key.

Entries are appended by one writer thread per process in short transactions, serialised by the head row.
Bodies are kept only for services not classified personal/secret, and only until their retention ends;
purging a body keeps its SHA-256, so the chain still verifies. `verify` walks the chain and the signatures.
"""

from __future__ import annotations

import base64
import hashlib
import json
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
