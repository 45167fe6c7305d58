"""Restart tests: the database, NATS and the MQTT broker go away under the running platform and come back.

Each service is a private instance on a port of this suite (`procs`), never the shared one: PostgreSQL is
stopped in immediate mode (a crash: no checkpoint, WAL replay at start) while citizens submit dossiers; NATS
JetStream is killed while subsystems publish events; Mosquitto is restarted while a sensor keeps measuring
(and publishes before the platform has reconnected, when one process ingests).
The platform runs as real processes and must reconnect by itself, keep what was acknowledged, apply nothing
twice and deliver what waited in the outbox.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import func, select, text

from tests.exchange.conftest import serve
from tests.factories import CONGAN, TUPHAP, Factory
from tests.hardening.procs import (
    Platform,
    PrivateMosquitto,
    PrivateNats,
    PrivatePostgres,
    database_url,
    wait_for,
)
from tests.procedures.conftest import LLTP, lltp_form
from tinhso.exchange.models import Delivery
from tinhso.kit import audit
from tinhso.kit.audit import AuditEntry
from tinhso.kit.db import Database, make_engine, new_id
from tinhso.kit.events import OutboxEvent
from tinhso.procedures.models import Dossier, DossierHistory

pytestmark = pytest.mark.timeout(300)


# ------------------------------------------------------------------------------------------ the database


def _copy_database(source: Database, target_url: str) -> None:
    """Schema and reference data of the migrated test database, into the private cluster."""
    src = source.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    tgt = target_url.replace("postgresql+psycopg://", "postgresql://")
    bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))[-1].parent
    dump = subprocess.run(
        [str(bin_dir / "pg_dump"), "--no-owner", "--no-privileges", "-d", src],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [str(bin_dir / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", tgt],
        input=dump.stdout,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture
def private_pg(database: Database, tmp_path: Path) -> Iterator[tuple[PrivatePostgres, Database]]:
    if database.dialect != "postgresql":
        pytest.skip("the database server restarting is a PostgreSQL matter (SQLite lives in the process)")
    pg = PrivatePostgres(Path(f"/tmp/tinhso-crash-pg-{new_id()[:8]}"))
    pg.start()
    try:
        with pg.admin().connect() as conn:
            conn.execute(text('CREATE DATABASE "tinhso"'))
        _copy_database(database, pg.url("tinhso"))
        db = Database(make_engine(url=pg.url("tinhso")))
        yield pg, db
        db.dispose()
    finally:
        pg.stop("immediate")
        subprocess.run(["rm", "-rf", str(pg.root)], check=False)


def test_database_restart_under_load_loses_nothing_acknowledged(private_pg, tmp_path: Path) -> None:
    pg, db = private_pg
    fx = Factory(db)
    citizens = [fx.citizen() for _ in range(4)]
    p = Platform(tmp_path, database_url(db))
    try:
        p.start_api()
        p.start_worker()
        ok: list[str] = []
        failed: list[str] = []
        stop = threading.Event()

        def submit(citizen: Any) -> None:
            form = lltp_form(citizen.principal.personal_id)
            with httpx.Client(base_url=p.url, timeout=30, trust_env=False) as c:
                while not stop.is_set():
                    try:
                        r = c.post(
                            "/api/v1/procedures/dossiers",
                            json={"procedure_code": LLTP, "form": form},
                            headers=citizen.headers,
                        )
                    except httpx.HTTPError as exc:
                        failed.append(type(exc).__name__)
                        continue
                    if r.status_code == 201:
                        ok.append(r.json()["code"])
                    else:
                        failed.append(str(r.status_code))
                        time.sleep(0.1)

        threads = [threading.Thread(target=submit, args=(c,), daemon=True) for c in citizens]
        for t in threads:
            t.start()
        wait_for(lambda: len(ok) >= 5, 60, what="dossiers before the restart")
        pg.stop("immediate")  # the server dies mid-load: no checkpoint, recovery from the WAL at start
        time.sleep(2.0)
        during = len(failed)
        pg.start()
        n = len(ok)
        wait_for(lambda: len(ok) >= n + 5, 90, what="dossiers after the restart (the API reconnects)")
        stop.set()
        for t in threads:
            t.join(timeout=40)
        assert during > 0  # the outage was seen by the callers, as errors, not as hangs
        with db.transaction(write=False) as s:
            made = dict(s.execute(select(Dossier.code, Dossier.id)).tuples().all())
            codes = set(made)
            # Every acknowledged dossier is there (durable), once.
            assert set(ok) <= codes and len(ok) == len(set(ok))
            # None is half-made: each has its history, its audit entry and its event.
            for code in codes:
                assert s.scalar(select(func.count()).where(DossierHistory.dossier_id == made[code])) == 1, (
                    code
                )
                assert (
                    s.scalar(
                        select(func.count()).where(
                            AuditEntry.object_id == code, AuditEntry.action.like("procedures.dossier.%")
                        )
                    )
                    == 1
                ), code
                assert s.scalar(select(func.count()).where(OutboxEvent.key == code)) >= 1, code
            result = audit.verify(s)
            assert result.ok, result
        # The worker reconnected too: what waited in the outbox is delivered.
        wait_for(
            lambda: _scalar(db, select(func.count()).where(OutboxEvent.published_at.is_(None))) == 0,
            90,
            what="the outbox to drain after the restart",
        )
    finally:
        p.stop()


def _scalar(db: Database, stmt: Any) -> int:
    with db.transaction(write=False) as s:
        return int(s.scalar(stmt) or 0)


def _one_backend(db: Database) -> None:
    """The brokers' comings and goings do not depend on the database: run them once (on the first backend of
    the run, SQLite in CI), to keep the suite's cost down."""
    from tests.conftest import BACKENDS

    if db.dialect != BACKENDS[0]:
        pytest.skip(f"broker restarts are tested once, on {BACKENDS[0]}")


# ------------------------------------------------------------------------------------------ NATS JetStream


class Hook:
    """A subscriber's webhook: records the event ids it receives."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            self.ids.append(request.headers.get("x-tinhso-event-id", ""))
            return Response(status_code=204)

        base, self._server, self._thread = serve(app)
        self.url = base + "/hook"

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


@pytest.mark.nats
def test_nats_away_and_back_the_outbox_keeps_every_event(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    _one_backend(db)
    nats = PrivateNats(tmp_path / "nats")
    nats.start()
    hook = Hook()
    p = Platform(tmp_path / "platform", database_url(db), TINHSO_BUS_URL=nats.url)
    try:
        p.start_api()
        p.start_worker()
        publisher = factory.system(CONGAN, "DANCU", scopes=("api", "exchange"))
        owner_admin = factory.person(("agency_admin", "official"), agency=CONGAN)
        subscriber = factory.system(TUPHAP, "HOTICH", scopes=("api", "exchange"))
        with p.client() as c:
            et = c.post(
                "/api/v1/exchange/event-types",
                headers=publisher.headers,
                json={"system_code": "DANCU", "code": "resident.moved", "title": "Chuyển cư trú"},
            ).json()["id"]
            sid = c.post(
                "/api/v1/exchange/subscriptions",
                headers=subscriber.headers,
                json={"event_type_id": et, "system_code": "HOTICH", "delivery": "push", "endpoint": hook.url},
            ).json()["id"]
            assert c.post(
                f"/api/v1/exchange/subscriptions/{sid}/approve", headers=owner_admin.headers
            ).is_success

            def publish(n: int) -> str:
                r = c.post(
                    f"/api/v1/exchange/event-types/{et}/events",
                    headers=publisher.headers,
                    json={"key": f"k{n % 2}", "event": {"n": n}},
                )
                assert r.status_code == 201, r.text
                return str(r.json()["id"])

            sent = [publish(0)]
            wait_for(lambda: sent[0] in hook.ids, 60, what="the first event through NATS")
            nats.kill()  # the bus goes away; publishing goes on
            sent += [publish(n) for n in range(1, 6)]
            time.sleep(2.0)
            assert not set(sent[1:]) & set(hook.ids)  # nothing can pass without the bus ...
            assert _scalar(db, select(func.count()).where(OutboxEvent.published_at.is_(None))) >= 1
            nats.start()  # ... and everything passes once it is back
            wait_for(lambda: set(sent) <= set(hook.ids), 120, what="the events kept while NATS was away")

        def deliveries() -> list[Any]:
            with db.transaction(write=False) as s:
                return list(
                    s.execute(
                        select(Delivery.event_id, Delivery.state).where(Delivery.subscription_id == sid)
                    ).all()
                )

        # The worker records a delivery once the subscriber has answered: the hook can hold the last event a moment
        # before its row says so.
        wait_for(
            lambda: len(deliveries()) >= len(sent) and {r.state for r in deliveries()} == {"delivered"},
            30,
            what="every delivery recorded",
        )
        # Exactly once in effect: one delivery per event, each delivered; JetStream dropped the repeats.
        rows = deliveries()
        assert sorted(r.event_id for r in rows) == sorted(sent)
        assert {r.state for r in rows} == {"delivered"}
        assert sorted(set(hook.ids)) == sorted(sent)
    finally:
        p.stop()
        hook.close()
        nats.stop()


# ------------------------------------------------------------------------------------------ MQTT broker


BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)


def _reading(minutes_ago: int, value: float) -> dict[str, Any]:
    t = BASE + timedelta(minutes=30 - minutes_ago)
    return {"parameter": "PM2.5", "value": value, "time": t.isoformat()}


@pytest.mark.mqtt
@pytest.mark.parametrize("shared", [False, True], ids=["one-ingestor", "shared-subscription"])
def test_mqtt_broker_away_and_back_ingestion_resumes(
    db: Database, factory: Factory, tmp_path: Path, shared: bool
) -> None:
    """One ingesting process (TINHSO_ENV_MQTT_SHARED_SUBSCRIPTION=false, the data-centre layout): Mosquitto
    restores the worker's subscription with its persistent session after a restart, so what a sensor publishes
    before the worker has reconnected waits for it. With the shared subscription Mosquitto 2.0 does not: there
    the sensor's queue must wait until the worker has subscribed again (the readings would be dropped)."""
    _one_backend(db)
    from tinhso.environment.models import Reading
    from tinhso.reference.models import Commune

    broker = PrivateMosquitto(tmp_path / "mqtt")
    broker.start()
    prefix = "tinhso/env"
    p = Platform(
        tmp_path / "platform",
        database_url(db),
        TINHSO_MQTT_URL=broker.url,
        TINHSO_ENV_MQTT_ENABLED="true",
        TINHSO_ENV_MQTT_SHARED_SUBSCRIPTION=str(shared).lower(),
        TINHSO_ENV_SIMULATE_IN_DEMO="false",
    )
    device = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=f"dev-{new_id()[:8]}", clean_session=False
    )
    device.reconnect_delay_set(min_delay=1, max_delay=2)
    acked: set[int] = set()  # message ids the broker has acknowledged to the sensor
    device.on_publish = lambda client, userdata, mid, *rest: acked.add(mid)
    frozen = False
    try:
        p.start_api()
        official = factory.person(("official",), agency="000.00.06.H41")
        with db.transaction() as s:
            commune = s.scalar(select(Commune.code).order_by(Commune.code).limit(1))
        with p.client() as c:
            station = c.post(
                "/api/v1/environment/stations",
                headers=official.headers,
                json={
                    "code": "KK-CRASH-01",
                    "name": "Trạm thử khởi động lại",
                    "kind": "air",
                    "commune_code": commune,
                    "latitude": 18.67,
                    "longitude": 105.68,
                    "parameters": ["PM2.5"],
                },
            )
            assert station.status_code == 201, station.text
            sid = station.json()["id"]
            dev = c.post(
                f"/api/v1/environment/stations/{sid}/devices",
                json={"code": "LOGGER-1"},
                headers=official.headers,
            ).json()
            token = c.post(
                f"/api/v1/environment/stations/{sid}/devices/{dev['id']}/credentials",
                json={"kind": "token"},
                headers=official.headers,
            ).json()["token"]
        p.start_worker()
        assert p.worker is not None
        worker = p.worker

        def send(minutes_ago: int, value: float) -> paho.MQTTMessageInfo:
            body = {"token": token, "readings": [_reading(minutes_ago, value)]}
            return device.publish(f"{prefix}/KK-CRASH-01/LOGGER-1/readings", json.dumps(body), qos=1)

        def stored() -> int:
            return _scalar(db, select(func.count()).select_from(Reading))

        device.connect("127.0.0.1", broker.port)
        device.loop_start()

        def first() -> bool:
            # Until the worker has subscribed the broker drops what nobody listens to: resend the same
            # reading (stored once: readings are unique per device, parameter and time).
            send(30, 10.0)
            return stored() == 1

        wait_for(first, 60, every=1.0, what="the first reading over MQTT")

        if not shared:
            # The worker cannot reconnect until the sensor has published after the restart: it is frozen
            # (subscribed, as it was) for the time of the restart.
            worker.send_signal(signal.SIGSTOP)
            frozen = True
        broker.stop()  # the broker goes away (a restart); the sensor keeps measuring and queues
        device.loop_stop()
        sent = [send(30 - i, 10.0 + i) for i in range(1, 4)]
        assert stored() == 1
        mark = len(broker.log())
        broker.start()
        if shared:
            # The platform reconnects and subscribes again by itself. The sensor sends its queue once that is
            # done: Mosquitto 2.0 does not restore a shared subscription from its store, so what reaches it
            # before the platform is back has no subscriber and is dropped.
            wait_for(
                lambda: "Received SUBSCRIBE from tinhso-environment-worker" in broker.log()[mark:],
                60,
                what="the platform to subscribe again",
            )
        device.reconnect()
        device.loop_start()
        sent += [send(30 - i, 10.0 + i) for i in range(4, 7)]  # right after the restart
        wait_for(lambda: {m.mid for m in sent} <= acked, 30, what="the broker to take the six readings")
        if not shared:
            assert "tinhso-environment-worker" not in broker.log()[mark:]  # the platform is not back yet
            assert stored() == 1
            worker.send_signal(signal.SIGCONT)
            frozen = False
        wait_for(lambda: stored() == 7, 90, what="the readings measured around the broker's restart")

        p.kill_worker()  # the platform goes away; the broker keeps its persistent session's messages
        for i in range(7, 10):
            send(30 - i, 10.0 + i)
        time.sleep(1.0)
        p.start_worker()
        wait_for(lambda: stored() == 10, 90, what="the readings kept by the broker for the platform")
        time.sleep(1.0)
        assert stored() == 10  # and none twice
    finally:
        if frozen and p.worker is not None:
            p.worker.send_signal(signal.SIGCONT)
        device.loop_stop()
        device.disconnect()
        p.stop()
        broker.remove()
