"""Pub/sub (the LDOP distribution part, after the GovStack Information Mediator pub/sub API).

A provider system owns event types. Publishing stores the event and puts a notice in the transactional
outbox (kit.events) in the same transaction; the notice reaches the fan-out either in process (database
backend) or through NATS JetStream (TINHSO_BUS_URL=nats://…), which creates one delivery per active
subscription, idempotently. Push deliveries are POSTed to the subscriber's webhook, signed with the hub's
Ed25519 key, retried with exponential backoff and full jitter, dead-lettered after the subscription's
maximum attempts and redelivered on request; pull subscribers fetch the head of their queue and
acknowledge it. A subscription's options (the GovStack SubscriptionItem `options`): `fifo` keeps the order
of publication per (subscription, key), events without a key forming one sequence of the subscription: a
later event waits until the earlier one is delivered, dead or expired, and until it has been fanned out at
all (notices may reach the fan-out out of order); `ttl_seconds` bounds how long after its publication an
event may still be delivered: past that its delivery is `expired` and it is not sent.

This module: event types, subscriptions, publishing and the fan-out; pushing, pulling and expiry are in
`pubsub_delivery`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import jsonschema
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tinhso.exchange import metrics
from tinhso.exchange.access import caller_member
from tinhso.exchange.ids import parse_member
from tinhso.exchange.models import Delivery, Event, EventType, Subscription
from tinhso.exchange.schemas import EventTypeCreate, PublishRequest, SubscriptionCreate
from tinhso.identity import repository as identity_repo
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit import events as kit_events
from tinhso.kit.db import utcnow
from tinhso.kit.errors import Conflict, Forbidden, NotFound, Unprocessable

log = logging.getLogger("tinhso.exchange.pubsub")
TOPIC = "exchange.pubsub.event"


def _is_admin_of(principal: Principal, agency: str) -> bool:
    return principal.is_platform_admin or (
        not principal.is_system and principal.agency_code == agency and "agency_admin" in principal.roles
    )


def _acts_for(session: Session, principal: Principal, system_code: str) -> str:
    """The member id of `system_code` of the caller's agency, if the caller may act for it."""
    agency = principal.agency_code or ""
    system = identity_repo.get_system_by_code(session, agency, system_code)
    if system is None:
        raise NotFound("system_not_found", "Information system {code} not found", code=system_code)
    if principal.is_system and principal.system_id != system.id:
        raise Forbidden("not_your_system", "You may only act for your own agency's systems")
    if not principal.is_system and not _is_admin_of(principal, agency):
        raise Forbidden("role_required", "This needs one of the roles: {roles}", roles="agency_admin")
    return caller_member(session, principal, f"{_local(agency, system.code)}")[0]


def _local(agency: str, code: str) -> str:
    from tinhso.exchange.ids import local_member

    return str(local_member(agency, code))


def create_event_type(session: Session, principal: Principal, data: EventTypeCreate) -> EventType:
    owner = _acts_for(session, principal, data.system_code)
    if data.schema_ is not None:
        try:
            jsonschema.Draft202012Validator.check_schema(data.schema_)
        except jsonschema.SchemaError as exc:
            raise Unprocessable(
                "schema_invalid", "The JSON Schema is not valid: {error}", error=exc.message
            ) from exc
    existing = session.scalar(
        select(EventType.code).where(
            EventType.owner == owner, func.lower(EventType.code) == data.code.lower()
        )
    )
    if existing is not None:  # unique ignoring case: newBirth and newbirth would be two names for one thing
        raise Conflict("event_type_exists", "Event type {code} already exists", code=existing)
    et = EventType(
        owner=owner,
        agency_code=principal.agency_code or "",
        code=data.code,
        title=data.title,
        schema=data.schema_,
        classification=data.classification,
    )
    session.add(et)
    session.flush()
    audit.record(
        session,
        "exchange.event_type.create",
        object_type="exchange_event_type",
        object_id=et.id,
        detail={"owner": owner, "code": data.code},
    )
    return et


def get_event_type(session: Session, event_type_id: str) -> EventType:
    et = session.get(EventType, event_type_id)
    if et is None:
        raise NotFound("event_type_not_found", "Event type not found")
    return et


def subscribe(session: Session, principal: Principal, data: SubscriptionCreate) -> Subscription:
    et = get_event_type(session, data.event_type_id)
    subscriber = _acts_for(session, principal, data.system_code)
    if data.delivery == "push" and data.endpoint is None:
        raise Unprocessable("endpoint_required", "A push subscription needs a webhook endpoint")
    existing = session.scalar(
        select(Subscription).where(Subscription.event_type_id == et.id, Subscription.subscriber == subscriber)
    )
    if existing is not None and existing.state in ("pending", "active"):
        raise Conflict("already_subscribed", "This system already subscribes to the event type")
    sub = existing or Subscription(event_type_id=et.id, subscriber=subscriber)
    sub.subscriber_agency_code = principal.agency_code or ""
    sub.delivery, sub.endpoint, sub.max_attempts = (
        data.delivery,
        str(data.endpoint) if data.endpoint else None,
        data.max_attempts,
    )
    sub.fifo, sub.ttl_seconds = data.fifo, data.ttl_seconds
    # The owner of the event type decides who receives it; its own agency's systems need no approval.
    sub.state = "active" if sub.subscriber_agency_code == et.agency_code else "pending"
    session.add(sub)
    session.flush()
    audit.record(
        session,
        "exchange.subscription.create",
        object_type="exchange_subscription",
        object_id=sub.id,
        detail={"event_type": et.id, "subscriber": subscriber, "state": sub.state},
    )
    return sub


def subscriptions_statement(principal: Principal) -> Select[Any]:
    stmt = select(Subscription).join(EventType, EventType.id == Subscription.event_type_id)
    if not principal.is_platform_admin:
        stmt = stmt.where(
            or_(
                Subscription.subscriber_agency_code == principal.agency_code,
                EventType.agency_code == principal.agency_code,
            )
        )
    if principal.is_system:
        stmt = stmt.where(
            or_(
                Subscription.subscriber.like(f"%/{principal.agency_code}/%"),
                EventType.agency_code == principal.agency_code,
            )
        )
    return stmt.order_by(Subscription.created_at)


def get_subscription(session: Session, principal: Principal, sub_id: str) -> tuple[Subscription, EventType]:
    sub = session.get(Subscription, sub_id)
    et = session.get(EventType, sub.event_type_id) if sub else None
    if (
        sub is None
        or et is None
        or not (
            principal.is_platform_admin
            or principal.agency_code in (sub.subscriber_agency_code, et.agency_code)
        )
    ):
        raise NotFound("subscription_not_found", "Subscription not found")
    return sub, et


def subscriber_side(principal: Principal, sub: Subscription) -> None:
    member = parse_member(sub.subscriber)
    if principal.is_platform_admin or _is_admin_of(principal, member.agency):
        return
    if principal.is_system and principal.agency_code == member.agency:
        return
    raise Forbidden("not_subscriber", "Only the subscriber can do this")


def decide_subscription(session: Session, principal: Principal, sub_id: str, approve: bool) -> Subscription:
    sub, et = get_subscription(session, principal, sub_id)
    if not _is_admin_of(principal, et.agency_code):
        raise Forbidden("not_event_owner", "Only the event type owner's administrator can do this")
    if sub.state != "pending":
        raise Conflict("already_decided", "The request was already decided ({state})", state=sub.state)
    sub.state = "active" if approve else "refused"
    session.flush()
    audit.record(
        session, f"exchange.subscription.{sub.state}", object_type="exchange_subscription", object_id=sub.id
    )
    return sub


def cancel_subscription(session: Session, principal: Principal, sub_id: str) -> Subscription:
    sub, et = get_subscription(session, principal, sub_id)
    if not _is_admin_of(principal, et.agency_code):
        subscriber_side(principal, sub)
    sub.state = "cancelled"
    session.flush()
    audit.record(
        session, "exchange.subscription.cancel", object_type="exchange_subscription", object_id=sub.id
    )
    return sub


_VALIDATORS: dict[tuple[str, Any], jsonschema.Draft202012Validator] = {}


def _validator(et: EventType) -> jsonschema.Draft202012Validator:
    """The event type's payload validator, built once per version of the event type (not per publish)."""
    key = (et.id, et.updated_at)
    validator = _VALIDATORS.get(key)
    if validator is None:
        if len(_VALIDATORS) > 1000:
            _VALIDATORS.clear()
        validator = _VALIDATORS[key] = jsonschema.Draft202012Validator(et.schema)
    return validator


def publish(
    session: Session,
    principal: Principal,
    event_type_id: str,
    data: PublishRequest,
    message_id: str | None = None,
) -> Event:
    """Store the event and its notice. With the publisher's `message_id` (X-Road-Id), a retry of a publish
    that did commit returns that event instead of storing a second one."""
    et = get_event_type(session, event_type_id)
    owner = parse_member(et.owner)
    if principal.is_system:
        if principal.agency_code != owner.agency:
            raise Forbidden("not_event_owner", "Only the event type's owner system may publish")
        system = identity_repo.get_system(session, principal.system_id or "")
        if system is None or system.code != owner.system or not principal.has_scope("exchange"):
            raise Forbidden("not_event_owner", "Only the event type's owner system may publish")
    elif not _is_admin_of(principal, owner.agency):
        raise Forbidden("not_event_owner", "Only the event type's owner system may publish")
    if et.schema:
        errors = sorted(_validator(et).iter_errors(data.event), key=lambda e: e.path)
        if errors:
            raise Unprocessable(
                "event_invalid", "The event does not match its schema: {error}", error=errors[0].message[:300]
            )
    if message_id is not None and (done := _published_as(session, et, message_id)) is not None:
        return done
    event = Event(
        event_type_id=et.id, publisher=et.owner, key=data.key, payload=data.event, message_id=message_id
    )
    if message_id is None:
        session.add(event)
        session.flush()
    else:
        try:
            with session.begin_nested():  # the same retry arriving twice at once: the unique index decides
                session.add(event)
        except IntegrityError:
            done = _published_as(session, et, message_id)
            if done is None:
                raise
            return done
    kit_events.publish(session, TOPIC, {"event_id": event.id, "event_type_id": et.id}, key=data.key)
    metrics.EVENTS.labels("published").inc()
    return event


def _published_as(session: Session, et: EventType, message_id: str) -> Event | None:
    """The event this publisher already stored under `message_id` (X-Road-Id), if any; the id used for an
    event of another type is a conflict."""
    done = session.scalar(select(Event).where(Event.publisher == et.owner, Event.message_id == message_id))
    if done is not None and done.event_type_id != et.id:
        raise Conflict(
            "message_id_reused", "The message id {id} was already used for another event", id=message_id
        )
    return done


def fan_out(session: Session, event_id: str) -> int:
    """One delivery per active subscription; safe to run twice for the same event."""
    event = session.scalar(select(Event).where(Event.id == event_id))
    if event is None or event.cancelled:
        return 0
    subs = list(
        session.scalars(
            select(Subscription).where(
                Subscription.event_type_id == event.event_type_id, Subscription.state == "active"
            )
        )
    )
    have = set(session.scalars(select(Delivery.subscription_id).where(Delivery.event_id == event.id)))
    made, now = 0, utcnow()
    for sub in subs:
        if sub.id in have:
            continue
        expires = event.published_at + timedelta(seconds=sub.ttl_seconds) if sub.ttl_seconds else None
        late = expires is not None and expires <= now  # the notice came after the event's time ran out
        session.add(
            Delivery(
                event_id=event.id,
                event_seq=event.seq,
                subscription_id=sub.id,
                key=event.key,
                next_attempt_at=now,
                expires_at=expires,
                state="expired" if late else "pending",
            )
        )
        if late:
            metrics.EVENTS.labels("expired").inc()
        made += 1
    event.fanned_out = True
    session.flush()
    return made


def on_outbox_event(session: Session, ev: kit_events.Event) -> None:
    """Database backend: the outbox dispatcher hands the notice to the fan-out in process."""
    fan_out(session, ev.payload["event_id"])


def envelope(event: Event, et: EventType) -> dict[str, Any]:
    return {
        "id": event.id,
        "sequence": event.seq,
        "eventType": et.code,
        "publisherId": event.publisher,
        "key": event.key,
        "publishedAt": event.published_at.isoformat(),
        "event": event.payload,
    }
