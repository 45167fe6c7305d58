"""Transactional outbox and the in-process event bus.

A module publishes an event in the same transaction as the change it describes (`publish`). The
dispatcher (in the API process, or `tinhso worker`) later hands each event to the in-process
subscribers and to the external bus, if one is configured (NATS JetStream, see the exchange module).
Delivery is at least once; in-process subscribers are exactly-once in effect because the delivery mark
is written in the subscriber's own transaction.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from tinhso.kit.context import request_id_var
from tinhso.kit.db import Base, Database, UTCDateTime, new_id, utcnow

log = logging.getLogger("tinhso.events")


class OutboxEvent(Base):
    """An event waiting for (or done with) delivery."""

    __tablename__ = "kit_outbox"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    topic: Mapped[str] = mapped_column(String(128), index=True)
    key: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventDelivery(Base):
    """Marks that one in-process subscriber has handled one event."""

    __tablename__ = "kit_event_delivery"
    __table_args__ = (UniqueConstraint("event_id", "subscriber"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(32))
    subscriber: Mapped[str] = mapped_column(String(128))
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class Event:
    event_id: str
    topic: str
    key: str | None
    payload: dict[str, Any]
    headers: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, row: OutboxEvent) -> Event:
        return cls(
            row.event_id, row.topic, row.key, dict(row.payload), dict(row.headers or {}), row.created_at
        )


Handler = Callable[[Session, Event], None]


class ExternalBus(Protocol):
    """A broker that receives every event after the in-process subscribers (e.g. NATS JetStream)."""

    def publish(self, event: Event) -> None: ...


@dataclass
class _Subscriber:
    name: str
    pattern: str
    handler: Handler


@dataclass
class Bus:
    subscribers: list[_Subscriber] = field(default_factory=list)
    external: ExternalBus | None = None

    def subscribe(self, pattern: str, name: str, handler: Handler) -> None:
        """Register `handler` for topics matching the glob `pattern` (e.g. 'procedures.dossier.*')."""
        self.subscribers = [s for s in self.subscribers if s.name != name]
        self.subscribers.append(_Subscriber(name, pattern, handler))

    def matching(self, topic: str) -> list[_Subscriber]:
        return [s for s in self.subscribers if fnmatch.fnmatchcase(topic, s.pattern)]


bus = Bus()


def publish(session: Session, topic: str, payload: dict[str, Any], key: str | None = None) -> str:
    """Record an event in the caller's transaction; returns its id (the consumers' idempotency key)."""
    row = OutboxEvent(topic=topic, key=key, payload=payload, headers={"request_id": request_id_var.get()})
    session.add(row)
    session.flush()
    return row.event_id


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2 ** min(attempts, 8)))


def _deliver(db: Database, sub: _Subscriber, event: Event) -> None:
    with db.transaction() as session:
        done = session.scalar(
            select(EventDelivery.id).where(
                EventDelivery.event_id == event.event_id, EventDelivery.subscriber == sub.name
            )
        )
        if done:
            return
        session.add(EventDelivery(event_id=event.event_id, subscriber=sub.name))
        session.flush()
        sub.handler(session, event)


def _claim(db: Database, batch: int, lease: timedelta) -> list[Event]:
    """Lease the due events, oldest first, keeping order per key; a short transaction of its own."""
    now = utcnow()
    with db.transaction() as session:
        stmt = (
            select(OutboxEvent)
            .where(
                OutboxEvent.published_at.is_(None),
                OutboxEvent.available_at <= now,
                or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now),
            )
            .order_by(OutboxEvent.seq)
            .limit(batch)
        )
        if db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(session.scalars(stmt))
        keys = {r.key for r in rows if r.key is not None}
        first_pending: dict[str, int] = {}
        if keys:
            pending = session.execute(
                select(OutboxEvent.key, func.min(OutboxEvent.seq))
                .where(OutboxEvent.published_at.is_(None), OutboxEvent.key.in_(keys))
                .group_by(OutboxEvent.key)
            )
            first_pending = {str(k): int(v) for k, v in pending}
        taken = {r.seq for r in rows}
        claimed: list[Event] = []
        blocked: set[str] = set()
        for row in rows:
            # An earlier event of the same key that is not ours (waiting to retry, or leased by another
            # dispatcher) must go first.
            if row.key is not None and (
                row.key in blocked or first_pending.get(row.key, row.seq) not in taken
            ):
                blocked.add(row.key)
                continue
            row.claimed_until = now + lease
            claimed.append(Event.of(row))
    return claimed


def _settle(db: Database, event_id: str, error: str | None) -> None:
    with db.transaction() as session:
        row = session.scalar(select(OutboxEvent).where(OutboxEvent.event_id == event_id))
        if row is None:
            return
        row.attempts += 1
        row.claimed_until = None
        if error is None:
            row.published_at = utcnow()
        else:
            row.last_error = error[:2000]
            row.available_at = utcnow() + _backoff(row.attempts)


def dispatch_once(
    db: Database, batch: int = 200, the_bus: Bus | None = None, lease_seconds: float = 60
) -> int:
    """Deliver the due events, oldest first; returns how many were completed.

    Each subscriber runs in its own transaction, outside the claim, so a slow or failing subscriber never
    holds a lock on the outbox.
    """
    the_bus = the_bus or bus
    done = 0
    failed_keys: set[str] = set()
    for event in _claim(db, batch, timedelta(seconds=lease_seconds)):
        if event.key is not None and event.key in failed_keys:
            _release(db, event.event_id)
            continue
        try:
            for sub in the_bus.matching(event.topic):
                with contextlib.suppress(IntegrityError):  # another dispatcher delivered it first
                    _deliver(db, sub, event)
            if the_bus.external is not None:
                the_bus.external.publish(event)
        except Exception as exc:  # noqa: BLE001 - one failing subscriber must not stop the others
            log.warning("event delivery failed", extra={"event_id": event.event_id, "error": str(exc)})
            _settle(db, event.event_id, str(exc) or type(exc).__name__)
            if event.key is not None:
                failed_keys.add(event.key)
            continue
        _settle(db, event.event_id, None)
        done += 1
    return done


def _release(db: Database, event_id: str) -> None:
    with db.transaction() as session:
        row = session.scalar(select(OutboxEvent).where(OutboxEvent.event_id == event_id))
        if row is not None:
            row.claimed_until = None


def outbox_lag(session: Session) -> dict[str, Any]:
    """How many events wait, and the age in seconds of the oldest (for /readyz and metrics)."""
    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.published_at.is_(None))
    ).one()
    age = 0.0
    if oldest is not None:
        if oldest.tzinfo is None:
            from datetime import UTC

            oldest = oldest.replace(tzinfo=UTC)
        age = max(0.0, (utcnow() - oldest).total_seconds())
    return {"pending": int(pending or 0), "oldest_age_seconds": round(age, 3)}


class Dispatcher:
    """Runs dispatch_once in a background thread until stopped."""

    def __init__(self, db: Database, poll_seconds: float = 0.5):
        self.db = db
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="tinhso-dispatcher", daemon=True)
        self._thread.start()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                n = dispatch_once(self.db)
            except Exception:  # noqa: BLE001 - keep dispatching after a database hiccup
                log.exception("dispatcher error")
                n = 0
            if n == 0:
                self._stop.wait(self.poll_seconds)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def wait_until_dispatched(db: Database, timeout: float = 10.0) -> None:
    """Dispatch until nothing is due (tests and CLI commands that need the effects now)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dispatch_once(db) == 0:
            return
