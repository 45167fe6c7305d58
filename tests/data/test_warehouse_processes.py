"""The warehouse shared by several processes (two API processes and the worker in the data centre): a reader
never waits for or blocks a writer, writers take turns without losing each other's changes, and a writer killed
half-way leaves the warehouse as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tinhso.data import warehouse
from tinhso.data.synth import write_citizens
from tinhso.kit.db import Database
from tinhso.kit.errors import ServiceUnavailable

COLUMNS = [{"name": "n", "type": "integer"}]


def _env(db: Database) -> dict[str, str]:
    return os.environ | {"TINHSO_DATABASE_URL": db.engine.url.render_as_string(hide_password=False)}


def _python(code: str, db: Database, path: Path) -> subprocess.Popen[str]:
    script = (
        "import sys\nfrom pathlib import Path\nfrom tinhso.data import warehouse\npath = Path(sys.argv[1])\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script + textwrap.dedent(code), str(path)],
        env=_env(db),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _count(path: Path, table: str) -> int | None:
    with warehouse.reader(path) as cur:
        if not warehouse.table_exists(cur, table):
            return None
        return warehouse.count_rows(cur, table)


def test_ingest_in_another_process_while_this_one_reads_and_writes(data_db, tmp_path) -> None:  # noqa: ANN001
    path = warehouse.path_for_engine(data_db.engine)
    warehouse.replace_table(path, "probe", COLUMNS, [{"n": 1}])
    csv_path = tmp_path / "dan.csv"
    write_citizens(csv_path, 3000, seed=5, dup_rate=0.02, error_rate=0.05)
    tinhso = Path(sys.executable).with_name("tinhso")
    with warehouse.reader(path) as held:  # a long query in this process, open through the other's whole load
        child = subprocess.Popen(
            [str(tinhso), "ingest", str(csv_path), "--entity", "citizen", "--source", "proc2"],
            env=_env(data_db),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        reads = 0
        while child.poll() is None:
            assert _count(path, "probe") == 1  # reads go on while the other process writes
            reads += 1
            time.sleep(0.05)
        output = child.communicate()[0]
        assert child.returncode == 0, output
        assert reads > 0
        # the held cursor still sees the generation it started on
        assert not warehouse.table_exists(held, "citizen")
    loaded = _count(path, "citizen")
    assert loaded is not None and loaded > 2500
    # a write from this process builds on the other's (no lost update) ...
    warehouse.replace_table(path, "probe", COLUMNS, [{"n": 1}, {"n": 2}])
    assert _count(path, "citizen") == loaded and _count(path, "probe") == 2
    # ... and a third process reads both
    reader = _python(
        """
        with warehouse.reader(path) as cur:
            print(warehouse.count_rows(cur, "citizen"), warehouse.count_rows(cur, "probe"))
        """,
        data_db,
        path,
    )
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    assert out.split() == [str(loaded), "2"]


def test_writers_take_turns_and_a_killed_writer_changes_nothing(data_db) -> None:  # noqa: ANN001
    path = warehouse.path_for_engine(data_db.engine)
    warehouse.replace_table(path, "probe", COLUMNS, [{"n": 1}])
    child = _python(
        """
        import time
        with warehouse.writer(path) as w:
            w.con.execute("CREATE TABLE half_done AS SELECT range AS n FROM range(1000)")
            w.con.execute("DELETE FROM probe")
            print("writing", flush=True)
            time.sleep(600)
        """,
        data_db,
        path,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "writing", child.stderr.read() if child.stderr else ""
    # while the other process holds the write lock, this one reads the published state and a writer waits
    assert _count(path, "probe") == 1 and _count(path, "half_done") is None
    with pytest.raises(ServiceUnavailable) as busy, warehouse.writer(path, wait_s=0.3):
        raise AssertionError("two writers at once")
    assert busy.value.code == "warehouse_busy"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    # the killed writer published nothing and its lock went with it
    assert _count(path, "probe") == 1 and _count(path, "half_done") is None
    warehouse.replace_table(path, "probe", COLUMNS, [{"n": 1}, {"n": 2}, {"n": 3}])
    assert _count(path, "probe") == 3
    # a writer that fails in this process publishes nothing either
    with pytest.raises(RuntimeError), warehouse.writer(path) as w:
        w.con.execute("DELETE FROM probe")
        raise RuntimeError("boom")
    assert _count(path, "probe") == 3
    # generations older than the previous one are removed; unpublished copies do not linger
    assert len(list(path.glob("g*.duckdb"))) <= 2


def test_a_load_the_platform_database_refuses_is_taken_back(data_db, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from tinhso.data import warehouse_api
    from tinhso.data.ingest import ingest_file
    from tinhso.data.models import Batch

    path = warehouse.path_for_engine(data_db.engine)
    first = tmp_path / "a.csv"
    write_citizens(first, 200, seed=1, dup_rate=0.0, error_rate=0.0)
    ingest_file(data_db, first, "citizen", "a")
    before = _count(path, "citizen")
    assert before is not None and before > 150

    def refuse(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        raise RuntimeError("platform database unavailable")

    monkeypatch.setattr(warehouse_api, "register_table", refuse)
    second = tmp_path / "b.csv"
    write_citizens(second, 200, seed=2, dup_rate=0.0, error_rate=0.0)
    with pytest.raises(RuntimeError):
        ingest_file(data_db, second, "citizen", "b")
    assert _count(path, "citizen") == before
    with data_db.transaction() as s:
        assert s.scalars(select(Batch.status).where(Batch.source == "b")).one() == "failed"
    monkeypatch.undo()
    batch, reused = ingest_file(data_db, second, "citizen", "b")
    assert not reused and _count(path, "citizen") == before + batch.rows_accepted


def test_a_batch_whose_process_stopped_is_closed_and_loads_again(data_db, tmp_path) -> None:  # noqa: ANN001
    from tinhso.data.ingest import close_orphans, ingest_file, release, start_batch
    from tinhso.data.models import Batch

    path = tmp_path / "dan.csv"
    write_citizens(path, 100, seed=4, dup_rate=0.0, error_rate=0.0)
    # another process starts loading the file, then stops before it finishes
    child = _python(
        f"""
        import time
        from tinhso.kit.db import get_database
        from tinhso.data.ingest import start_batch
        with get_database().transaction() as s:
            batch, _ = start_batch(s, Path({str(path)!r}), "citizen", "stopped", "dan.csv")
        print(batch.id, flush=True)
        time.sleep(600)
        """,
        data_db,
        path,
    )
    assert child.stdout is not None
    stopped_id = child.stdout.readline().strip()
    assert stopped_id, child.stderr.read() if child.stderr else ""
    with data_db.transaction() as s:
        live, _ = start_batch(s, path, "citizen", "live", path.name)  # this process is loading it
        live_id = live.id
    try:
        assert close_orphans(data_db) == 0  # both processes are alive
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert close_orphans(data_db) == 1
        with data_db.transaction() as s:
            stopped = s.get(Batch, stopped_id)
            assert (
                stopped is not None and stopped.status == "failed" and "interrupted" in (stopped.error or "")
            )
            assert s.get(Batch, live_id).status == "running"
    finally:
        release(live_id)
    batch, reused = ingest_file(data_db, path, "citizen", "stopped")
    assert not reused and batch.status == "done" and batch.rows_accepted > 90
    with data_db.transaction() as s:  # that load also closed the batch this process gave up without finishing
        assert s.get(Batch, live_id).status == "failed"


def test_a_lost_generation_falls_back_to_the_previous_one(data_db) -> None:  # noqa: ANN001
    path = warehouse.path_for_engine(data_db.engine)
    warehouse.replace_table(path, "probe", COLUMNS, [{"n": 1}])
    warehouse.replace_table(path, "probe", COLUMNS, [{"n": 1}, {"n": 2}])
    current = path / (path / "CURRENT").read_text().strip()
    warehouse.close_all()
    current.unlink()
    (path / f"g{int(current.name[1:7]) + 1:06d}.duckdb").write_bytes(b"an unpublished, broken copy")
    assert _count(path, "probe") == 1  # the previous generation, never the unpublished copy
