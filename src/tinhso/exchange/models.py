"""Exchange tables (LGSP/LDOP): services, access requests and grants, message log, pub/sub, peers, probes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    insert,
    inspect,
    true,
    update,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from tinhso.kit.db import Base, IdMixin, TimestampMixin, UTCDateTime, new_id, utcnow

CLASSIFICATIONS = ("public", "internal", "personal", "secret")
LIFECYCLE = ("draft", "published", "deprecated", "retired")
REQUEST_STATES = ("pending", "approved", "limited", "refused", "revoked")

BigId = BigInteger().with_variant(Integer, "sqlite")


class Service(Base, IdMixin, TimestampMixin):
    """A REST service a provider system publishes through the hub (X-Road service: …/<system>/<code>)."""

    __tablename__ = "exchange_service"
    __table_args__ = (UniqueConstraint("agency_code", "system_code", "code", "version"),)
    agency_code: Mapped[str] = mapped_column(String(32), index=True)
    system_code: Mapped[str] = mapped_column(String(64))
    system_id: Mapped[str] = mapped_column(ForeignKey("identity_system.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(16), default="v1")
    title_vi: Mapped[str] = mapped_column(String(255))
    title_en: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    upstream_url: Mapped[str] = mapped_column(String(500))
    health_path: Mapped[str | None] = mapped_column(String(200))
    openapi: Mapped[dict[str, Any] | None] = mapped_column()
    classification: Mapped[str] = mapped_column(String(16), default="internal")
    state: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=30.0)
    max_body_bytes: Mapped[int] = mapped_column(Integer, default=10 * 1024 * 1024)
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer, default=600)
    body_retention_days: Mapped[int] = mapped_column(Integer, default=30)
    search_text: Mapped[str] = mapped_column(Text, default="")
    available: Mapped[bool | None] = mapped_column(Boolean)
    last_probe_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessRequest(Base, IdMixin, TimestampMixin):
    """A consumer's request to use a service (or some operations), with purpose, legal basis and validity."""

    __tablename__ = "exchange_access_request"
    service_id: Mapped[str] = mapped_column(ForeignKey("exchange_service.id", ondelete="CASCADE"), index=True)
    client: Mapped[str] = mapped_column(String(200), index=True)  # member id VN/GOV/<agency>/<system>
    client_agency_code: Mapped[str] = mapped_column(String(32), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    operations: Mapped[list[Any]] = mapped_column(default=list)  # [{"method": "GET", "path": "/x/{id}"}]
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)


class Grant(Base, IdMixin, TimestampMixin):
    """An access right: client may call `method` on `path` ('*' and '**' wildcards) of a service."""

    __tablename__ = "exchange_grant"
    __table_args__ = (Index("ix_exchange_grant_lookup", "client", "service_id"),)
    service_id: Mapped[str] = mapped_column(ForeignKey("exchange_service.id", ondelete="CASCADE"))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("exchange_access_request.id"))
    client: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(8), default="*")
    path: Mapped[str] = mapped_column(String(500), default="**")
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HubKey(Base):
    """The hub's Ed25519 key: signs message-log entries, webhooks and hub-to-hub tokens."""

    __tablename__ = "exchange_hub_key"
    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_pem: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogHead(Base):
    """Head of the message-log chain (one row, locked by each appender)."""

    __tablename__ = "exchange_log_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)


class MessageLog(Base):
    """One exchange through the gateway, signed by the hub and chained to the previous entry."""

    __tablename__ = "exchange_message_log"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[str] = mapped_column(String(100), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    client: Mapped[str] = mapped_column(String(200), index=True)
    service: Mapped[str] = mapped_column(String(300), index=True)
    service_pk: Mapped[str | None] = mapped_column(String(32), index=True)
    provider_agency_code: Mapped[str | None] = mapped_column(String(32), index=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(Text)
    operation: Mapped[str | None] = mapped_column(String(520))
    status: Mapped[int] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(100))
    duration_ms: Mapped[float] = mapped_column(Float)
    upstream_ms: Mapped[float | None] = mapped_column(Float)
    request_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    response_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    request_sha256: Mapped[str] = mapped_column(String(64))
    response_sha256: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str | None] = mapped_column(String(100))
    user_id: Mapped[str | None] = mapped_column(String(200))
    issue: Mapped[str | None] = mapped_column(String(500))
    peer: Mapped[str | None] = mapped_column(String(64))
    request_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    body_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))


class Probe(Base):
    """One health probe of a provider's upstream."""

    __tablename__ = "exchange_probe"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("exchange_service.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(300))


class Peer(Base, IdMixin, TimestampMixin):
    """A federated hub (e.g. the national platform): its instance code, address and Ed25519 public key."""

    __tablename__ = "exchange_peer"
    instance: Mapped[str] = mapped_column(String(32), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))
    public_key_pem: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class EventType(Base, IdMixin, TimestampMixin):
    """An event type owned by a provider system (its "room"), with an optional JSON Schema for payloads.

    The code keeps the case it was created with (`newBirth`) and is matched exactly; it is unique in its room
    ignoring case (`uq_exchange_event_type_owner_code_ci`), so `newBirth` and `newbirth` cannot coexist."""

    __tablename__ = "exchange_event_type"
    __table_args__ = (UniqueConstraint("owner", "code"),)
    owner: Mapped[str] = mapped_column(String(200), index=True)  # member id of the publishing system
    agency_code: Mapped[str] = mapped_column(String(32), index=True)
    code: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(255))
    schema: Mapped[dict[str, Any] | None] = mapped_column()
    classification: Mapped[str] = mapped_column(String(16), default="internal")


class Subscription(Base, IdMixin, TimestampMixin):
    """A subscriber system's subscription to an event type: push to a webhook, or pull."""

    __tablename__ = "exchange_subscription"
    __table_args__ = (UniqueConstraint("event_type_id", "subscriber"),)
    event_type_id: Mapped[str] = mapped_column(ForeignKey("exchange_event_type.id", ondelete="CASCADE"))
    subscriber: Mapped[str] = mapped_column(String(200), index=True)
    subscriber_agency_code: Mapped[str] = mapped_column(String(32))
    delivery: Mapped[str] = mapped_column(String(8), default="push")  # push | pull
    endpoint: Mapped[str | None] = mapped_column(String(500))
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, active, refused, cancelled
    # Ordered delivery: an event waits for the earlier events of its key (events without a key: of the
    # subscription). Unordered: each event goes on its own, a failing one holds nothing back.
    fifo: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # An event not delivered (pushed, or pulled and acknowledged) within this many seconds of its
    # publication is not delivered any more: its delivery is `expired`. None: no limit.
    ttl_seconds: Mapped[int | None] = mapped_column(Integer)


class Event(Base):
    """A published event; `seq` orders it, `id` is the idempotency key subscribers see."""

    __tablename__ = "exchange_event"
    # The events not yet fanned out (few): ordered deliveries wait for the earlier ones of their key.
    __table_args__ = (
        Index("ix_exchange_event_fanout", "fanned_out", "seq"),
        Index("uq_exchange_event_publisher_message", "publisher", "message_id", unique=True),
    )
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    event_type_id: Mapped[str] = mapped_column(ForeignKey("exchange_event_type.id", ondelete="CASCADE"))
    publisher: Mapped[str] = mapped_column(String(200))
    key: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    message_id: Mapped[str | None] = mapped_column(String(100))  # the publisher's X-Road-Id, if it gave one


class Delivery(Base):
    """One event for one subscription: pending until delivered (push), acknowledged (pull) or dead."""

    __tablename__ = "exchange_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id"),
        Index("ix_exchange_delivery_due", "state", "next_attempt_at"),
        Index("ix_exchange_delivery_sub", "subscription_id", "state", "event_seq"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("exchange_subscription.id", ondelete="CASCADE"))
    key: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered, dead, expired
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # publication + the subscription's TTL


Index("uq_exchange_event_type_owner_code_ci", EventType.owner, func.lower(EventType.code), unique=True)


class ConfigStamp(Base):
    """A random stamp replaced whenever a grant, a service or a peer changes (in the same transaction).

    The gateway keeps grants, services and peers in memory and reads this one row on every call: a change
    made by any process empties every process's caches before its next call (a revoked grant stops at once).
    """

    __tablename__ = "exchange_config_stamp"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stamp: Mapped[str] = mapped_column(String(32), default=new_id)


def bump_stamp(connection: Connection) -> None:
    table: Any = ConfigStamp.__table__
    result = connection.execute(update(table).where(table.c.id == 1).values(stamp=new_id()))
    if not result.rowcount:  # type: ignore[attr-defined]
        connection.execute(insert(table).values(id=1, stamp=new_id()))


# Columns the health probes and the catalog's search index write: they do not change what the gateway does.
_PASSIVE = frozenset({"available", "last_probe_at", "last_success_at", "updated_at", "search_text"})


def _changed(_mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    bump_stamp(connection)


def _updated(_mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    state = inspect(target)
    if any(a.history.has_changes() for a in state.attrs if a.key not in _PASSIVE):
        bump_stamp(connection)


for _model in (Grant, Service, Peer):
    event.listen(_model, "after_insert", _changed)
    event.listen(_model, "after_delete", _changed)
    event.listen(_model, "after_update", _updated)
