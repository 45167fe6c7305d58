"""Pub/sub at the GovStack Information Mediator paths: /r1/{room}/api/v1/eventType, /pub/v1, /api/v1/subs,
/pull/v1 — event types, publish, status, stop, subscribe, pull and acknowledge, refusals, message log;
codes in the specification's case, subscription options (TTL, FIFO), an operation and its log entry together."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tests.exchange.test_pubsub import _age
from tests.factories import CONGAN, TUPHAP
from tinhso.exchange import msglog
from tinhso.exchange.models import Delivery, Event, EventType, MessageLog, Subscription
from tinhso.kit.events import OutboxEvent, wait_until_dispatched

ROOM = f"VN/GOV/{CONGAN}/DANCU"
SCHEMA = {"type": "object", "required": ["personal_id"], "properties": {"personal_id": {"type": "string"}}}


def _as(actor, member):
    return {"X-GovStack-Client": member, **actor.headers}


def _count(db, model) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_room_publish_subscribe_pull_acknowledge(client, factory, db):
    publisher = factory.system(CONGAN, "DANCU", scopes=("api", "exchange"))
    subscriber = factory.system(TUPHAP, "HOTICH", scopes=("api", "exchange"))
    owner_admin = factory.person(("agency_admin", "official"), agency=CONGAN)
    pub = _as(publisher, ROOM)
    sub = _as(subscriber, f"VN/GOV/{TUPHAP}/HOTICH")
    base = f"/r1/{ROOM}"

    assert client.get(f"{base}/api/v1/eventType", headers=pub).status_code == 204  # none defined yet
    r = client.post(
        f"{base}/api/v1/eventType", json={"eventType": "resident.changed", "schema": SCHEMA}, headers=pub
    )
    assert r.status_code == 200 and r.json()["eventType"] == "resident.changed"
    r = client.post(
        f"{base}/api/v1/eventType", json={"eventType": "resident.changed", "schema": SCHEMA}, headers=pub
    )
    assert r.status_code == 409
    # Only the room's own system manages its event types and publishes.
    r = client.post(f"{base}/api/v1/eventType", json={"eventType": "khac", "schema": {}}, headers=sub)
    assert r.status_code == 403 and r.headers["X-Road-Error"] == "Client.Forbidden"
    assert client.get(f"{base}/api/v1/eventType", headers=sub).json() == ["resident.changed"]
    assert client.get(f"{base}/api/v1/eventType/resident.changed", headers=sub).json()["schema"] == SCHEMA

    # Subscribe (PULL); another agency's subscription waits for the owner agency's approval.
    r = client.post(f"{base}/api/v1/subs/resident.changed", json={"delivery": "PULL"}, headers=sub)
    assert r.status_code == 200, r.text
    item = r.json()
    assert item["delivery"] == "PULL" and item["state"] == "pending"
    assert item["subscriberId"] == {
        "instanceId": "VN",
        "memberClass": "GOV",
        "memberCode": TUPHAP,
        "applicationCode": "HOTICH",
    }
    again = client.post(f"{base}/api/v1/subs/resident.changed", json={"delivery": "PULL"}, headers=sub)
    assert again.status_code == 409
    assert client.post(f"{base}/api/v1/subs/x", json={"delivery": "PUSH"}, headers=sub).status_code == 404
    r = client.post(f"/api/v1/exchange/subscriptions/{item['id']}/approve", headers=owner_admin.headers)
    assert r.status_code == 200
    [mine] = client.get(f"{base}/api/v1/subs", headers=sub).json()
    assert mine["state"] == "active" and mine["eventType"] == "resident.changed"

    # Publish: the payload is checked against the event type's schema; nothing is stored when it fails.
    r = client.post(
        f"{base}/pub/v1/resident.changed", json={"eventType": "resident.changed", "event": {}}, headers=pub
    )
    assert r.status_code == 422 and r.json()["code"] == "event_invalid"
    assert client.post(f"{base}/pub/v1/resident.changed", content=b"{no", headers=pub).status_code == 400
    r = client.post(
        f"{base}/pub/v1/resident.changed", json={"event": {"personal_id": "040190001234"}}, headers=sub
    )
    assert r.status_code == 403
    assert _count(db, Event) == 0
    r = client.post(
        f"{base}/pub/v1/resident.changed",
        json={"eventType": "resident.changed", "event": {"personal_id": "040190001234"}},
        headers=pub,
    )
    assert r.status_code == 201, r.text
    event_id = r.json()["id"]
    wait_until_dispatched(db)

    status = client.get(f"{base}/pub/v1/resident.changed/{event_id}", headers=pub).json()
    assert status["id"] == event_id and status["deliveries"] == {"pending": 1}
    assert status["publisherId"]["applicationCode"] == "DANCU"

    # Pull: the same event until it is acknowledged, then nothing.
    for _ in range(2):
        r = client.get(f"{base}/pull/v1/resident.changed", headers=sub)
        assert r.status_code == 200 and r.json()["id"] == event_id
        assert r.json()["event"] == {"personal_id": "040190001234"}
    assert client.delete(f"{base}/pull/v1/resident.changed/{event_id}", headers=sub).status_code == 204
    assert client.get(f"{base}/pull/v1/resident.changed", headers=sub).status_code == 404
    status = client.get(f"{base}/pub/v1/resident.changed/{event_id}", headers=pub).json()
    assert status["deliveries"] == {"delivered": 1}

    # Stop processing an event: its pending deliveries are withdrawn.
    r = client.post(
        f"{base}/pub/v1/resident.changed", json={"event": {"personal_id": "040190009999"}}, headers=pub
    )
    second = r.json()["id"]
    wait_until_dispatched(db)
    assert client.delete(f"{base}/pub/v1/resident.changed/{second}", headers=pub).status_code == 204
    assert client.get(f"{base}/pull/v1/resident.changed", headers=sub).status_code == 404

    # Unsubscribe; unknown event types and credentials are refused.
    assert client.delete(f"{base}/api/v1/subs/resident.changed", headers=sub).status_code == 204
    assert client.get(f"{base}/api/v1/subs/resident.changed", headers=sub).status_code == 404
    assert client.get(f"{base}/pull/v1/nope", headers=sub).status_code == 404
    assert client.get(f"{base}/api/v1/subs", headers={"X-GovStack-Client": ROOM}).status_code == 401
    with db.transaction(write=False) as s:
        assert s.scalar(select(Subscription.state)) == "cancelled"
        assert msglog.verify(s).ok
        # Every call through the room, refusals included, is in the signed message log.
        logged = s.scalars(select(MessageLog.operation).where(MessageLog.service == f"{ROOM}/pub/v1")).all()
        assert "POST /pub/v1/resident.changed" in logged

    # The owner deletes the event type.
    assert client.delete(f"{base}/api/v1/eventType/resident.changed", headers=sub).status_code == 403
    assert client.delete(f"{base}/api/v1/eventType/resident.changed", headers=pub).status_code == 204
    assert _count(db, EventType) == 0


def _room(factory):
    publisher = factory.system(CONGAN, "DANCU", scopes=("api", "exchange"))
    subscriber = factory.system(TUPHAP, "HOTICH", scopes=("api", "exchange"))
    owner_admin = factory.person(("agency_admin", "official"), agency=CONGAN)
    return _as(publisher, ROOM), _as(subscriber, f"VN/GOV/{TUPHAP}/HOTICH"), owner_admin


def test_event_type_codes_keep_their_case_and_are_unique_ignoring_it(client, factory, db):
    pub, sub, owner_admin = _room(factory)
    base = f"/r1/{ROOM}"
    r = client.post(f"{base}/api/v1/eventType", json={"eventType": "newBirth", "schema": {}}, headers=pub)
    assert r.status_code == 200 and r.json()["eventType"] == "newBirth"
    # The same name in another case is the same event type: refused, naming the one that exists.
    r = client.post(f"{base}/api/v1/eventType", json={"eventType": "NEWBIRTH", "schema": {}}, headers=pub)
    assert r.status_code == 409 and r.json()["code"] == "event_type_exists"
    assert "newBirth" in r.json()["message"]
    for bad in ("new birth", "-newBirth", "newBirth/x", "", "x" * 65):
        r = client.post(f"{base}/api/v1/eventType", json={"eventType": bad, "schema": {}}, headers=pub)
        assert r.status_code == 400, bad
    assert client.get(f"{base}/api/v1/eventType", headers=sub).json() == ["newBirth"]
    # Codes are matched exactly as created.
    assert client.get(f"{base}/api/v1/eventType/newBirth", headers=sub).status_code == 200
    assert client.get(f"{base}/api/v1/eventType/newbirth", headers=sub).status_code == 204
    assert client.post(f"{base}/pub/v1/newbirth", json={"event": {}}, headers=pub).status_code == 404
    r = client.post(f"{base}/api/v1/subs/newBirth", json={"delivery": "PULL"}, headers=sub)
    assert r.status_code == 200 and r.json()["eventType"] == "newBirth"
    client.post(f"/api/v1/exchange/subscriptions/{r.json()['id']}/approve", headers=owner_admin.headers)
    r = client.post(f"{base}/pub/v1/newBirth", json={"eventType": "newBirth", "event": {"n": 1}}, headers=pub)
    assert r.status_code == 201
    wait_until_dispatched(db)
    assert client.get(f"{base}/pull/v1/newBirth", headers=sub).json()["eventType"] == "newBirth"
    assert _count(db, EventType) == 1


def test_subscription_options_ttl_and_fifo(client, factory, db):
    pub, sub, owner_admin = _room(factory)
    base = f"/r1/{ROOM}"
    for code in ("newBirth", "newDeath"):
        client.post(f"{base}/api/v1/eventType", json={"eventType": code, "schema": {}}, headers=pub)
    # Invalid options are refused and subscribe nothing.
    for options in ({"TTL": 0}, {"TTL": "60"}, {"TTL": 10**9}, {"FIFO": "yes"}, {"ttl": 60}, [1]):
        r = client.post(
            f"{base}/api/v1/subs/newBirth", json={"delivery": "PULL", "options": options}, headers=sub
        )
        assert r.status_code == 400 and r.headers["X-Road-Error"] == "Client.BadRequest", options
    assert _count(db, Subscription) == 0
    # The specification's defaults: TTL 3600 s, no ordering.
    r = client.post(f"{base}/api/v1/subs/newDeath", json={"delivery": "PULL"}, headers=sub)
    assert r.json()["options"] == {"TTL": 3600, "FIFO": False, "maxAttempts": 8}
    r = client.post(
        f"{base}/api/v1/subs/newBirth",
        json={"delivery": "PULL", "options": {"TTL": 60, "FIFO": True}},
        headers=sub,
    )
    assert r.status_code == 200 and r.json()["options"] == {"TTL": 60, "FIFO": True, "maxAttempts": 8}
    client.post(f"/api/v1/exchange/subscriptions/{r.json()['id']}/approve", headers=owner_admin.headers)
    # PATCH changes the options given and keeps the others.
    r = client.patch(f"{base}/api/v1/subs/newBirth", json={"options": {"TTL": 120}}, headers=sub)
    assert r.status_code == 201 and r.json()["options"] == {"TTL": 120, "FIFO": True, "maxAttempts": 8}
    r = client.patch(f"{base}/api/v1/subs/newBirth", json={"options": {"FIFO": 1}}, headers=sub)
    assert r.status_code == 400
    assert client.get(f"{base}/api/v1/subs/newBirth", headers=sub).json()["options"]["FIFO"] is True

    # TTL: an event not acknowledged within 120 s of its publication is not delivered any more.
    ids = []
    for n in (1, 2):
        r = client.post(f"{base}/pub/v1/newBirth", json={"event": {"n": n}}, headers=pub)
        ids.append(r.json()["id"])
    wait_until_dispatched(db)
    with db.transaction(write=False) as s:
        d, e = s.execute(
            select(Delivery, Event).join(Event, Event.id == Delivery.event_id).where(Event.id == ids[0])
        ).one()
        assert d.expires_at == e.published_at + timedelta(seconds=120)
    assert client.get(f"{base}/pull/v1/newBirth", headers=sub).json()["id"] == ids[0]
    _age(db, 121)
    later = client.post(f"{base}/pub/v1/newBirth", json={"event": {"n": 3}}, headers=pub).json()["id"]
    wait_until_dispatched(db)
    # The two old events expired (the pulled one too: it was never acknowledged); the new one comes next.
    assert client.get(f"{base}/pull/v1/newBirth", headers=sub).json()["id"] == later
    r = client.delete(f"{base}/pull/v1/newBirth/{ids[0]}", headers=sub)
    assert r.status_code == 409 and r.json()["code"] == "event_expired"
    assert r.json()["localized"]["vi"] != r.json()["localized"]["en"]
    status = client.get(f"{base}/pub/v1/newBirth/{ids[1]}", headers=pub).json()
    assert status["deliveries"] == {"expired": 1}
    assert client.delete(f"{base}/pull/v1/newBirth/{later}", headers=sub).status_code == 204
    assert client.get(f"{base}/pull/v1/newBirth", headers=sub).status_code == 404


_FAIL_SQLITE = (
    "CREATE TRIGGER test_log_refused BEFORE INSERT ON exchange_message_log "
    "BEGIN SELECT RAISE(ABORT, 'message log volume full'); END",
)
_FAIL_PG = (
    "CREATE FUNCTION test_log_refused() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'message log volume full'; END $$",
    "CREATE TRIGGER test_log_refused BEFORE INSERT ON exchange_message_log "
    "FOR EACH ROW EXECUTE FUNCTION test_log_refused()",
)


def _log_refuses(db, on: bool) -> None:
    """The database refuses message-log entries (a trigger), as a full or read-only log volume would."""
    pg = db.dialect == "postgresql"
    if on:
        statements = _FAIL_PG if pg else _FAIL_SQLITE
    else:
        statements = (
            ("DROP TRIGGER IF EXISTS test_log_refused ON exchange_message_log",)
            + ("DROP FUNCTION IF EXISTS test_log_refused()",)
            if pg
            else ("DROP TRIGGER IF EXISTS test_log_refused",)
        )
    with db.engine.begin() as conn:
        for sql in statements:
            conn.exec_driver_sql(sql)


def test_operation_and_its_log_entry_are_all_or_nothing(client, factory, db):
    pub, sub, owner_admin = _room(factory)
    base = f"/r1/{ROOM}"
    client.post(f"{base}/api/v1/eventType", json={"eventType": "newBirth", "schema": {}}, headers=pub)
    r = client.post(f"{base}/api/v1/subs/newBirth", json={"delivery": "PULL"}, headers=sub)
    client.post(f"/api/v1/exchange/subscriptions/{r.json()['id']}/approve", headers=owner_admin.headers)
    logged = _count(db, MessageLog)
    publish = {"eventType": "newBirth", "event": {"n": 1}}
    _log_refuses(db, True)
    try:
        r = client.post(f"{base}/pub/v1/newBirth", json=publish, headers=pub | {"X-Road-Id": "pub-1"})
        assert r.status_code == 500
        assert r.headers["X-Road-Error"] == "Server.ClientProxy.LoggingFailed"
        assert r.json()["code"] == "message_log_failed" and r.json()["detail"] == "pub-1"
        assert r.json()["localized"]["vi"] != r.json()["localized"]["en"]
        # Nothing was published: no event, no notice for the fan-out; nothing unsubscribed either.
        assert client.delete(f"{base}/api/v1/subs/newBirth", headers=sub).status_code == 500
    finally:
        _log_refuses(db, False)
    assert _count(db, Event) == 0 and _count(db, OutboxEvent) == 0
    assert _count(db, MessageLog) == logged
    with db.transaction(write=False) as s:
        assert s.scalar(select(Subscription.state)) == "active"
    # The publisher retries: published once, logged once, the chain intact.
    r = client.post(f"{base}/pub/v1/newBirth", json=publish, headers=pub | {"X-Road-Id": "pub-1"})
    assert r.status_code == 201, r.text
    wait_until_dispatched(db)
    assert _count(db, Event) == 1
    assert client.get(f"{base}/pull/v1/newBirth", headers=sub).json()["id"] == r.json()["id"]
    with db.transaction(write=False) as s:
        assert msglog.verify(s).ok
        entries = s.scalars(select(MessageLog).where(MessageLog.message_id == "pub-1")).all()
        assert [(e.status, e.operation) for e in entries] == [(201, "POST /pub/v1/newBirth")]
    # Its answer lost in transit, it retries once more with the same X-Road-Id: the same event, not a second.
    again = client.post(f"{base}/pub/v1/newBirth", json=publish, headers=pub | {"X-Road-Id": "pub-1"})
    assert again.status_code == 201 and again.json() == r.json()
    assert _count(db, Event) == 1
    # Without an X-Road-Id, or with another one, every publish is a new event.
    client.post(f"{base}/pub/v1/newBirth", json=publish, headers=pub)
    client.post(f"{base}/pub/v1/newBirth", json=publish, headers=pub | {"X-Road-Id": "pub-2"})
    assert _count(db, Event) == 3
