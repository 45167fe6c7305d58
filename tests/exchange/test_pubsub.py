"""Pub/sub: event types, subscriptions, publish, push with signatures, retries, dead letters, pull, order
(FIFO or not, also when notices reach the fan-out out of order), time-to-live."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from tests.factories import CONGAN, TUPHAP
from tinhso.exchange import msglog, pubsub, pubsub_delivery
from tinhso.exchange.models import Delivery, Event
from tinhso.kit.db import utcnow
from tinhso.kit.events import OutboxEvent, dispatch_once, wait_until_dispatched

SCHEMA = {"type": "object", "required": ["personal_id"], "properties": {"personal_id": {"type": "string"}}}


@pytest.fixture
def room(client, factory):
    publisher = factory.system(CONGAN, "DANCU", scopes=("api", "exchange"))
    owner_admin = factory.person(("agency_admin", "official"), agency=CONGAN)
    subscriber = factory.system(TUPHAP, "HOTICH", scopes=("api", "exchange"))
    sub_admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    r = client.post(
        "/api/v1/exchange/event-types",
        headers=publisher.headers,
        json={
            "system_code": "DANCU",
            "code": "resident.changed",
            "title": "Thay đổi cư trú",
            "schema": SCHEMA,
        },
    )
    assert r.status_code == 201, r.text
    return {
        "publisher": publisher,
        "owner_admin": owner_admin,
        "subscriber": subscriber,
        "sub_admin": sub_admin,
        "et": r.json()["id"],
    }


def _subscribe(client, room, **body):
    data = {"event_type_id": room["et"], "system_code": "HOTICH"} | body
    r = client.post("/api/v1/exchange/subscriptions", json=data, headers=room["subscriber"].headers)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "pending"  # another agency: the owner decides
    sid = r.json()["id"]
    assert (
        client.post(
            f"/api/v1/exchange/subscriptions/{sid}/approve", headers=room["sub_admin"].headers
        ).status_code
        == 403
    )
    r = client.post(f"/api/v1/exchange/subscriptions/{sid}/approve", headers=room["owner_admin"].headers)
    assert r.status_code == 200 and r.json()["state"] == "active"
    return sid


def _publish(client, room, key, n):
    r = client.post(
        f"/api/v1/exchange/event-types/{room['et']}/events",
        headers=room["publisher"].headers,
        json={"key": key, "event": {"personal_id": f"0401900012{n:02d}", "n": n}},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_event_type_rules(client, room, factory):
    r = client.post(
        "/api/v1/exchange/event-types",
        headers=room["publisher"].headers,
        json={"system_code": "DANCU", "code": "resident.changed"},
    )
    assert r.status_code == 409
    r = client.post(
        "/api/v1/exchange/event-types",
        headers=room["publisher"].headers,
        json={"system_code": "DANCU", "code": "bad", "schema": {"type": "nope"}},
    )
    assert r.status_code == 422 and r.json()["code"] == "schema_invalid"
    r = client.post(
        "/api/v1/exchange/event-types",
        headers=room["subscriber"].headers,
        json={"system_code": "DANCU", "code": "x"},
    )
    assert r.status_code == 404  # not a system of the caller's agency
    r = client.post(
        "/api/v1/exchange/subscriptions",
        headers=room["subscriber"].headers,
        json={"event_type_id": room["et"], "system_code": "HOTICH", "delivery": "push"},
    )
    assert r.status_code == 422 and r.json()["code"] == "endpoint_required"
    r = client.post(
        "/api/v1/exchange/subscriptions",
        headers=room["subscriber"].headers,
        json={"event_type_id": "nope", "system_code": "HOTICH", "delivery": "pull"},
    )
    assert r.status_code == 404
    # Only the owner system publishes; an invalid event changes nothing.
    r = client.post(
        f"/api/v1/exchange/event-types/{room['et']}/events",
        headers=room["subscriber"].headers,
        json={"event": {"personal_id": "1"}},
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/exchange/event-types/{room['et']}/events",
        headers=room["publisher"].headers,
        json={"event": {"wrong": 1}},
    )
    assert r.status_code == 422 and r.json()["code"] == "event_invalid"


def test_publish_invalid_leaves_nothing(client, room, db):
    client.post(
        f"/api/v1/exchange/event-types/{room['et']}/events",
        headers=room["publisher"].headers,
        json={"event": {"wrong": 1}},
    )
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_push_signed_in_order_per_key(client, room, db, receiver):
    _subscribe(client, room, delivery="push", endpoint=receiver.url)
    ids = [
        _publish(client, room, "040190001234", 1),
        _publish(client, room, "040190001234", 2),
        _publish(client, room, "040085004321", 3),
    ]
    wait_until_dispatched(db)
    with httpx.Client() as http:
        assert pubsub_delivery.deliver_due(db, http) == 3
        assert pubsub_delivery.deliver_due(db, http) == 0  # nothing twice
    got = [json.loads(x["body"]) for x in receiver.received]
    assert [g["id"] for g in got] == ids
    assert got[0]["eventType"] == "resident.changed" and got[0]["publisherId"] == f"VN/GOV/{CONGAN}/DANCU"
    # The signature verifies with the hub's published key.
    pem = client.get("/api/v1/exchange/hub").json()["public_key_pem"]
    key = msglog.load_public(pem)
    for item in receiver.received:
        sig = item["headers"]["x-tinhso-signature"].split("sig=")[1]
        key.verify(base64.b64decode(sig), item["body"])
    status = client.get(f"/api/v1/exchange/events/{ids[0]}", headers=room["owner_admin"].headers).json()
    assert status["deliveries"][0]["state"] == "delivered"
    assert (
        client.get(f"/api/v1/exchange/events/{ids[0]}", headers=room["sub_admin"].headers).status_code == 404
    )


def _time_passes(db):
    with db.transaction() as s:
        s.execute(
            update(Delivery)
            .where(Delivery.state == "pending")
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def test_subscriber_down_retries_dead_letter_and_redelivery(client, room, db, receiver):
    sid = _subscribe(client, room, delivery="push", endpoint=receiver.url, max_attempts=3)
    first = _publish(client, room, "K", 1)
    second = _publish(client, room, "K", 2)
    wait_until_dispatched(db)
    receiver.failing = True
    with httpx.Client() as http:
        assert pubsub_delivery.deliver_due(db, http) == 0
        with db.transaction(write=False) as s:
            d1 = s.scalar(select(Delivery).where(Delivery.event_id == first))
            d2 = s.scalar(select(Delivery).where(Delivery.event_id == second))
        assert d1.attempts == 1 and d1.next_attempt_at > utcnow() and d1.last_status == 503
        assert d2.attempts == 0  # waits behind the first event of its key
        for _ in range(2):
            _time_passes(db)
            pubsub_delivery.deliver_due(db, http)
        with db.transaction(write=False) as s:
            d1 = s.scalar(select(Delivery).where(Delivery.event_id == first))
        assert d1.state == "dead" and d1.attempts == 3
        dead = client.get(
            f"/api/v1/exchange/subscriptions/{sid}/deliveries?state=dead", headers=room["sub_admin"].headers
        )
        assert dead.json()["total"] == 1
        # The subscriber comes back; the next event of the key flows, the dead one is redelivered on request.
        receiver.failing = False
        _time_passes(db)
        assert pubsub_delivery.deliver_due(db, http) == 1
        r = client.post(f"/api/v1/exchange/deliveries/{d1.id}/redeliver", headers=room["sub_admin"].headers)
        assert r.status_code == 200 and r.json()["state"] == "pending"
        assert (
            client.post(
                f"/api/v1/exchange/deliveries/{d1.id}/redeliver", headers=room["sub_admin"].headers
            ).status_code
            == 409
        )
        assert (
            client.post(
                "/api/v1/exchange/deliveries/999999/redeliver", headers=room["sub_admin"].headers
            ).status_code
            == 404
        )
        assert pubsub_delivery.deliver_due(db, http) == 1
    assert sorted(json.loads(x["body"])["id"] for x in receiver.received) == sorted([first, second])


def test_backoff_grows_with_jitter_and_a_cap():
    assert all(timedelta(seconds=1) <= pubsub_delivery._backoff(1) <= timedelta(seconds=2) for _ in range(20))
    assert all(
        pubsub_delivery._backoff(30) <= timedelta(seconds=pubsub_delivery.MAX_BACKOFF) for _ in range(20)
    )
    assert max(pubsub_delivery._backoff(10) for _ in range(50)) > timedelta(seconds=2)


def test_pull_and_acknowledge(client, room, db, factory):
    sid = _subscribe(client, room, delivery="pull")
    url = f"/api/v1/exchange/subscriptions/{sid}/pull"
    h = room["subscriber"].headers
    assert client.get(url, headers=h).status_code == 204
    a, b = _publish(client, room, None, 1), _publish(client, room, None, 2)
    wait_until_dispatched(db)
    assert client.get(url, headers=h).json()["id"] == a
    assert client.get(url, headers=h).json()["id"] == a  # not acknowledged: delivered again
    assert client.delete(f"{url}/{a}", headers=h).status_code == 204
    item = client.get(url, headers=h).json()
    assert item["id"] == b and item["sequence"] > 0 and item["event"]["n"] == 2
    assert client.delete(f"{url}/{b}", headers=h).status_code == 204
    assert client.get(url, headers=h).status_code == 204
    stranger = factory.system("000.00.02.H41", "OTHER", scopes=("api", "exchange"))
    assert client.get(url, headers=stranger.headers).status_code == 404
    assert client.delete(f"{url}/nope", headers=h).status_code == 404


def test_crash_between_publish_and_delivery_loses_and_doubles_nothing(client, room, db, receiver):
    _subscribe(client, room, delivery="push", endpoint=receiver.url)
    eid = _publish(client, room, "K", 1)
    # The process dies before the dispatcher runs: the event and its notice are committed together.
    with db.transaction(write=False) as s:
        assert (
            s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None)))
            == 1
        )
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
    # After a restart: the dispatcher delivers the notice; running the fan-out again adds nothing.
    assert dispatch_once(db) == 1
    assert dispatch_once(db) == 0
    with db.transaction() as s:
        assert pubsub.fan_out(s, eid) == 0
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 1
    with httpx.Client() as http:
        pubsub_delivery.deliver_due(db, http)
        pubsub_delivery.deliver_due(db, http)
    assert len(receiver.received) == 1


def _delivery(db, event_id):
    with db.transaction(write=False) as s:
        return s.scalar(select(Delivery).where(Delivery.event_id == event_id))


def _due(db, event_id, in_seconds=-1):
    """The event's delivery falls due (or its next try is `in_seconds` away)."""
    with db.transaction() as s:
        s.execute(
            update(Delivery)
            .where(Delivery.event_id == event_id)
            .values(next_attempt_at=utcnow() + timedelta(seconds=in_seconds))
        )


@pytest.mark.parametrize("fifo", [True, False], ids=["fifo", "unordered"])
def test_fifo_holds_later_events_back_unordered_does_not(client, room, db, receiver, fifo):
    sid = _subscribe(client, room, delivery="push", endpoint=receiver.url, fifo=fifo)
    item = client.get("/api/v1/exchange/subscriptions", headers=room["sub_admin"].headers).json()["items"][0]
    assert item["id"] == sid and item["fifo"] is fifo
    # No key: under FIFO the events of the subscription form one sequence.
    first, second = _publish(client, room, None, 1), _publish(client, room, None, 2)
    wait_until_dispatched(db)
    receiver.failing = True
    with httpx.Client() as http:
        assert pubsub_delivery.deliver_due(db, http) == 0
        assert _delivery(db, first).attempts == 1
        assert _delivery(db, second).attempts == (0 if fifo else 1)
        receiver.failing = False
        _due(db, first, 60)  # the first one's retry is a minute away
        _due(db, second)
        if fifo:
            assert pubsub_delivery.deliver_due(db, http) == 0
            _due(db, first)
            assert pubsub_delivery.deliver_due(db, http) == 2
            assert [json.loads(x["body"])["id"] for x in receiver.received] == [first, second]
        else:
            assert pubsub_delivery.deliver_due(db, http) == 1
            assert [json.loads(x["body"])["id"] for x in receiver.received] == [second]


def test_fifo_waits_for_an_earlier_event_not_yet_fanned_out(client, room, db, receiver):
    _subscribe(client, room, delivery="push", endpoint=receiver.url)
    first, second = _publish(client, room, "K", 1), _publish(client, room, "K", 2)
    other = _publish(client, room, "L", 3)
    # The notices reach the fan-out out of order: the second event's first.
    with db.transaction() as s:
        assert pubsub.fan_out(s, second) == 1
        assert pubsub.fan_out(s, other) == 1
    with httpx.Client() as http:
        assert pubsub_delivery.deliver_due(db, http) == 1  # key L flows; key K waits for its first event
        wait_until_dispatched(db)
        assert pubsub_delivery.deliver_due(db, http) == 2
    assert [json.loads(x["body"])["id"] for x in receiver.received] == [other, first, second]


def _age(db, seconds):
    """The clock moves on `seconds`: events were published, deliveries fall due and expire that much earlier."""
    back = timedelta(seconds=seconds)
    with db.transaction() as s:
        for e in s.scalars(select(Event)):
            e.published_at -= back
        for d in s.scalars(select(Delivery)):
            d.next_attempt_at -= back
            if d.expires_at is not None:
                d.expires_at -= back


def test_time_to_live_push(client, room, db, receiver):
    sid = _subscribe(client, room, delivery="push", endpoint=receiver.url, ttl_seconds=60)
    h = room["sub_admin"].headers
    first = _publish(client, room, "K", 1)
    wait_until_dispatched(db)
    d = _delivery(db, first)
    receiver.failing = True
    with httpx.Client() as http:
        assert pubsub_delivery.deliver_due(db, http) == 0
        assert _delivery(db, first).state == "pending"  # retried within its time
        _age(db, 61)
        receiver.failing = False
        # Its time ran out while the subscriber was down: never sent, reported expired.
        assert pubsub_delivery.deliver_due(db, http) == 0
        assert receiver.received == []
        status = client.get(f"/api/v1/exchange/events/{first}", headers=room["owner_admin"].headers).json()
        assert status["deliveries"][0]["state"] == "expired" and status["deliveries"][0]["expires_at"]
        r = client.get(f"/api/v1/exchange/subscriptions/{sid}/deliveries?state=expired", headers=h)
        assert r.json()["total"] == 1
        # A notice that reaches the fan-out after the event's time ran out: an expired delivery at once.
        late = _publish(client, room, "K", 2)
        _age(db, 61)
        wait_until_dispatched(db)
        assert _delivery(db, late).state == "expired"
        # A fresh event flows; an expired one is sent again on request, with a new time-to-live.
        fresh = _publish(client, room, "K", 3)
        wait_until_dispatched(db)
        assert pubsub_delivery.deliver_due(db, http) == 1
        r = client.post(f"/api/v1/exchange/deliveries/{d.id}/redeliver", headers=h)
        assert r.status_code == 200 and r.json()["state"] == "pending"
        assert pubsub_delivery.deliver_due(db, http) == 1
    assert [json.loads(x["body"])["id"] for x in receiver.received] == [fresh, first]


def test_retry_after_the_time_to_live_is_not_scheduled(client, room, db, receiver):
    _subscribe(client, room, delivery="push", endpoint=receiver.url, ttl_seconds=60)
    eid = _publish(client, room, None, 1)
    wait_until_dispatched(db)
    # The clock moves on until one second of the event's time is left.
    with db.transaction() as s:
        s.execute(update(Delivery).values(expires_at=utcnow() + timedelta(seconds=1)))
    receiver.failing = True
    with httpx.Client() as http:
        pubsub_delivery.deliver_due(db, http)
    # Every backoff is at least 1 s: the next try would come after the event's time ran out.
    d = _delivery(db, eid)
    assert d.state == "expired" and d.attempts == 1 and d.last_status == 503


def test_the_same_publish_retried_twice_at_once_is_stored_once(client, room, db, backend):
    # A publisher whose answer was lost may retry on two connections at once: on PostgreSQL the second insert
    # waits on the unique (publisher, X-Road-Id) index until the first commits, then answers with that event
    # instead of a 500 (SQLite serialises writers, so there the second one simply finds the first).
    import threading

    from tinhso.exchange.schemas import PublishRequest

    principal = room["publisher"].principal
    data = PublishRequest.model_validate({"key": "k", "event": {"personal_id": "040190001234"}})
    first_inserted, first_may_commit = threading.Event(), threading.Event()
    ids: dict[str, str] = {}

    def first() -> None:
        with db.transaction() as s:
            ids["first"] = pubsub.publish(s, principal, room["et"], data, "retry-1").id
            first_inserted.set()
            first_may_commit.wait(10)

    def second() -> None:
        with db.transaction() as s:
            ids["second"] = pubsub.publish(s, principal, room["et"], data, "retry-1").id

    a = threading.Thread(target=first)
    a.start()
    assert first_inserted.wait(10)
    b = threading.Thread(target=second)
    b.start()
    b.join(0.5 if backend == "postgresql" else 0)
    first_may_commit.set()
    a.join(10)
    b.join(30)
    assert ids["first"] == ids["second"]
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 1
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == 1


def test_publish_with_an_idempotency_key_is_stored_once(client, room, db):
    url = f"/api/v1/exchange/event-types/{room['et']}/events"
    body = {"key": "k", "event": {"personal_id": "040190001234"}}
    headers = room["publisher"].headers | {"Idempotency-Key": "lan-1"}
    first = client.post(url, json=body, headers=headers)
    again = client.post(url, json=body, headers=headers)
    other = client.post(url, json=body, headers=room["publisher"].headers | {"Idempotency-Key": "lan-2"})
    assert first.status_code == again.status_code == other.status_code == 201
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    assert client.post(url, json=body, headers=headers | {"Idempotency-Key": "x" * 101}).status_code == 422
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 2
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == 2
