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

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint, func, select
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


def dispatch_once(db: Database, batch: int = 200, the_bus: Bus | None = None) -> int:
    """Deliver the due events, oldest first; returns how many were completed."""
    the_bus = the_bus or bus
    done = 0
    with db.transaction() as session:
        stmt = (
            select(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None), OutboxEvent.available_at <= utcnow())
            .order_by(OutboxEvent.seq)
            .limit(batch)
        )
        if db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(session.scalars(stmt))
        blocked_keys: set[str] = set()
        for row in rows:
            # Keep order per key: once an event of a key fails, later events of that key wait.
            if row.key is not None and row.key in blocked_keys:
                continue
            event = Event.of(row)
            try:
                for sub in the_bus.matching(row.topic):
                    with contextlib.suppress(IntegrityError):  # another dispatcher delivered it first
                        _deliver(db, sub, event)
                if the_bus.external is not None:
                    the_bus.external.publish(event)
            except Exception as exc:  # noqa: BLE001 - one failing subscriber must not stop the others
                log.warning("event delivery failed", extra={"event_id": row.event_id, "error": str(exc)})
                row.attempts += 1
                row.last_error = str(exc)[:2000]
                row.available_at = utcnow() + _backoff(row.attempts)
                if row.key is not None:
                    blocked_keys.add(row.key)
                continue
            row.published_at = utcnow()
            row.attempts += 1
            done += 1
    return done


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
