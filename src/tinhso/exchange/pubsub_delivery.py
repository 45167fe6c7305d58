"""Pub/sub delivery: pushing due deliveries to webhooks, pulling and acknowledging, redelivery, expiry.

Push: one transaction leases a batch of due deliveries, the POSTs (signed with the hub's key) run outside any
transaction, one transaction records the outcomes; failures are retried with exponential backoff and full jitter
and dead-lettered after the subscription's maximum attempts. Ordered (FIFO) subscriptions deliver one event of a
key at a time, after every earlier one is delivered, dead or expired. Pull subscribers fetch the head of their
queue and acknowledge it. What is published and to whom is `pubsub`.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from tinhso.exchange import metrics, msglog, pubsub
from tinhso.exchange.models import Delivery, Event, EventType, Subscription
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import Database, utcnow
from tinhso.kit.errors import Conflict, NotFound

log = logging.getLogger("tinhso.exchange.pubsub")
LEASE = timedelta(seconds=60)
MAX_BACKOFF = 3600.0


def _backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter: uniform(0, min(cap, 2^attempts)) seconds, at least 1 s."""
    ceiling = min(MAX_BACKOFF, float(2**attempts))
    return timedelta(seconds=max(1.0, random.uniform(0, ceiling)))  # noqa: S311 - jitter, not a secret


def _held(session: Session, event_type_ids: set[str]) -> dict[tuple[str, str | None], int]:
    """(event type, key) -> the first of its events not fanned out yet, which ordered deliveries wait for.

    Notices may reach the fan-out out of order (an outbox retry, JetStream redelivery): without this, a
    later event could be delivered before an earlier one of its key has a delivery at all."""
    if not event_type_ids:
        return {}
    rows = session.execute(
        select(Event.event_type_id, Event.key, func.min(Event.seq))
        .where(
            Event.fanned_out.is_(False),
            Event.cancelled.is_(False),
            Event.event_type_id.in_(event_type_ids),
        )
        .group_by(Event.event_type_id, Event.key)
    ).all()
    return {(r[0], r[1]): r[2] for r in rows}


def expire_due(session: Session, *, subscription_id: str | None = None, event_id: str | None = None) -> int:
    """Mark as expired the pending deliveries whose time ran out (none that a worker is pushing now)."""
    now = utcnow()
    stmt = update(Delivery).where(
        Delivery.state == "pending", Delivery.expires_at <= now, Delivery.next_attempt_at <= now
    )
    if subscription_id is not None:
        stmt = stmt.where(Delivery.subscription_id == subscription_id)
    if event_id is not None:
        stmt = stmt.where(Delivery.event_id == event_id)
    gone = int(getattr(session.execute(stmt.values(state="expired")), "rowcount", 0) or 0)
    if gone:
        metrics.EVENTS.labels("expired").inc(gone)
    return gone


def _plan(
    rows: Sequence[Any], held: dict[tuple[str, str | None], int], now: datetime, batch: int
) -> tuple[list[int], list[int]]:
    """The deliveries to push now, in order, and those whose time ran out (which hold no lane back)."""
    waiting: set[tuple[str, str | None]] = set()
    plan: list[int] = []
    expired: list[int] = []
    for row in rows:
        due = row.next_attempt_at <= now
        if due and row.expires_at is not None and row.expires_at <= now:
            expired.append(row.id)
            continue
        lane = (row.subscription_id, row.key)
        if row.fifo:
            if lane in waiting:
                continue
            first = held.get((row.event_type_id, row.key))
            if not due or (first is not None and first < row.event_seq):
                waiting.add(lane)  # the next events of this lane wait for this one (or an earlier one)
                continue
        elif not due:
            continue
        plan.append(row.id)
        if len(plan) >= batch:
            break
    return plan, expired


def deliver_due(db: Database, http: httpx.Client, batch: int = 100) -> int:
    """Push the deliveries that are due; returns how many succeeded.

    One transaction leases the batch, the POSTs run outside any transaction, one transaction records
    the outcomes. For an ordered (FIFO) subscription, a failure stops its lane for this round and the rest
    of the lane is released; an unordered one sends every due event on its own. Deliveries whose time ran
    out are marked expired, never sent."""
    now = utcnow()
    with db.transaction(write=False) as s:
        rows = s.execute(
            select(
                Delivery.id,
                Delivery.subscription_id,
                Delivery.key,
                Delivery.event_seq,
                Delivery.next_attempt_at,
                Delivery.expires_at,
                Subscription.fifo,
                Subscription.event_type_id,
            )
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(
                Delivery.state == "pending", Subscription.delivery == "push", Subscription.state == "active"
            )
            .order_by(Delivery.event_seq)
            .limit(batch * 4)
        ).all()
        held = _held(s, {r.event_type_id for r in rows if r.fifo})
    plan, expired = _plan(rows, held, now, batch)
    if not plan and not expired:
        return 0
    lease = now + LEASE + timedelta(microseconds=random.randint(1, 999_999))  # noqa: S311 - a claim tag
    work: list[dict[str, Any]] = []
    with db.transaction() as s:
        if expired:
            result = s.execute(
                update(Delivery)
                .where(Delivery.id.in_(expired), Delivery.state == "pending", Delivery.next_attempt_at <= now)
                .values(state="expired")
            )
            metrics.EVENTS.labels("expired").inc(int(getattr(result, "rowcount", 0) or 0))
        if not plan:
            return 0
        s.execute(
            update(Delivery)
            .where(Delivery.id.in_(plan), Delivery.state == "pending", Delivery.next_attempt_at <= now)
            .values(next_attempt_at=lease)
        )
        claimed = {
            d.id: d
            for d in s.scalars(select(Delivery).where(Delivery.id.in_(plan)))
            if d.next_attempt_at == lease
        }
        events = {
            e.id: e
            for e in s.scalars(select(Event).where(Event.id.in_({d.event_id for d in claimed.values()})))
        }
        subs = {
            x.id: x
            for x in s.scalars(
                select(Subscription).where(Subscription.id.in_({d.subscription_id for d in claimed.values()}))
            )
        }
        types = {
            t.id: t
            for t in s.scalars(
                select(EventType).where(EventType.id.in_({e.event_type_id for e in events.values()}))
            )
        }
        for delivery_id in plan:
            d = claimed.get(delivery_id)
            if d is None:
                continue
            event, sub = events.get(d.event_id), subs.get(d.subscription_id)
            et = types.get(event.event_type_id) if event else None
            if event is None or sub is None or et is None or not sub.endpoint:
                continue
            body = json.dumps(pubsub.envelope(event, et), ensure_ascii=False, separators=(",", ":")).encode()
            work.append(
                {
                    "id": d.id,
                    "lane": (d.subscription_id, d.key),
                    "fifo": sub.fifo,
                    "event_id": d.event_id,
                    "endpoint": sub.endpoint,
                    "body": body,
                    "attempts": d.attempts,
                    "max": sub.max_attempts,
                }
            )
    failed: set[tuple[str, str | None]] = set()
    for item in work:
        if item["fifo"] and item["lane"] in failed:
            item["outcome"] = "release"
            continue
        item["status"], item["error"] = _post(db, http, item)
        item["outcome"] = "ok" if item["error"] is None else "fail"
        if item["error"] is not None:
            failed.add(item["lane"])
    ok = 0
    with db.transaction() as s:
        for item in work:
            d = s.get(Delivery, item["id"])
            if d is None or d.state != "pending":
                continue
            if item["outcome"] == "release":
                d.next_attempt_at = utcnow()
                continue
            d.attempts = item["attempts"] + 1
            d.last_status, d.last_error = item["status"], item["error"]
            if item["outcome"] == "ok":
                d.state, d.delivered_at = "delivered", utcnow()
                metrics.EVENTS.labels("delivered").inc()
                ok += 1
            elif d.attempts >= item["max"]:
                d.state = "dead"
                metrics.EVENTS.labels("dead").inc()
            elif d.expires_at is not None and utcnow() + _backoff(d.attempts) >= d.expires_at:
                d.state = "expired"  # the next try would come after the event's time ran out
                metrics.EVENTS.labels("expired").inc()
            else:
                d.next_attempt_at = utcnow() + _backoff(d.attempts)
                metrics.EVENTS.labels("retry").inc()
    return ok


def _post(db: Database, http: httpx.Client, item: dict[str, Any]) -> tuple[int | None, str | None]:
    kid, sig = msglog.sign(db, item["body"])
    try:
        resp = http.post(
            item["endpoint"],
            content=item["body"],
            headers={
                "Content-Type": "application/json",
                "X-Tinhso-Event-Id": item["event_id"],
                "X-Tinhso-Signature": f"ed25519 kid={kid} sig={sig}",
            },
        )
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if not 200 <= resp.status_code < 300:
        return resp.status_code, f"HTTP {resp.status_code}"
    return resp.status_code, None


def pull(session: Session, principal: Principal, sub_id: str) -> dict[str, Any] | None:
    sub, et = pubsub.get_subscription(session, principal, sub_id)
    pubsub.subscriber_side(principal, sub)
    if sub.delivery != "pull" or sub.state != "active":
        raise Conflict("not_pull", "This is not an active pull subscription")
    expire_due(session, subscription_id=sub.id)
    held = _held(session, {et.id}) if sub.fifo else {}
    head = (
        select(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.state == "pending")
        .order_by(Delivery.event_seq)
    )
    # The oldest waiting event whose key has no earlier event still to be fanned out (usually the head).
    d = next(
        (
            x
            for x in session.scalars(head.limit(100 if held else 1))
            if held.get((et.id, x.key), x.event_seq + 1) > x.event_seq
        ),
        None,
    )
    if d is None:
        return None
    d.attempts += 1
    event = session.scalar(select(Event).where(Event.id == d.event_id))
    assert event is not None
    return pubsub.envelope(event, et)


def ack(session: Session, principal: Principal, sub_id: str, event_id: str) -> None:
    sub, _ = pubsub.get_subscription(session, principal, sub_id)
    pubsub.subscriber_side(principal, sub)
    expire_due(session, subscription_id=sub.id, event_id=event_id)
    d = session.scalar(
        select(Delivery).where(Delivery.subscription_id == sub.id, Delivery.event_id == event_id)
    )
    if d is None:
        raise NotFound("delivery_not_found", "Delivery not found")
    if d.state == "expired":
        raise Conflict("event_expired", "The event expired before it was acknowledged")
    if d.state == "pending":
        d.state, d.delivered_at = "delivered", utcnow()
        metrics.EVENTS.labels("delivered").inc()


def redeliver(session: Session, principal: Principal, delivery_id: int) -> Delivery:
    d = session.get(Delivery, delivery_id)
    if d is None:
        raise NotFound("delivery_not_found", "Delivery not found")
    sub, _ = pubsub.get_subscription(session, principal, d.subscription_id)
    pubsub.subscriber_side(principal, sub)
    if d.state == "pending":
        raise Conflict("delivery_pending", "The delivery is still pending")
    d.state, d.attempts, d.next_attempt_at, d.last_error = "pending", 0, utcnow(), None
    # Asked for again: a fresh time-to-live from now.
    d.expires_at = utcnow() + timedelta(seconds=sub.ttl_seconds) if sub.ttl_seconds else None
    session.flush()
    audit.record(session, "exchange.delivery.redeliver", object_type="exchange_delivery", object_id=str(d.id))
    return d


def deliveries_statement(
    session: Session, principal: Principal, sub_id: str, state: str | None
) -> Select[Any]:
    sub, _ = pubsub.get_subscription(session, principal, sub_id)
    expire_due(session, subscription_id=sub.id)
    stmt = select(Delivery).where(Delivery.subscription_id == sub.id).order_by(Delivery.event_seq)
    if state:
        stmt = stmt.where(Delivery.state == state)
    return stmt


def event_status(
    session: Session, principal: Principal, event_id: str
) -> tuple[Event, EventType, list[Delivery]]:
    event = session.scalar(select(Event).where(Event.id == event_id))
    et = session.get(EventType, event.event_type_id) if event else None
    if (
        event is None
        or et is None
        or not (principal.is_platform_admin or principal.agency_code == et.agency_code)
    ):
        raise NotFound("event_not_found", "Event not found")
    expire_due(session, event_id=event.id)
    deliveries = list(
        session.scalars(select(Delivery).where(Delivery.event_id == event.id).order_by(Delivery.id))
    )
    return event, et, deliveries
