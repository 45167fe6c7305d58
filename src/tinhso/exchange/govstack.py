"""Pub/sub at the paths of the GovStack Information Mediator pub/sub API (v2), under the gateway.

The room is the publishing system: `/r1/{instance}/{class}/{member}/{system}` followed by
`/api/v1/eventType[/{eventType}]` (the room's event types), `/pub/v1/{eventType}[/{eventId}]` (publish,
status, stop), `/api/v1/subs[/{eventType}]` (the caller's subscriptions) and `/pull/v1/{eventType}[/{eventId}]`
(next unacknowledged event, acknowledgement). The caller is the system named in `X-GovStack-Client` (or
`X-Road-Client`) and proven by its bearer token, as for any call through the gateway. Every operation and
its signed message-log entry are written in one transaction: if the entry cannot be written, nothing was
done and the caller gets `500 Server.ClientProxy.LoggingFailed` (a retry is safe). The rules are those of
`pubsub` (the room's owner publishes; a system of another agency subscribes pending the owner agency's
approval). Event type codes keep their case (`newBirth`) and are matched exactly; a room cannot hold two
codes that differ only in case. A subscription's `options` are the specification's `TTL` (seconds, default
3600) and `FIFO` (default false), plus this hub's `maxAttempts`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any
from urllib.parse import unquote

from pydantic import ValidationError
from sqlalchemy import select, update

from tinhso.exchange import admission, metrics, msglog, pubsub, pubsub_delivery
from tinhso.exchange.ids import MemberId, parse_member
from tinhso.exchange.models import Delivery, Event, EventType, Subscription
from tinhso.exchange.schemas import EventTypeCreate, GovStackOptions, PublishRequest, SubscriptionCreate
from tinhso.exchange.xroad import Call, GatewayError, logging_failed, parse_ident
from tinhso.identity.auth import principal_from_claims
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.errors import DomainError

log = logging.getLogger("tinhso.exchange.gateway")
MAX_BODY = 1024 * 1024
NO_CONTENT = object()

TYPES = {
    400: "Client.BadRequest",
    401: "Client.Unauthorized",
    403: "Client.Forbidden",
    404: "Server.ServerProxy.UnknownEvent",
    409: "Client.Conflict",
    422: "Client.BadRequest",
}


def _member_dict(member: str) -> dict[str, str]:
    m = parse_member(member)
    return {
        "instanceId": m.instance,
        "memberClass": m.member_class,
        "memberCode": m.agency,
        "applicationCode": m.system,
    }


def _event_item(event: Event, et: EventType) -> dict[str, Any]:
    return {
        "id": event.id,
        "sequence": event.seq,
        "publisherId": _member_dict(event.publisher),
        "eventType": et.code,
        "event": event.payload,
        "key": event.key,
        "publishedAt": event.published_at.isoformat(),
    }


def _subscription_item(sub: Subscription, et: EventType) -> dict[str, Any]:
    return {
        "id": sub.id,
        "subscriberId": _member_dict(sub.subscriber),
        "eventType": et.code,
        "delivery": sub.delivery.upper(),
        "state": sub.state,
        "endpoint": sub.endpoint,
        "options": {"TTL": sub.ttl_seconds, "FIFO": sub.fifo, "maxAttempts": sub.max_attempts},
    }


def _event_type(s: Any, room: MemberId, code: str) -> EventType:
    et = s.scalar(select(EventType).where(EventType.owner == str(room), EventType.code == code))
    if et is None:
        raise GatewayError(404, TYPES[404], "event_type_not_found", "Event type not found")
    return et


def _my_subscription(s: Any, et: EventType, caller: MemberId) -> Subscription:
    sub = s.scalar(
        select(Subscription).where(
            Subscription.event_type_id == et.id,
            Subscription.subscriber == str(caller),
            Subscription.state.in_(("pending", "active")),
        )
    )
    if sub is None:
        raise GatewayError(404, TYPES[404], "subscription_not_found", "Subscription not found")
    return sub


def _room_owner(room: MemberId, caller: MemberId) -> None:
    if caller != room:
        raise GatewayError(
            403, "Client.Forbidden", "not_event_owner", "Only the event type's owner system may publish"
        )


def _options(body: dict[str, Any]) -> GovStackOptions:
    """The subscription's `options`, checked; those not given take the specification's defaults (and are
    not in `model_fields_set`)."""
    given = body.get("options")
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise GatewayError(400, "Client.BadRequest", "invalid_options", "The options must be an object")
    return GovStackOptions.model_validate(given)


def _delivery(value: Any) -> str:
    text = str(value or "PUSH").lower()
    if text not in ("push", "pull"):
        raise GatewayError(400, "Client.BadRequest", "invalid_delivery", "Delivery must be PUSH or PULL")
    return text


def operate(
    call: Call, p: Principal, room: MemberId, caller: MemberId, area: str, rest: list[str], body: Any
) -> tuple[int, bytes, bool]:
    """Do the operation and write its message-log entry in one transaction, so both happen or neither;
    returns (status, response body, whether it is JSON)."""
    signer = msglog.hub_key(call.db)  # before the transaction: the first call of a hub may write the key
    rec = call.rec
    with call.db.transaction() as s:
        given = call.message_id if call.headers.get("x-road-id") == call.message_id else None
        status, result = _dispatch(s, call.method, p, room, caller, area, rest, body, given)
        raw = b"" if result is NO_CONTENT else json.dumps(result, ensure_ascii=False, default=str).encode()
        rec.status = status
        rec.response_bytes = len(raw)
        rec.response_sha256 = hashlib.sha256(raw).hexdigest()
        rec.duration_ms = (time.perf_counter() - call.start) * 1000
        try:
            msglog.append_in(s, [rec], signer)
        except Exception:  # noqa: BLE001 - fail closed: the transaction rolls back, nothing was done
            log.exception("message log write failed; the pub/sub operation is rolled back")
            raise logging_failed() from None
    return status, raw, result is not NO_CONTENT


def _dispatch(
    s: Any,
    method: str,
    p: Principal,
    room: MemberId,
    caller: MemberId,
    area: str,
    rest: list[str],
    body: Any,
    message_id: str | None = None,
) -> tuple[int, Any]:
    """The operation itself, in the caller's transaction; returns (status, JSON body or NO_CONTENT).
    `message_id` is the X-Road-Id the caller gave: a publish retried with it is stored once."""
    if area == "api" and rest[:1] == ["eventType"]:
        if len(rest) == 1 and method == "POST":
            _room_owner(room, caller)
            data = EventTypeCreate.model_validate(
                {"system_code": room.system, "code": body.get("eventType"), "schema": body.get("schema")}
            )
            et = pubsub.create_event_type(s, p, data)
            return 200, {"eventType": et.code, "schema": et.schema}
        if len(rest) == 1 and method == "GET":
            codes = list(
                s.scalars(select(EventType.code).where(EventType.owner == str(room)).order_by(EventType.code))
            )
            return (200, codes) if codes else (204, NO_CONTENT)
        if len(rest) == 2 and method == "GET":
            et = s.scalar(select(EventType).where(EventType.owner == str(room), EventType.code == rest[1]))
            return (200, {"eventType": et.code, "schema": et.schema}) if et else (204, NO_CONTENT)
        if len(rest) == 2 and method == "DELETE":
            _room_owner(room, caller)
            et = _event_type(s, room, rest[1])
            audit.record(s, "exchange.event_type.delete", object_type="exchange_event_type", object_id=et.id)
            s.delete(et)
            return 204, NO_CONTENT
    elif area == "api" and rest[:1] == ["subs"]:
        if len(rest) == 1 and method == "GET":
            rows = s.execute(
                select(Subscription, EventType)
                .join(EventType, EventType.id == Subscription.event_type_id)
                .where(EventType.owner == str(room), Subscription.subscriber == str(caller))
                .order_by(EventType.code)
            ).all()
            return 200, [_subscription_item(sub, et) for sub, et in rows]
        if len(rest) == 2:
            et = _event_type(s, room, rest[1])
            if method == "POST":
                options = _options(body)
                sub_data = SubscriptionCreate.model_validate(
                    {
                        "event_type_id": et.id,
                        "system_code": caller.system,
                        "delivery": _delivery(body.get("delivery")),
                        "endpoint": body.get("endpoint"),
                        "max_attempts": options.maxAttempts,
                        "fifo": options.FIFO,
                        "ttl_seconds": options.TTL,
                    }
                )
                return 200, _subscription_item(pubsub.subscribe(s, p, sub_data), et)
            sub = _my_subscription(s, et, caller)
            if method == "GET":
                return 200, _subscription_item(sub, et)
            if method == "PATCH":
                if "delivery" in body:
                    sub.delivery = _delivery(body["delivery"])
                if "endpoint" in body:
                    checked = SubscriptionCreate.model_validate(
                        {
                            "event_type_id": et.id,
                            "system_code": caller.system,
                            "endpoint": body["endpoint"],
                        }
                    )
                    sub.endpoint = str(checked.endpoint) if checked.endpoint else None
                if "options" in body:  # those given change, for the events fanned out from now on
                    options = _options(body)
                    given = options.model_fields_set
                    if "TTL" in given:
                        sub.ttl_seconds = options.TTL
                    if "FIFO" in given:
                        sub.fifo = options.FIFO
                    if "maxAttempts" in given:
                        sub.max_attempts = options.maxAttempts
                if sub.delivery == "push" and not sub.endpoint:
                    raise GatewayError(
                        400,
                        "Client.BadRequest",
                        "endpoint_required",
                        "A push subscription needs a webhook endpoint",
                    )
                audit.record(
                    s,
                    "exchange.subscription.update",
                    object_type="exchange_subscription",
                    object_id=sub.id,
                )
                return 201, _subscription_item(sub, et)
            if method == "DELETE":
                pubsub.cancel_subscription(s, p, sub.id)
                return 204, NO_CONTENT
    elif area == "pub" and rest:
        et = _event_type(s, room, rest[0])
        if len(rest) == 1 and method == "POST":
            _room_owner(room, caller)
            if body.get("eventType") not in (None, et.code):
                raise GatewayError(
                    400,
                    "Client.BadRequest",
                    "event_type_mismatch",
                    "The event type does not match the path",
                )
            published = PublishRequest.model_validate({"key": body.get("key"), "event": body.get("event")})
            event = pubsub.publish(s, p, et.id, published, message_id)
            return 201, {"id": event.id, "sequence": event.seq}
        if len(rest) == 2:
            _room_owner(room, caller)
            event = s.scalar(select(Event).where(Event.id == rest[1], Event.event_type_id == et.id))
            if event is None:
                raise GatewayError(404, TYPES[404], "event_not_found", "Event not found")
            if method == "GET":
                pubsub_delivery.expire_due(s, event_id=event.id)
                counts: dict[str, int] = {}
                for state in s.scalars(select(Delivery.state).where(Delivery.event_id == event.id)):
                    counts[state] = counts.get(state, 0) + 1
                return 200, _event_item(event, et) | {"cancelled": event.cancelled, "deliveries": counts}
            if method == "DELETE":
                event.cancelled = True
                s.execute(
                    update(Delivery)
                    .where(Delivery.event_id == event.id, Delivery.state == "pending")
                    .values(state="cancelled")
                )
                audit.record(s, "exchange.event.cancel", object_type="exchange_event", object_id=event.id)
                return 204, NO_CONTENT
    elif area == "pull" and rest:
        et = _event_type(s, room, rest[0])
        sub = _my_subscription(s, et, caller)
        if len(rest) == 1 and method == "GET":
            item = pubsub_delivery.pull(s, p, sub.id)
            if item is None:
                raise GatewayError(404, TYPES[404], "no_event", "No event is waiting")
            return 200, item
        if len(rest) == 2 and method == "DELETE":
            pubsub_delivery.ack(s, p, sub.id, rest[1])
            return 204, NO_CONTENT
    raise GatewayError(404, "Client.BadRequest", "unknown_operation", "Unknown operation")


async def _read_body(call: Call) -> Any:
    length = call.headers.get("content-length")
    if length is not None and int(length) > MAX_BODY:
        raise GatewayError(
            413, "Client.RequestTooLarge", "payload_too_large", "The request body is too large"
        )
    parts, size = [], 0
    while True:
        msg = await call.receive()
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise GatewayError(
                413, "Client.RequestTooLarge", "payload_too_large", "The request body is too large"
            )
        parts.append(chunk)
        if not msg.get("more_body") or msg["type"] == "http.disconnect":
            break
    raw = b"".join(parts)
    call.rec.request_bytes = len(raw)
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise GatewayError(400, "Client.BadRequest", "invalid_json", "The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "Client.BadRequest", "invalid_json", "The body is not valid JSON")
    return body


async def handle(call: Call, segments: list[str]) -> None:
    rec = call.rec
    room = parse_ident(parse_member, "/".join(unquote(s) for s in segments[:4]))
    area = segments[4]
    rest = [unquote(s) for s in segments[6:]]
    rec.service = f"{room}/{area}/v1"
    rec.path = "/" + "/".join(rest)
    rec.operation = f"{call.method} /{area}/v1/" + "/".join(rest[:1] + ["{id}"] * (len(rest) > 1))
    caller = await admission.authenticate(call)
    assert caller is not None
    rec.client = str(caller)
    if call.from_peer or call.claims is None:
        raise GatewayError(
            403, "Client.Forbidden", "system_required", "Only information systems may call services"
        )
    if room.instance != call.rt.instance:
        raise GatewayError(
            404,
            "Server.ClientProxy.UnknownInstance",
            "unknown_instance",
            "Unknown X-Road instance {instance}",
            instance=room.instance,
        )
    body = await _read_body(call) if call.method in ("POST", "PATCH", "PUT") else {}
    principal = principal_from_claims(call.claims)

    def run() -> tuple[int, bytes, bool]:
        try:
            return operate(call, principal, room, caller, area, rest, body)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise GatewayError(
                400,
                "Client.BadRequest",
                "invalid_request",
                "Invalid request: {error}",
                error=f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"[:300],
            ) from None
        except DomainError as exc:
            raise GatewayError(
                exc.status, TYPES.get(exc.status, "Client.BadRequest"), exc.code, exc.message, **exc.params
            ) from exc

    status, raw, is_json = await admission.in_thread(run)  # done and logged, or neither
    metrics.observe(rec)
    headers = [(b"x-road-id", rec.message_id.encode())]
    if is_json:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await call.send({"type": "http.response.start", "status": status, "headers": headers})
    await call.send({"type": "http.response.body", "body": raw})
