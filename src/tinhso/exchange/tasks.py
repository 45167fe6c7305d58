"""Background work of the hub: push deliveries, health probes, body retention, the JetStream fan-out."""

from __future__ import annotations

import logging
import threading
import time

import httpx

from tinhso.exchange import monitor, msglog, pubsub, pubsub_delivery
from tinhso.kit.db import Database
from tinhso.settings import get_settings

log = logging.getLogger("tinhso.exchange.tasks")
PROBE_SECONDS = 30.0
PURGE_SECONDS = 3600.0


def run(stop: threading.Event, db: Database, poll: float = 0.5, probe_seconds: float = PROBE_SECONDS) -> None:
    """Loop until `stop`: push due deliveries, probe providers, drop bodies past retention."""
    next_probe = time.monotonic() + 2.0
    next_purge = time.monotonic() + 60.0
    with httpx.Client(timeout=httpx.Timeout(10.0), follow_redirects=False, trust_env=False) as http:
        while not stop.is_set():
            worked = 0
            try:
                worked = pubsub_delivery.deliver_due(db, http)
                now = time.monotonic()
                if now >= next_probe:
                    monitor.probe_all(db, http)
                    next_probe = now + probe_seconds
                if now >= next_purge:
                    with db.transaction() as s:
                        msglog.purge_bodies(s)
                        monitor.purge_probes(s)
                    next_purge = now + PURGE_SECONDS
            except Exception:  # noqa: BLE001 - keep working after a database or network hiccup
                log.exception("exchange background work failed")
            if not worked:
                stop.wait(poll)


def fanout_handler(db: Database):  # noqa: ANN201 - returns the JetStream message handler
    def handle(msg: dict) -> None:
        with db.transaction() as s:
            pubsub.fan_out(s, msg["payload"]["event_id"])

    return handle


def nats_fanout(stop: threading.Event, db: Database, bus: object | None = None) -> None:
    """JetStream backend: consume the publish notices and create deliveries, acking after commit."""
    from tinhso.exchange.natsbus import NatsBus

    nats_bus = bus if isinstance(bus, NatsBus) else NatsBus(get_settings().bus_url)
    try:
        nats_bus.consume("exchange-fanout", "exchange.pubsub.>", fanout_handler(db), stop)
    finally:
        if bus is None:
            nats_bus.close()


def start_threads(db: Database, stop: threading.Event) -> list[threading.Thread]:
    threads = [threading.Thread(target=run, args=(stop, db), name="exchange-worker", daemon=True)]
    if get_settings().bus_url.startswith("nats://"):
        threads.append(
            threading.Thread(target=nats_fanout, args=(stop, db), name="exchange-nats", daemon=True)
        )
    for t in threads:
        t.start()
    return threads
