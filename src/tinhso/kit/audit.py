"""Audit log (nhật ký): append-only, hash-chained entries for every write, sign-in and personal-data read."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from tinhso.kit.context import principal_var, request_id_var
from tinhso.kit.db import Base, UTCDateTime, utcnow

GENESIS = "0" * 64


class AuditHead(Base):
    """The chain's head: one row, locked by each appender so entries are chained in commit order."""

    __tablename__ = "kit_audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)


class AuditEntry(Base):
    """One audited action: who (person or system, agency), what, on which object, why, and the outcome."""

    __tablename__ = "kit_audit_entry"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64), index=True)
    system_id: Mapped[str | None] = mapped_column(String(64))
    agency_code: Mapped[str | None] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(128), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    purpose: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


_FIELDS = [
    "seq",
    "actor_type",
    "actor_id",
    "system_id",
    "agency_code",
    "action",
    "object_type",
    "object_id",
    "subject_id",
    "purpose",
    "request_id",
    "outcome",
]


def entry_digest(entry: AuditEntry, prev_hash: str) -> str:
    """SHA-256 over the previous hash and a canonical form of the entry."""
    doc = {name: getattr(entry, name) for name in _FIELDS}
    doc["at"] = entry.at.isoformat(timespec="microseconds")
    doc["detail"] = entry.detail or {}
    doc["prev_hash"] = prev_hash
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _ensure_head(session: Session) -> None:
    if session.get(AuditHead, 1) is None:
        session.add(AuditHead(id=1, seq=0, last_hash=GENESIS))
        session.flush()


def record(
    session: Session,
    action: str,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    subject_id: str | None = None,
    purpose: str | None = None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
    actor: Any = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction; the actor defaults to the request's principal.

    `subject_id` names the person whose personal data was read, so that person can see the log.
    """
    actor = actor if actor is not None else principal_var.get()
    _ensure_head(session)
    # Locking the head row serialises appenders (row lock on PostgreSQL, write lock on SQLite).
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = session.execute(select(AuditHead.seq, AuditHead.last_hash).where(AuditHead.id == 1)).one()
    entry = AuditEntry(
        seq=head.seq,
        at=utcnow(),
        actor_type=getattr(actor, "kind", None) or "anonymous",
        actor_id=getattr(actor, "id", None),
        system_id=getattr(actor, "system_id", None),
        agency_code=getattr(actor, "agency_code", None),
        action=action,
        object_type=object_type,
        object_id=object_id,
        subject_id=subject_id,
        purpose=purpose,
        request_id=request_id_var.get(),
        outcome=outcome,
        detail=detail or {},
        prev_hash=head.last_hash,
    )
    entry.hash = entry_digest(entry, head.last_hash)
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=entry.hash))
    session.flush()
    return entry


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str | None = None


def _entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
            )
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify(session: Session) -> VerifyResult:
    """Walk the chain; name the first entry that was altered, removed or reordered."""
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    for entry in _entries(session):
        if entry.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev_hash:
            return VerifyResult(False, checked, entry.seq, "previous-hash link does not match")
        if entry_digest(entry, prev_hash) != entry.hash:
            return VerifyResult(False, checked, entry.seq, "content does not match its hash")
        prev_hash, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != checked or head.last_hash != prev_hash):
        return VerifyResult(False, checked, checked + 1, "entries after the last one found were removed")
    return VerifyResult(True, checked)
