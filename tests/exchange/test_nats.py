"""Pub/sub on the NATS JetStream backend, against the real server at 127.0.0.1:4222 (each test in a stream of
its own): duplicates dropped, order kept per key when notices arrive out of order, time-to-live honoured."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from tests.exchange.test_pubsub import _age, _publish, _subscribe, room  # noqa: F401 - fixture
from tinhso.exchange import pubsub_delivery, tasks
from tinhso.exchange.models import Delivery
from tinhso.exchange.natsbus import NatsBus
from tinhso.kit.db import new_id
from tinhso.kit.events import Bus, Event, OutboxEvent, dispatch_once

pytestmark = pytest.mark.nats
NATS_URL = "nats://127.0.0.1:4222"


def _deliveries(db) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(Delivery)) or 0


def _wait_for(db, n: int) -> None:
    deadline = time.monotonic() + 15
    while _deliveries(db) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # and no more than n
    assert _deliveries(db) == n


@pytest.fixture
def jetstream(db):
    """A stream of the test's own on the shared server, the fan-out consumer on it, both removed after."""
    tag = new_id()[:8]
    bus = NatsBus(NATS_URL, stream=f"TINHSO_TEST_{tag}", prefix=f"t{tag}.")
    stop = threading.Event()
    consumer = threading.Thread(target=tasks.nats_fanout, args=(stop, db, bus), daemon=True)
    yield bus, consumer
    stop.set()
    time.sleep(0.7)
    try:
        bus._connect()
        assert bus._loop is not None
        bus._loop.run(bus._js.delete_stream(bus.stream))
    finally:
        bus.close()


def test_events_travel_through_jetstream(client, room, db, receiver, jetstream):  # noqa: F811
    bus, consumer = jetstream
    _subscribe(client, room, delivery="push", endpoint=receiver.url)
    the_bus = Bus(external=bus)  # no in-process fan-out: only JetStream carries the notices
    ids = [_publish(client, room, "K", n) for n in range(5)]
    assert dispatch_once(db, the_bus=the_bus) == 5
    # A dispatcher retry publishes the same events again: JetStream drops them (Nats-Msg-Id).
    with db.transaction(write=False) as s:
        for row in s.scalars(select(OutboxEvent)):
            bus.publish(Event.of(row))
    consumer.start()
    _wait_for(db, 5)
    with httpx.Client() as http:
        assert pubsub_delivery.deliver_due(db, http) == 5
    assert [json.loads(x["body"])["id"] for x in receiver.received] == ids


def test_jetstream_fanout_keeps_fifo_and_time_to_live(client, room, db, receiver, jetstream):  # noqa: F811
    """Notices that travel out of order (two dispatchers racing) or late (the consumer was down)."""
    bus, consumer = jetstream
    _subscribe(client, room, delivery="push", endpoint=receiver.url, ttl_seconds=60)

    def notice(event_id: str) -> None:
        with db.transaction(write=False) as s:
            row = s.scalar(select(OutboxEvent).where(OutboxEvent.payload["event_id"].as_string() == event_id))
            bus.publish(Event.of(row))

    first, second = _publish(client, room, "K", 1), _publish(client, room, "K", 2)
    consumer.start()
    notice(second)  # the later event's notice arrives first
    _wait_for(db, 1)
    with httpx.Client() as http:
        assert pubsub_delivery.deliver_due(db, http) == 0  # waits for the first event of its key
        notice(first)
        _wait_for(db, 2)
        assert pubsub_delivery.deliver_due(db, http) == 2
        assert [json.loads(x["body"])["id"] for x in receiver.received] == [first, second]
        # A notice consumed after the event's time ran out: expired, never sent.
        late = _publish(client, room, "K", 3)
        _age(db, 61)
        notice(late)
        _wait_for(db, 3)
        assert pubsub_delivery.deliver_due(db, http) == 0
    with db.transaction(write=False) as s:
        assert s.scalar(select(Delivery.state).where(Delivery.event_id == late)) == "expired"
    assert len(receiver.received) == 2
