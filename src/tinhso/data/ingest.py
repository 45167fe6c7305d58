"""Warehouse ingestion: stream a file in chunks, standardise and validate every row against its dictionary entity
(tinhso.data.pipeline), append the accepted rows to the entity's DuckDB table and write the rejected ones to a
row-by-row error report.

The whole load is one DuckDB transaction: a failure leaves the warehouse as it was. Re-running the same file for the
same entity and source changes nothing.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.data import dictionary, warehouse, warehouse_api
from tinhso.data.models import Batch, Entity
from tinhso.data.pipeline import Counts, Pipeline, quality_of
from tinhso.data.readers import chunks, detect_format
from tinhso.kit import audit
from tinhso.kit.db import Database, utcnow
from tinhso.kit.errors import BadRequest
from tinhso.settings import get_settings

__all__ = ["Pipeline", "ingest_file", "run_batch", "start_batch"]  # Pipeline: also imported from here

COMMIT_ROWS = 1_000_000  # rows per DuckDB commit within a load (see _run_batch)
Progress = Callable[[int, int, int], None]  # bytes done, bytes total, rows done


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def reports_dir() -> Path:
    folder = get_settings().var_dir / "data" / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in exported cells (CSV injection): prefix =, +, -, @, tab, CR with '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def columns_of(entity: Entity) -> list[dict[str, Any]]:
    return [
        {k: f[k] for k in ("name", "type", "classification", "label_vi", "label_en")} for f in entity.fields
    ]


def start_batch(
    session: Session, path: Path, entity_code: str, source: str, filename: str, principal: Any = None
) -> tuple[Batch, bool]:
    """The batch for this file; (existing batch, True) when the same file was already loaded for this source."""
    if not source or len(source) > 128:
        raise BadRequest("ingest_source_required", "A source name (up to 128 characters) is required")
    entity = dictionary.latest(session, entity_code)
    detect_format(filename)
    digest = sha256_of(path)
    done = session.scalars(
        select(Batch).where(
            Batch.file_sha256 == digest,
            Batch.entity_code == entity.code,
            Batch.source == source,
            Batch.status == "done",
        )
    ).first()
    if done is not None:
        return done, True
    batch = Batch(
        entity_code=entity.code,
        entity_version=entity.version,
        source=source,
        filename=Path(filename).name[:255],
        file_sha256=digest,
        table_name=entity.code,
        agency_code=getattr(principal, "agency_code", None),
        created_by=getattr(principal, "id", None),
        bytes_total=path.stat().st_size,
        status="running",
    )
    session.add(batch)
    session.flush()
    claim(batch.id)  # before the batch is visible as running: its lock lives as long as this process
    return batch, False


class AlreadyLoaded(Exception):
    """The same file was loaded for this entity and source by another batch meanwhile."""

    def __init__(self, twin: str):
        super().__init__(f"the same file was already loaded for this entity and source (batch {twin})")
        self.twin = twin


def run_batch(
    db: Database,
    batch_id: str,
    path: Path,
    progress: Progress | None = None,
    chunk_rows: int = 100_000,
    principal: Any = None,
) -> Batch:
    """Load the file of a started batch; commits progress as it goes and the result at the end."""
    try:
        return _run_batch(db, batch_id, path, progress, chunk_rows, principal)
    finally:
        release(batch_id)


def _run_batch(
    db: Database,
    batch_id: str,
    path: Path,
    progress: Progress | None,
    chunk_rows: int,
    principal: Any,
) -> Batch:
    started = time.monotonic()
    with db.transaction() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        entity = dictionary.latest(session, batch.entity_code, batch.entity_version)
        session.expunge(entity)
        pipeline = Pipeline(session, entity)
        fmt = detect_format(batch.filename)
        wh_path = warehouse.path_for(session)
        table, bytes_total, source = batch.table_name, batch.bytes_total, batch.source
        sha256, entity_code = batch.file_sha256, batch.entity_code
    report_path = reports_dir() / f"{batch_id}.csv"
    try:
        with warehouse.writer(wh_path) as wh:
            cur = wh.con
            # Chunks are inserted in DuckDB transactions of about COMMIT_ROWS rows: DuckDB then writes the row groups
            # to the new generation once, compressed, at commit, instead of logging every chunk to its WAL and
            # rewriting it all at the checkpoint (about half of DuckDB's CPU time for this file); committing every
            # million rows rather than once keeps less in memory (3.5 M rows: peak 1.1 GB instead of 1.4 GB). The
            # generation is private to this load until published, so these commits are seen by nobody.
            cur.execute("BEGIN TRANSACTION")
            with report_path.open("w", encoding="utf-8-sig", newline="") as rfh:
                writer = csv.DictWriter(rfh, ["row", "field", "value", "rule", "message_vi", "message_en"])
                writer.writeheader()
                warehouse.ensure_table(cur, table, columns_of(entity))
                # Batches whose process stopped are closed, and rows of batches that never finished (a crash
                # between publishing and recording) go; read under the write lock, so no other load is between
                # publishing and recording now.
                close_orphans(db)
                with db.transaction() as session:
                    # Two batches of one file queued at the same instant (two uploads, two loaders): the one that
                    # takes the write lock second finds the other done, here where nothing can be between.
                    twin = session.scalar(
                        select(Batch.id).where(
                            Batch.file_sha256 == sha256,
                            Batch.entity_code == entity_code,
                            Batch.source == source,
                            Batch.status == "done",
                            Batch.id != batch_id,
                        )
                    )
                    if twin is not None:
                        raise AlreadyLoaded(twin)
                    done = list(
                        session.scalars(
                            select(Batch.id).where(Batch.table_name == table, Batch.status == "done")
                        )
                    )
                cur.execute(
                    f"DELETE FROM {warehouse.quote(table)} WHERE _batch_id IS NOT NULL "
                    "AND NOT list_contains(?::VARCHAR[], _batch_id)",
                    [done],
                )
                last_commit = 0.0

                uncommitted = [0]

                def insert(accepted: pa.Table) -> None:
                    cur.register("incoming", accepted)
                    cur.execute(
                        f"INSERT INTO {warehouse.quote(table)} BY NAME SELECT *, ?::VARCHAR AS _batch_id, "
                        "?::VARCHAR AS _source, now()::TIMESTAMP AS _ingested_at FROM incoming",
                        [batch_id, source],
                    )
                    cur.unregister("incoming")
                    uncommitted[0] += accepted.num_rows
                    if uncommitted[0] >= COMMIT_ROWS:
                        cur.execute("COMMIT")
                        cur.execute("BEGIN TRANSACTION")
                        uncommitted[0] = 0

                # DuckDB stores chunk n (its own threads, no GIL) while this thread standardises chunk n + 1.
                with ThreadPoolExecutor(1, thread_name_prefix="warehouse-insert") as inserter:
                    pending: Future[None] | None = None
                    for chunk in chunks(path, fmt, entity.fields, chunk_rows):
                        accepted, lines = pipeline.run(chunk)
                        for line in lines:
                            writer.writerow({k: safe_cell(v) for k, v in line.items()})
                        if accepted.num_rows:
                            rows = pa.array(chunk.rows, pa.int64()).filter(pipeline.last_keep)
                            accepted = accepted.append_column("_row", rows)
                            if pending is not None:
                                pending.result()
                            pending = inserter.submit(insert, accepted)
                        if progress:
                            progress(chunk.bytes_done, bytes_total, pipeline.counts.total)
                        if time.monotonic() - last_commit > 1.0:
                            _progress(db, batch_id, pipeline.counts, chunk.bytes_done)
                            last_commit = time.monotonic()
                    if pending is not None:
                        pending.result()
            key = entity.key_field
            dup = cur.execute(
                f"SELECT count(*) - count(DISTINCT {warehouse.quote(key)}) FROM {warehouse.quote(table)} "
                "WHERE _batch_id = ?",
                [batch_id],
            ).fetchone()
            duplicates = int(dup[0]) if dup else 0
            total_rows = warehouse.count_rows(cur, table)
            cur.execute("COMMIT")
            # Publish, then record the result; if the platform database refuses it, take the publication back.
            wh.publish()
            try:
                batch = _finish(
                    db,
                    batch_id,
                    pipeline.counts,
                    duplicates,
                    started,
                    report_path,
                    entity,
                    total_rows,
                    principal,
                )
            except BaseException:
                wh.take_back()
                raise
    except BaseException as exc:
        error = str(exc) or repr(exc)
        _mark_failed(db, batch_id, ("running", "failed"), error, principal)
        raise
    return batch


def _finish(
    db: Database,
    batch_id: str,
    counts: Counts,
    duplicates: int,
    started: float,
    report_path: Path,
    entity: Entity,
    total_rows: int,
    principal: Any,
) -> Batch:
    with db.transaction() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        batch.rows_total, batch.rows_accepted = counts.total, counts.accepted
        batch.rows_fixed, batch.rows_rejected = counts.fixed, counts.rejected
        batch.bytes_done, batch.quality = batch.bytes_total, quality_of(counts, duplicates)
        batch.status, batch.finished_at = "done", utcnow()
        batch.duration_s = round(time.monotonic() - started, 3)
        batch.error_report = report_path.name
        warehouse_api.register_table(
            session,
            batch.table_name,
            entity.code,
            entity.name_vi,
            entity.name_en,
            columns_of(entity),
            total_rows,
            batch.agency_code,
        )
        audit.record(
            session,
            "data.batch.load",
            object_type="data_batch",
            object_id=batch_id,
            detail={"accepted": counts.accepted, "rejected": counts.rejected, "table": batch.table_name},
            actor=principal,
        )
        session.expunge(batch)
    return batch


def _mark_failed(
    db: Database, batch_id: str, when: tuple[str, ...], error: str, principal: Any = None
) -> int:
    """Record the batch as failed (if its status is one of `when`), audited; 1 if it was marked."""
    with db.transaction() as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.status not in when:
            return 0
        batch.status, batch.finished_at, batch.error = "failed", utcnow(), error[:2000]
        audit.record(
            session,
            "data.batch.fail",
            object_type="data_batch",
            object_id=batch_id,
            outcome="failure",
            actor=principal,
        )
        return 1


def running_dir() -> Path:
    folder = get_settings().var_dir / "data" / "running"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


_claims: dict[str, int] = {}  # batch id -> the descriptor holding its lock, in this process
_claims_lock = threading.Lock()


def claim(batch_id: str) -> None:
    """Hold the batch's lock (flock on var/data/running/<id>.lock) while this process loads it."""
    fd = os.open(running_dir() / f"{batch_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with _claims_lock:
        _claims[batch_id] = fd


def release(batch_id: str) -> None:
    """Let the batch's lock go (after its result is recorded)."""
    with _claims_lock:
        fd = _claims.pop(batch_id, None)
    if fd is not None:
        (running_dir() / f"{batch_id}.lock").unlink(missing_ok=True)
        os.close(fd)


def close_orphans(db: Database) -> int:
    """Queue again from its stored file, or mark as failed (`jobs.recover`), each batch recorded as running whose
    lock no process holds (the process loading it stopped: a restart, a crash). Nothing of theirs is in the
    warehouse unless published, and the next load of the table removes rows of batches that are not done."""
    with db.transaction(write=False) as session:
        running = list(session.scalars(select(Batch.id).where(Batch.status == "running")))
    closed = 0
    for batch_id in running:
        with _claims_lock:
            if batch_id in _claims:
                continue
        lock = running_dir() / f"{batch_id}.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is loading it
            # the status is read again now that nobody can be finishing it
            from tinhso.data.jobs import recover  # queued again from its stored file, or failed

            closed += recover(db, batch_id)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return closed


def _progress(db: Database, batch_id: str, counts: Counts, bytes_done: int) -> None:
    with db.transaction() as session:
        batch = session.get(Batch, batch_id)
        if batch is not None:
            batch.rows_total, batch.rows_accepted = counts.total, counts.accepted
            batch.rows_rejected, batch.bytes_done = counts.rejected, bytes_done


def ingest_file(
    db: Database,
    path: Path,
    entity_code: str,
    source: str,
    principal: Any = None,
    progress: Progress | None = None,
    chunk_rows: int = 100_000,
    filename: str | None = None,
) -> tuple[Batch, bool]:
    """Start and run a batch: (batch, reused) — reused when this file was already loaded for this source."""
    with db.transaction() as session:
        batch, reused = start_batch(session, path, entity_code, source, filename or path.name, principal)
        batch_id = batch.id
        if reused:
            session.expunge(batch)
            return batch, True
    return run_batch(db, batch_id, path, progress, chunk_rows, principal), False
