"""Pub/sub at the GovStack Information Mediator paths: /r1/{room}/api/v1/eventType, /pub/v1, /api/v1/subs,
/pull/v1 — event types, publish, status, stop, subscribe, pull and acknowledge, refusals, message log."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.factories import CONGAN, TUPHAP
from tinhso.exchange import msglog
from tinhso.exchange.models import Event, EventType, MessageLog, Subscription
from tinhso.kit.events import wait_until_dispatched

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
