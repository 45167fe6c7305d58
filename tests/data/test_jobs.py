"""Durable loads: an upload is stored and queued, a loader claims it (one loader per batch, across processes), a
load whose process stopped is queued again from the stored file and loaded exactly once, up to a number of runs."""

from __future__ import annotations

import hashlib
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.data.test_warehouse_processes import _python
from tests.factories import CONGAN
from tinhso.data import ingest, jobs, warehouse
from tinhso.data.models import Batch
from tinhso.data.synth import write_citizens
from tinhso.identity.principal import Principal
from tinhso.kit.audit import AuditEntry
from tinhso.kit.db import Database

OFFICIAL = Principal(kind="person", id="p-test", name="Cán bộ", agency_code=CONGAN)


def _queue(db: Database, path: Path, source: str = "jobs") -> str:
    """Queue a batch for a file as the upload API does (stored file, queued batch)."""
    with db.transaction() as s:
        incoming = jobs.Incoming(s)
        incoming.write(path.read_bytes())
        batch, reused = jobs.enqueue(s, incoming, "citizen", source, path.name, OFFICIAL)
        assert not reused
        return batch.id


def _batch(db: Database, batch_id: str) -> Batch:
    with db.transaction(write=False) as s:
        b = s.get(Batch, batch_id)
        assert b is not None
        s.expunge(b)
        return b


def _rows(db: Database, batch_id: str) -> int:
    with warehouse.reader(warehouse.path_for_engine(db.engine)) as cur:
        if not warehouse.table_exists(cur, "citizen"):
            return 0
        row = cur.execute("SELECT count(*) FROM citizen WHERE _batch_id = ?", [batch_id]).fetchone()
        return int(row[0]) if row else 0


def _wait(client: TestClient, headers: dict[str, str], batch_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        b: dict[str, Any] = client.get(f"/api/v1/data/batches/{batch_id}", headers=headers).json()
        if b["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return b
        time.sleep(0.1)


def test_an_upload_is_stored_queued_loaded_once_and_its_file_removed(
    client, data_db, factory, tmp_path
) -> None:  # noqa: ANN001
    official = factory.person(("official",), CONGAN)
    before = set(jobs.uploads_dir(data_db.engine).iterdir())
    path = tmp_path / "dan.csv"
    write_citizens(path, 300, seed=21)
    body = path.read_bytes()
    r = client.post(
        "/api/v1/data/batches",
        files={"file": ("dan.csv", body, "text/csv")},
        data={"entity": "citizen", "source": "xa"},
        headers=official.headers,
    )
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["status"] == "queued" and queued["reused"] is False and queued["attempts"] == 0
    b = _wait(client, official.headers, queued["id"])
    assert b["status"] == "done" and b["attempts"] == 1 and b["rows_accepted"] > 250, b
    stored = _batch(data_db, queued["id"])
    assert stored.file_sha256 == hashlib.sha256(body).hexdigest() and stored.bytes_total == len(body)
    assert not jobs.stored_path(data_db, queued["id"]).exists()  # the report is kept, the file is not
    assert client.get(b["error_report"], headers=official.headers).status_code == 200
    assert _rows(data_db, queued["id"]) == b["rows_accepted"]
    # the same file again: that batch, nothing loaded twice, nothing stored
    again = client.post(
        "/api/v1/data/batches",
        files={"file": ("ban-sao.csv", body, "text/csv")},
        data={"entity": "citizen", "source": "xa"},
        headers=official.headers,
    )
    assert again.status_code == 200 and again.json()["id"] == queued["id"] and again.json()["reused"] is True
    assert set(jobs.uploads_dir(data_db.engine).iterdir()) == before
    with data_db.transaction(write=False) as s:
        assert s.scalar(select(Batch.id).where(Batch.id != queued["id"])) is None
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == queued["id"])))
        assert actions == {"data.batch.queue", "data.batch.load"}
        load = s.scalars(select(AuditEntry).where(AuditEntry.action == "data.batch.load")).one()
        assert load.actor_id == official.id  # the loader acts for the uploader


def test_bad_upload_input_changes_nothing(client, data_db, factory) -> None:  # noqa: ANN001
    official = factory.person(("official",), CONGAN)
    before = set(jobs.uploads_dir(data_db.engine).iterdir())
    for data, name, code in [
        ({"entity": "khong-co", "source": "x"}, "a.csv", "entity_not_found"),
        ({"entity": "citizen", "source": "x"}, "a.exe", "ingest_format_unknown"),
    ]:
        r = client.post(
            "/api/v1/data/batches", files={"file": (name, b"a,b\n1,2\n")}, data=data, headers=official.headers
        )
        assert r.status_code in (400, 404) and r.json()["code"] == code, r.text
    citizen = factory.citizen()
    r = client.post(
        "/api/v1/data/batches",
        files={"file": ("a.csv", b"a\n")},
        data={"entity": "citizen", "source": "x"},
        headers=citizen.headers,
    )
    assert r.status_code == 403
    with data_db.transaction(write=False) as s:
        assert s.scalars(select(Batch)).first() is None
    assert set(jobs.uploads_dir(data_db.engine).iterdir()) == before


def test_one_loader_per_batch_and_a_stopped_load_is_queued_again(data_db, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "dan.csv"
    write_citizens(path, 200, seed=22, dup_rate=0.0, error_rate=0.0)
    batch_id = _queue(data_db, path)
    # another process claims the batch, then stops before loading it
    child = _python(
        f"""
        import time
        from tinhso.data import jobs
        from tinhso.kit.db import get_database
        print(jobs.claim(get_database(), {batch_id!r}) is not None, flush=True)
        time.sleep(600)
        """,
        data_db,
        path,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "True", child.stderr.read() if child.stderr else ""
    try:
        assert jobs.claim(data_db, batch_id) is None  # taken
        assert jobs.run_next(data_db) is False
        assert ingest.close_orphans(data_db) == 0  # its process is alive: left alone
        assert _batch(data_db, batch_id).status == "running"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert ingest.close_orphans(data_db) == 1
    b = _batch(data_db, batch_id)
    assert b.status == "queued" and b.attempts == 1 and "queued again" in (b.error or "")
    assert jobs.stored_path(data_db, batch_id).exists()
    assert jobs.run_next(data_db) is True
    b = _batch(data_db, batch_id)
    assert b.status == "done" and b.attempts == 2 and b.error is None and b.rows_accepted == 200
    assert _rows(data_db, batch_id) == 200
    assert not jobs.stored_path(data_db, batch_id).exists()
    assert jobs.run_next(data_db) is False


def test_a_load_interrupted_too_often_fails_with_the_reason(data_db, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TINHSO_DATA_LOAD_ATTEMPTS", "2")
    jobs.data_settings.cache_clear()
    try:
        path = tmp_path / "dan.csv"
        write_citizens(path, 50, seed=23)
        batch_id = _queue(data_db, path)
        for attempt in (1, 2):
            assert jobs.claim(data_db, batch_id) is not None
            ingest.release(batch_id)  # as if its process stopped
            assert ingest.close_orphans(data_db) == 1
            assert _batch(data_db, batch_id).attempts == attempt
        b = _batch(data_db, batch_id)
        assert b.status == "failed" and "2 times" in (b.error or "") and "upload the file again" in b.error
        assert not jobs.stored_path(data_db, batch_id).exists()
        assert _rows(data_db, batch_id) == 0
        assert jobs.run_next(data_db) is False
    finally:
        monkeypatch.undo()
        jobs.data_settings.cache_clear()


def test_a_batch_whose_stored_file_is_gone_fails_instead_of_waiting(data_db, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "dan.csv"
    write_citizens(path, 20, seed=24)
    batch_id = _queue(data_db, path)
    jobs.stored_path(data_db, batch_id).unlink()
    assert jobs.run_next(data_db) is True
    b = _batch(data_db, batch_id)
    assert b.status == "failed" and "upload the file again" in (b.error or "")


def test_the_sweep_removes_files_nobody_will_load(data_db, tmp_path) -> None:  # noqa: ANN001
    import os

    folder = jobs.uploads_dir(data_db.engine)
    for leftover in folder.iterdir():  # of earlier tests (their batches are gone with their tables)
        leftover.unlink()
    old = time.time() - 2 * 24 * 3600
    for name in ("0123456789abcdef0123456789abcdef", ".incoming-dead"):
        (folder / name).write_bytes(b"x")
        os.utime(folder / name, (old, old))
    (folder / ".incoming-live").write_bytes(b"x")  # still being received
    path = tmp_path / "dan.csv"
    write_citizens(path, 20, seed=25)
    queued = _queue(data_db, path)
    jobs.sweep(data_db)
    assert sorted(p.name for p in folder.iterdir()) == sorted([".incoming-live", queued])
    for name in (".incoming-live", queued):
        (folder / name).unlink()


@pytest.mark.parametrize("layout", ["worker"])
def test_in_the_data_centre_the_worker_loads_and_api_processes_only_queue(
    app, data_db, factory, tmp_path, monkeypatch, layout
) -> None:  # noqa: ANN001
    from tinhso.data import plugin

    monkeypatch.setenv("TINHSO_DATA_LOADS_IN_API", "false")
    monkeypatch.setenv("TINHSO_DATA_JOB_POLL_SECONDS", "0.2")
    jobs.data_settings.cache_clear()
    official = factory.person(("official",), CONGAN)
    path = tmp_path / "dan.csv"
    write_citizens(path, 100, seed=26)
    stop = threading.Event()
    try:
        with TestClient(app) as client:
            r = client.post(
                "/api/v1/data/batches",
                files={"file": ("dan.csv", path.read_bytes(), "text/csv")},
                data={"entity": "citizen", "source": layout},
                headers=official.headers,
            )
            assert r.status_code == 202, r.text
            time.sleep(1.0)
            assert (
                client.get(f"/api/v1/data/batches/{r.json()['id']}", headers=official.headers).json()[
                    "status"
                ]
                == "queued"
            )  # no API process loads it
            worker = threading.Thread(target=plugin.worker, args=(stop, data_db), daemon=True)
            worker.start()
            b = _wait(client, official.headers, r.json()["id"])
            assert b["status"] == "done" and b["rows_total"] == 100, b
    finally:
        jobs.stop_loader(stop)
        if "worker" in locals():
            worker.join(timeout=30)
        # The stopped loader reads the settings once more: restore the environment before forgetting them, or
        # every later app of this test session would keep "API processes do not load".
        monkeypatch.undo()
        jobs.data_settings.cache_clear()
    assert not worker.is_alive()


def _queued_twins(data_db, tmp_path, rows: int, source: str) -> tuple[str, str]:  # noqa: ANN001
    """Two queued batches of one file, as two API processes record them when neither sees the other's yet."""
    import shutil

    path = tmp_path / "dan.csv"
    write_citizens(path, rows, seed=27, dup_rate=0.0, error_rate=0.0)
    first = _queue(data_db, path, source)
    with data_db.transaction() as s:
        a = s.get(Batch, first)
        assert a is not None
        b = Batch(**{c: getattr(a, c) for c in ("entity_code", "entity_version", "source", "filename",
                                                "file_sha256", "table_name", "agency_code", "bytes_total")},
                  status="queued")  # fmt: skip
        s.add(b)
        s.flush()
        second = b.id
    shutil.copyfile(jobs.stored_path(data_db, first), jobs.stored_path(data_db, second))
    return first, second


def test_two_uploads_of_one_file_queued_together_load_it_once(data_db, tmp_path) -> None:  # noqa: ANN001
    """Two API processes receive the same file at the same moment (neither sees the other's batch yet): the
    loader loads the first and refuses the second, naming the first."""
    first, second = _queued_twins(data_db, tmp_path, 60, "cung-luc")
    assert jobs.run_next(data_db) and jobs.run_next(data_db)
    done, refused = _batch(data_db, first), _batch(data_db, second)
    assert done.status == "done" and done.rows_accepted == 60
    assert refused.status == "failed" and first in (refused.error or "")
    assert _rows(data_db, first) == 60 and _rows(data_db, second) == 0
    assert not jobs.stored_path(data_db, second).exists()


def test_two_loaders_running_twins_at_once_load_the_file_once(data_db, tmp_path) -> None:  # noqa: ANN001
    """Two loaders (two workers) each claim one of two batches of the same file and run them at the same time:
    the warehouse's write lock puts one after the other, and the later one finds the first done and loads
    nothing."""
    import threading

    first, second = _queued_twins(data_db, tmp_path, 80, "hai-noi-nap")
    actors = {batch_id: jobs.claim(data_db, batch_id) for batch_id in (first, second)}
    assert all(actors.values())  # both running now, each under its own loader's lock
    start = threading.Barrier(2)

    def run(batch_id: str) -> None:
        start.wait()
        jobs.load(data_db, batch_id, actors[batch_id])  # type: ignore[arg-type]

    threads = [threading.Thread(target=run, args=(i,)) for i in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    batches = {i: _batch(data_db, i) for i in (first, second)}
    assert sorted(b.status for b in batches.values()) == ["done", "failed"]
    (done,) = [b for b in batches.values() if b.status == "done"]
    (refused,) = [b for b in batches.values() if b.status == "failed"]
    assert done.rows_accepted == 80 and done.id in (refused.error or "")
    assert _rows(data_db, done.id) == 80 and _rows(data_db, refused.id) == 0
