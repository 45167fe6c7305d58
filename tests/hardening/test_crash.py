"""Crash tests: the API or the worker is killed (SIGKILL) in the middle of an exchange call, a webhook delivery,
a dossier transition, a KPI run and an ingestion; after a restart nothing is lost, nothing is applied twice,
the audit and message-log chains verify, and the unfinished work is picked up again by itself.

"In the middle" is made deterministic with a lock the test holds: on PostgreSQL a row or table lock that the
platform's transaction reaches after its first writes (seen waiting in pg_stat_activity); on SQLite the write
lock, so the request is in flight, waiting for it, when the process dies. External systems (a provider's API,
a subscriber's webhook) are real HTTP servers in the test that hold their answer until the process is dead.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select, update

from tests.exchange.conftest import make_hub, serve
from tests.factories import CONGAN, TUPHAP, Factory
from tests.hardening.procs import hold_lock, platform, wait_blocked, wait_for
from tests.procedures.conftest import LLTP, lltp_form
from tinhso.exchange import msglog
from tinhso.exchange.models import Delivery, MessageLog
from tinhso.governance.models import KpiRun, KpiValue
from tinhso.kit import audit
from tinhso.kit.audit import AuditEntry
from tinhso.kit.db import Database, utcnow
from tinhso.kit.events import EventDelivery, OutboxEvent
from tinhso.procedures.models import Dossier, DossierHistory

pytestmark = pytest.mark.timeout(240)


class Holder:
    """An external system's HTTP server that records each request and holds its answer until released."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.hold = True
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST"])
        async def anything(path: str, request: Request) -> Response:
            self.seen.append(
                {"path": "/" + path, "headers": dict(request.headers), "body": await request.body()}
            )
            if self.hold:
                self.entered.set()
                await asyncio.to_thread(self.release.wait, 60)
            if path == "hook":
                return Response(status_code=204)
            return JSONResponse({"id": path.rsplit("/", 1)[-1], "ho_ten": "Nguyễn Thị Hoa"})

        self.base, self._server, self._thread = serve(app)

    def close(self) -> None:
        self.release.set()
        self._server.should_exit = True
        self._thread.join(timeout=5)


@pytest.fixture
def holder() -> Iterator[Holder]:
    h = Holder()
    yield h
    h.close()


def _in_thread(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:  # noqa: BLE001 - the call is expected to break with the process
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def _chains_intact(db: Database) -> None:
    with db.transaction(write=False) as s:
        result = audit.verify(s)
        assert result.ok, result
        log = msglog.verify(s)
        assert log.ok, log


def _count(db: Database, stmt: Any) -> int:
    with db.transaction(write=False) as s:
        return int(s.scalar(stmt) or 0)


# ---------------------------------------------------------------------------------------- (a) exchange call


def test_gateway_call_killed_while_the_provider_answers_and_while_logging(
    db, factory: Factory, holder: Holder, tmp_path
) -> None:
    with platform(tmp_path, db) as p, p.client() as c:
        hub = make_hub(c, factory, (holder.base, holder.seen))
        path = f"/r1/{hub.service_id}/citizens/040190001234"
        message_id = f"crash-{uuid.uuid4().hex[:12]}"
        headers = hub.headers(**{"X-Road-Id": message_id})
        before = _count(db, select(func.count()).select_from(MessageLog))
        t, out = _in_thread(lambda: httpx.get(p.url + path, headers=headers, timeout=60))
        assert holder.entered.wait(60), p.logs()
        p.kill_api()  # the provider has the request; its answer never reaches the hub
        t.join(30)
        assert isinstance(out[0], httpx.HTTPError)
        holder.hold = False
        holder.release.set()
        # The half-done exchange left nothing: no entry, and the chain's head still matches its last entry.
        assert _count(db, select(func.count()).select_from(MessageLog)) == before
        _chains_intact(db)

        # The consumer retries with the same X-Road-Id after the restart; the provider sees the same id twice
        # (its key for not applying a request twice) and the hub logs the completed exchange once.
        p.start_api()
        r = httpx.get(p.url + path, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        assert [s["headers"].get("x-road-id") for s in holder.seen[-2:]] == [message_id, message_id]
        assert _count(db, select(func.count()).where(MessageLog.message_id == message_id)) == 1
        _chains_intact(db)

        # Killed while the entry is being written (the log's head row is held): the call fails closed and the
        # chain has no gap or half entry.
        logged = _count(db, select(func.count()).select_from(MessageLog))
        other = f"crash-{uuid.uuid4().hex[:12]}"
        with hold_lock(db, "SELECT seq FROM exchange_log_head WHERE id = 1 FOR UPDATE"):
            t, out = _in_thread(
                lambda: httpx.get(p.url + path, headers=hub.headers(**{"X-Road-Id": other}), timeout=60)
            )
            wait_blocked(db, "%exchange_log_head%")
            p.kill_api()
            t.join(30)
        assert isinstance(out[0], httpx.HTTPError)  # the answer was never released
        assert _count(db, select(func.count()).select_from(MessageLog)) == logged
        _chains_intact(db)
        p.start_api()
        assert httpx.get(p.url + path, headers=hub.headers(), timeout=30).status_code == 200
        assert _count(db, select(func.count()).select_from(MessageLog)) == logged + 1
        _chains_intact(db)


# ---------------------------------------------------------------------------------------- (b) webhook push


def _room(c: httpx.Client, factory: Factory, endpoint: str) -> dict[str, Any]:
    publisher = factory.system(CONGAN, "DANCU", scopes=("api", "exchange"))
    owner_admin = factory.person(("agency_admin", "official"), agency=CONGAN)
    subscriber = factory.system(TUPHAP, "HOTICH", scopes=("api", "exchange"))
    r = c.post(
        "/api/v1/exchange/event-types",
        headers=publisher.headers,
        json={"system_code": "DANCU", "code": "resident.changed", "title": "Thay đổi cư trú"},
    )
    assert r.status_code == 201, r.text
    et = r.json()["id"]
    r = c.post(
        "/api/v1/exchange/subscriptions",
        headers=subscriber.headers,
        json={"event_type_id": et, "system_code": "HOTICH", "delivery": "push", "endpoint": endpoint},
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = c.post(f"/api/v1/exchange/subscriptions/{sid}/approve", headers=owner_admin.headers)
    assert r.status_code == 200, r.text
    return {"publisher": publisher, "et": et, "sub": sid}


def _publish(c: httpx.Client, room: dict[str, Any], key: str, n: int) -> str:
    r = c.post(
        f"/api/v1/exchange/event-types/{room['et']}/events",
        headers=room["publisher"].headers,
        json={"key": key, "event": {"n": n}},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _expire_leases(db: Database) -> None:
    """Let the leases of the dead worker run out now instead of in 60 s (the clock, not the code, is skipped)."""
    past = utcnow() - timedelta(seconds=1)
    with db.transaction() as s:
        s.execute(update(Delivery).where(Delivery.state == "pending").values(next_attempt_at=past))
        s.execute(
            update(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None))
            .values(claimed_until=None, available_at=past)
        )


def test_webhook_delivery_killed_while_the_subscriber_answers(
    db, factory: Factory, holder: Holder, tmp_path
) -> None:
    with platform(tmp_path, db, worker=True) as p, p.client() as c:
        room = _room(c, factory, holder.base + "/hook")
        if db.dialect == "postgresql":
            # First the outbox: the worker dies inside the fan-out subscriber, after its delivery mark was
            # written in the same transaction; both are rolled back and the event is handed over again.
            with hold_lock(db, "LOCK TABLE exchange_delivery IN EXCLUSIVE MODE"):
                first = _publish(c, room, "040190001234", 1)
                wait_blocked(db, "%exchange_delivery%")
                p.kill_worker()
            with db.transaction(write=False) as s:
                assert s.scalar(select(func.count()).select_from(Delivery)) == 0
                notice = next(
                    o
                    for o in s.scalars(
                        select(OutboxEvent).where(OutboxEvent.topic == "exchange.pubsub.event")
                    )
                    if o.payload.get("event_id") == first
                )
                assert notice.published_at is None
                assert s.scalar(select(func.count()).where(EventDelivery.event_id == notice.event_id)) == 0
            _expire_leases(db)
            p.start_worker()
        else:
            first = _publish(c, room, "040190001234", 1)
        assert holder.entered.wait(60), p.logs()  # the worker is POSTing the first event
        p.kill_worker()
        holder.hold = False
        holder.release.set()
        # Published while the worker is down: kept in the outbox, behind the first one (same key).
        second = _publish(c, room, "040190001234", 2)
        with db.transaction(write=False) as s:
            d = s.scalar(select(Delivery).where(Delivery.event_id == first))
            assert d is not None and d.state == "pending" and d.attempts == 0
        _expire_leases(db)
        p.start_worker()

        def delivered() -> bool:
            with db.transaction(write=False) as s:
                states = list(
                    s.scalars(select(Delivery.state).where(Delivery.subscription_id == room["sub"]))
                )
            return states == ["delivered", "delivered"]

        wait_for(delivered, 60, what="both deliveries")
        ids = [s["headers"]["x-tinhso-event-id"] for s in holder.seen]
        # At least once, in order per key, with the event id for the subscriber to drop the repeat.
        assert ids == [first, first, second]
        assert _count(db, select(func.count()).select_from(Delivery)) == 2
        with db.transaction(write=False) as s:
            assert s.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None))) == 0
            per_event = s.execute(
                select(EventDelivery.event_id, EventDelivery.subscriber, func.count()).group_by(
                    EventDelivery.event_id, EventDelivery.subscriber
                )
            ).all()
        assert per_event and all(n == 1 for *_, n in per_event)
        _chains_intact(db)


# ---------------------------------------------------------------------------------------- (d) dossier transition


def _act(c: httpx.Client, actor: Any, code: str, action: str, version: int) -> httpx.Response:
    return c.post(
        f"/api/v1/procedures/dossiers/{code}/transitions",
        json={"action": action, "version": version, "note": ""},
        headers=actor.headers,
    )


def test_dossier_transition_killed_mid_transaction(db, factory: Factory, tmp_path) -> None:
    citizen = factory.citizen()
    official = factory.person(("official",), TUPHAP)
    with platform(tmp_path, db) as p, p.client() as c:
        form = lltp_form(citizen.principal.personal_id)
        r = c.post(
            "/api/v1/procedures/dossiers",
            json={"procedure_code": LLTP, "form": form},
            headers=citizen.headers,
        )
        assert r.status_code == 201, r.text + p.logs()
        code = r.json()["code"]
        assert _act(c, official, code, "assign", r.json()["version"]).status_code == 200
        version = c.get(f"/api/v1/procedures/dossiers/{code}", headers=official.headers).json()["version"]
        history = _count(db, select(func.count()).select_from(DossierHistory))
        # The transition has written the dossier and its history when it waits for the audit chain's head.
        with hold_lock(db, "SELECT seq FROM kit_audit_head WHERE id = 1 FOR UPDATE"):
            t, out = _in_thread(
                lambda: httpx.post(
                    f"{p.url}/api/v1/procedures/dossiers/{code}/transitions",
                    json={"action": "start_review", "version": version, "note": ""},
                    headers=official.headers,
                    timeout=60,
                )
            )
            wait_blocked(db, "%kit_audit_head%")
            p.kill_api()
            t.join(30)
        assert isinstance(out[0], httpx.HTTPError)
        with db.transaction(write=False) as s:
            d = s.scalar(select(Dossier).where(Dossier.code == code))
            assert d is not None and d.status == "assigned" and d.version == version
            assert s.scalar(select(func.count()).select_from(DossierHistory)) == history
            assert (
                s.scalar(select(func.count()).where(OutboxEvent.topic == "procedures.dossier.start_review"))
                == 0
            )
            assert (
                s.scalar(select(func.count()).where(AuditEntry.action == "procedures.dossier.start_review"))
                == 0
            )
        _chains_intact(db)

        p.start_api()
        p.start_worker()
        # The official's retry applies it once; a second retry of the same request is refused as stale.
        assert _act(c, official, code, "start_review", version).status_code == 200
        again = _act(c, official, code, "start_review", version)
        assert again.status_code == 409 and again.json()["code"] == "dossier_changed"
        with db.transaction(write=False) as s:
            assert s.scalar(select(func.count()).select_from(DossierHistory)) == history + 1
            assert (
                s.scalar(select(func.count()).where(OutboxEvent.topic == "procedures.dossier.start_review"))
                == 1
            )
            assert (
                s.scalar(select(func.count()).where(AuditEntry.action == "procedures.dossier.start_review"))
                == 1
            )
        wait_for(
            lambda: _count(db, select(func.count()).where(OutboxEvent.published_at.is_(None))) == 0,
            60,
            what="the outbox to drain",
        )
        _chains_intact(db)


# ---------------------------------------------------------------------------------------- (e) KPI run


def test_kpi_run_killed_mid_run_is_run_again_once(db, tmp_path) -> None:
    with platform(tmp_path, db, api=False) as p:
        # The scheduled run stores its run row, then blocks on the values' table (PostgreSQL) or waits for the
        # write lock (SQLite) when the worker dies.
        with hold_lock(db, "LOCK TABLE governance_kpi_value IN EXCLUSIVE MODE"):
            p.start_worker()
            wait_blocked(db, "%governance_kpi_value%", settle=3.0)
            p.kill_worker()
        assert _count(db, select(func.count()).select_from(KpiRun)) == 0
        assert _count(db, select(func.count()).select_from(KpiValue)) == 0
        p.start_worker()  # the schedule sees no run this hour and runs it
        wait_for(
            lambda: _count(db, select(func.count()).where(KpiRun.finished_at.is_not(None))) == 1,
            120,
            what="a KPI run",
        )
        p.kill_worker()
        p.start_worker()  # a restart after the run does not run it again
        wait_for(
            lambda: _count(db, select(func.count()).where(OutboxEvent.published_at.is_(None))) == 0,
            60,
            what="outbox",
        )
        with db.transaction(write=False) as s:
            assert s.scalar(select(func.count()).select_from(KpiRun)) == 1
            dupes = s.execute(
                select(KpiValue.kpi_code, KpiValue.period_start, func.count())
                .group_by(KpiValue.kpi_code, KpiValue.period_start)
                .having(func.count() > 1)
            ).all()
            assert dupes == []
            assert s.scalar(select(func.count()).where(OutboxEvent.topic == "governance.kpi.computed")) == 1
        _chains_intact(db)


# ---------------------------------------------------------------------------------------- (c) ingestion


def _citizens_file(path: Any, rows: int) -> int:
    """A CSV of synthetic citizens, big enough to be loaded in several chunks."""
    from tinhso.data.synth import write_citizens

    sample = path.with_name("sample.csv")
    write_citizens(sample, 2000, seed=11)
    header, *body = sample.read_text(encoding="utf-8").splitlines()
    times = -(-rows // len(body))
    path.write_text("\n".join([header, *(body * times)[:rows]]) + "\n", encoding="utf-8")
    return rows


def _upload(c: httpx.Client, official: Any, path: Any) -> httpx.Response:
    with path.open("rb") as fh:
        return c.post(
            "/api/v1/data/batches",
            files={"file": (path.name, fh, "text/csv")},
            data={"entity": "citizen", "source": "crash-test"},
            headers=official.headers,
            timeout=120,
        )


def _warehouse_rows(c: httpx.Client, official: Any) -> int:
    r = c.post(
        "/api/v1/warehouse/query", json={"sql": "SELECT count(*) AS n FROM citizen"}, headers=official.headers
    )
    if r.status_code != 200:
        return 0  # no table yet
    return int(r.json()["rows"][0][0])


ROWS = 250_000


def _published(p: Any, db: Database) -> dict[str, int]:
    """Rows per batch of the citizen table in the platform's published warehouse generation, read from its files
    (no process of the platform needs to be running)."""
    import duckdb

    from tinhso.data import warehouse

    folder = p.root / "var" / "warehouse" / warehouse.path_for_engine(db.engine).name
    current = folder / "CURRENT"
    if not current.exists():
        return {}
    con = duckdb.connect(str(folder / current.read_text().strip()), read_only=True)
    try:
        if not warehouse.table_exists(con, "citizen"):
            return {}
        return dict(con.execute("SELECT _batch_id, count(*) FROM citizen GROUP BY _batch_id").fetchall())
    finally:
        con.close()


@pytest.mark.parametrize("layout", ["embedded", "datacentre"])
def test_ingestion_killed_mid_file_is_loaded_again_from_the_stored_file_once(
    db, factory: Factory, tmp_path, layout: str
) -> None:
    """embedded: the API process loads the uploads it receives, and is killed mid-file; datacentre: API processes
    only queue (TINHSO_DATA_LOADS_IN_API=false) and `tinhso worker` loads, and the worker is killed mid-file.
    After a restart the batch is run again from the file stored at upload, by itself, and loaded exactly once."""
    from tinhso.data.dictionary import load_entities
    from tinhso.data.models import Batch

    with db.transaction() as s:
        load_entities(s)
    official = factory.person(("official",), CONGAN)
    path = tmp_path / "cong-dan.csv"
    _citizens_file(path, ROWS)
    env = {"TINHSO_DATA_LOADS_IN_API": "false"} if layout == "datacentre" else {}
    with platform(tmp_path / "p", db, worker=layout == "datacentre", **env) as p, p.client() as c:
        r = _upload(c, official, path)
        assert r.status_code == 202 and r.json()["status"] == "queued", r.text
        batch_id = r.json()["id"]

        def progressed() -> bool:
            with db.transaction(write=False) as s:
                b = s.get(Batch, batch_id)
                return b is not None and b.bytes_done > 0 and b.status == "running"

        wait_for(progressed, 120, what="the first chunk's progress")
        # From here the load can neither record progress nor its result: it is mid-file when the process dies.
        with hold_lock(db, "SELECT id FROM data_batch WHERE id = :id FOR UPDATE", {"id": batch_id}):
            wait_blocked(db, "%data_batch%", settle=2.0)
            if layout == "datacentre":
                p.kill_worker()
            else:
                p.kill_api()
        # Killed mid-file (the usual case: three chunks, progress recorded after each), nothing of the load is
        # visible; killed between publishing and recording the result, its rows are there under a batch that is
        # not done, and the re-run removes them before it inserts.
        interrupted = _published(p, db)
        assert set(interrupted) <= {batch_id}, interrupted
        print(f"killed {'mid-file' if not interrupted else 'after publishing, before recording'}")
        stored = list((p.root / "var" / "data" / "uploads").glob(f"*/{batch_id}"))
        assert len(stored) == 1 and stored[0].stat().st_size == path.stat().st_size  # kept for the re-run
        if layout == "datacentre":
            p.start_worker()
        else:
            p.start_api()
        # Sending the same file again while it is re-run answers that batch: nothing is loaded twice.
        r = _upload(c, official, path)
        assert r.json()["id"] == batch_id and r.json()["reused"] is True, r.text

        def finished() -> dict[str, Any] | None:
            b = c.get(f"/api/v1/data/batches/{batch_id}", headers=official.headers).json()
            return b if b["status"] not in ("queued", "running") else None

        b = wait_for(finished, 180, 0.5, what="the batch's second run")
        assert b["status"] == "done" and b["attempts"] == 2 and b["rows_total"] == ROWS, b
        assert _warehouse_rows(c, official) == b["rows_accepted"]
        assert _published(p, db) == {batch_id: b["rows_accepted"]}  # exactly once
        assert not stored[0].exists()  # the stored file goes once the batch is done
        _chains_intact(db)
        with db.transaction(write=False) as s:
            assert s.scalar(select(func.count()).select_from(Batch)) == 1
            actions = list(
                s.scalars(
                    select(AuditEntry.action).where(AuditEntry.object_id == batch_id).order_by(AuditEntry.seq)
                )
            )
        assert actions == ["data.batch.queue", "data.batch.requeue", "data.batch.load"], actions
