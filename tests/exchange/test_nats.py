"""Pub/sub on the NATS JetStream backend, against the real server at 127.0.0.1:4222."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from tests.exchange.test_pubsub import _publish, _subscribe, room  # noqa: F401 - fixture
from tinhso.exchange import pubsub, tasks
from tinhso.exchange.models import Delivery
from tinhso.exchange.natsbus import NatsBus
from tinhso.kit.db import new_id
from tinhso.kit.events import Bus, dispatch_once

pytestmark = pytest.mark.nats
NATS_URL = "nats://127.0.0.1:4222"


def _deliveries(db) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(Delivery)) or 0


def test_events_travel_through_jetstream(client, room, db, receiver):  # noqa: F811
    _subscribe(client, room, delivery="push", endpoint=receiver.url)
    tag = new_id()[:8]
    bus = NatsBus(NATS_URL, stream=f"TINHSO_TEST_{tag}", prefix=f"t{tag}.")
    the_bus = Bus(external=bus)  # no in-process fan-out: only JetStream carries the notices
    stop = threading.Event()
    try:
        ids = [_publish(client, room, "K", n) for n in range(5)]
        assert dispatch_once(db, the_bus=the_bus) == 5
        # A dispatcher retry publishes the same events again: JetStream drops them (Nats-Msg-Id).
        from tinhso.kit.events import Event, OutboxEvent

        with db.transaction(write=False) as s:
            for row in s.scalars(select(OutboxEvent)):
                bus.publish(Event.of(row))
        consumer = threading.Thread(target=tasks.nats_fanout, args=(stop, db, bus), daemon=True)
        consumer.start()
        deadline = time.monotonic() + 15
        while _deliveries(db) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert _deliveries(db) == 5
        with httpx.Client() as http:
            assert pubsub.deliver_due(db, http) == 5
        assert [json.loads(x["body"])["id"] for x in receiver.received] == ids
    finally:
        stop.set()
        time.sleep(0.7)
        try:
            bus._connect()
            assert bus._loop is not None
            bus._loop.run(bus._js.delete_stream(bus.stream))
        finally:
            bus.close()
