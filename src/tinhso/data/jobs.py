"""Durable warehouse loads: an uploaded file is stored, its batch queued, and a loader claims and runs it.

    var/data/uploads/<database>/<batch id>    the stored file of a queued or running batch
    var/data/uploads/<database>/.incoming-*   a file still being received

(one folder per platform database, as for the warehouse, so two installations sharing a var dir never sweep each
other's files).

The upload request writes the file (hashing it as it arrives), then `enqueue` records the batch as `queued` and
moves the file to its batch's name in the request's transaction. A stored file is removed once its batch is done
or failed: the row-by-row error report is written during the load (var/data/reports/<id>.csv) and kept, so the
file itself is no longer needed.

Loaders: `tinhso worker` always runs one; an API process runs one too when `loads_in_api()` (a single-process
installation: the demo, development, tests, or any SQLite database), so nothing waits for a worker that is not
there. A loader claims a queued batch with a conditional UPDATE (queued -> running, attempts + 1) and takes the
batch's lock (`ingest.claim`, a flock under var/data/running/) before that UPDATE commits, so a batch is never seen
running without its lock held; two loaders never run one batch.

Recovery: `ingest.close_orphans` (every 30 s in a loader, at an API process's start, and before each load under
the warehouse's write lock) finds running batches whose lock nobody holds — their process stopped — and calls
`recover`: the batch is queued again from its stored file while it has had fewer than `MAX_ATTEMPTS` runs, and
failed with the reason otherwise (or when no file was stored: loads from `tinhso data ingest`). An interrupted run
published nothing (the warehouse publishes a whole generation or nothing), and a run removes rows of batches that
are not done before it inserts, so a re-run loads the file exactly once.

Twins: an upload of a file already done, queued or loading for its entity and source answers that batch
(`enqueue`); two batches of one file queued at the same instant are told apart under the warehouse's write lock,
where the second finds the first done and fails with its id (`ingest.AlreadyLoaded`), loading nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tinhso.data import dictionary, ingest, warehouse
from tinhso.data.models import Batch
from tinhso.data.readers import detect_format
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import Database
from tinhso.kit.errors import BadRequest
from tinhso.settings import get_settings

log = logging.getLogger("tinhso.data.jobs")
SWEEP_SECONDS = 30.0
STALE_FILE_SECONDS = 3600.0  # a stored file without a batch is an upload whose request failed
INTERRUPTED = "interrupted: the process loading this file stopped before it finished"


class DataSettings(BaseSettings):
    """Settings of the data module's loads (TINHSO_DATA_*)."""

    model_config = SettingsConfigDict(env_prefix="TINHSO_DATA_", env_file=".env", extra="ignore")

    # Whether API processes load queued batches themselves. None: yes, except in production on PostgreSQL (the
    # data-centre layout, where `tinhso worker` loads and the API processes only receive files).
    loads_in_api: bool | None = None
    load_attempts: int = Field(default=3, ge=1, le=20)  # runs of one batch before it is failed for good
    job_poll_seconds: float = Field(default=2.0, gt=0)  # how often an idle loader looks for queued batches


@lru_cache
def data_settings() -> DataSettings:
    return DataSettings()


def loads_in_api() -> bool:
    configured = data_settings().loads_in_api
    if configured is not None:
        return configured
    settings = get_settings()
    return settings.is_sqlite or settings.environment != "production"


def uploads_dir(engine: Engine) -> Path:
    folder = get_settings().var_dir / "data" / "uploads" / warehouse.path_for_engine(engine).name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stored_path(db: Database, batch_id: str) -> Path:
    return uploads_dir(db.engine) / batch_id


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


# --- receiving ----------------------------------------------------------------------------------------------------
class Incoming:
    """A file being received into the uploads folder, hashed as it is written."""

    def __init__(self, session: Session) -> None:
        self.folder = uploads_dir(_engine(session))
        self.path = self.folder / f".incoming-{secrets.token_hex(8)}"
        self._fh = self.path.open("wb")
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, block: bytes) -> None:
        self._fh.write(block)
        self._digest.update(block)
        self.size += len(block)

    def close(self) -> None:
        """Flush the file to disk (it must outlive a crash once its batch is committed)."""
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.path.unlink(missing_ok=True)


def enqueue(
    session: Session, incoming: Incoming, entity_code: str, source: str, filename: str, principal: Principal
) -> tuple[Batch, bool]:
    """Record a queued batch for a received file and store the file under the batch's id, in the caller's
    transaction. (batch, True) when the same file is already loaded, queued or loading for this entity and source:
    the received copy is dropped and nothing new is started."""
    if not source or len(source) > 128:
        raise BadRequest("ingest_source_required", "A source name (up to 128 characters) is required")
    entity = dictionary.latest(session, entity_code)
    detect_format(filename)
    incoming.close()
    twins = session.scalars(
        select(Batch).where(
            Batch.file_sha256 == incoming.sha256,
            Batch.entity_code == entity.code,
            Batch.source == source,
            Batch.status.in_(("done", "queued", "running")),
        )
    ).all()
    twin = next((b for b in twins if b.status == "done"), None) or (twins[0] if twins else None)
    if twin is not None:
        incoming.discard()
        return twin, True
    batch = Batch(
        entity_code=entity.code,
        entity_version=entity.version,
        source=source,
        filename=Path(filename).name[:255],
        file_sha256=incoming.sha256,
        table_name=entity.code,
        agency_code=principal.agency_code,
        created_by=principal.id,
        created_by_kind=principal.kind,
        bytes_total=incoming.size,
        status="queued",
    )
    session.add(batch)
    session.flush()
    audit.record(
        session,
        "data.batch.queue",
        object_type="data_batch",
        object_id=batch.id,
        detail={"entity": entity.code, "source": source, "bytes": incoming.size, "sha256": incoming.sha256},
    )
    os.replace(incoming.path, incoming.folder / batch.id)
    _fsync_dir(incoming.folder)
    return batch, False


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- loading ------------------------------------------------------------------------------------------------------
_wake = threading.Event()


def wake() -> None:
    """Tell this process's loader to look for queued batches now (after an upload committed)."""
    _wake.set()


def claim(db: Database, batch_id: str) -> Principal | None:
    """Take a queued batch (queued -> running, one more attempt) with its lock held; the uploader as the actor of
    the load, or None when another loader has it."""
    held = False
    try:
        with db.transaction() as session:
            taken = session.execute(
                update(Batch)
                .where(Batch.id == batch_id, Batch.status == "queued")
                .values(status="running", attempts=Batch.attempts + 1, error=None)
            )
            if getattr(taken, "rowcount", 0) != 1:
                return None
            ingest.claim(batch_id)  # before the commit: the batch is never seen running without its lock
            held = True
            batch = session.get(Batch, batch_id)
            assert batch is not None
            return Principal(
                kind=batch.created_by_kind or "person",
                id=batch.created_by or "",
                name="",
                agency_code=batch.agency_code,
            )
    except BlockingIOError:  # a sweeper is looking at it this instant; the next round takes it
        return None
    except BaseException:
        if held:
            ingest.release(batch_id)
        raise


def load(db: Database, batch_id: str, actor: Principal) -> None:
    """Run a claimed batch from its stored file; the file goes once the batch is done or failed."""
    path = stored_path(db, batch_id)
    try:
        if not path.exists():
            error = "the stored file of this upload is missing: upload the file again"
            ingest._mark_failed(db, batch_id, ("running",), error, actor)
        else:
            ingest.run_batch(db, batch_id, path, principal=actor)
    except ingest.AlreadyLoaded as exc:
        log.info("data: batch %s not loaded: %s", batch_id, exc)
    except Exception:  # noqa: BLE001 - the failure is recorded on the batch
        log.warning("data: batch %s failed", batch_id, exc_info=True)
    finally:
        ingest.release(batch_id)
        _discard_if_finished(db, batch_id)


def _discard_if_finished(db: Database, batch_id: str) -> None:
    try:
        with db.transaction(write=False) as session:
            status = session.scalar(select(Batch.status).where(Batch.id == batch_id))
    except Exception:  # noqa: BLE001 - the database is away: the sweep removes the file later
        return
    if status in (None, "done", "failed"):
        stored_path(db, batch_id).unlink(missing_ok=True)


def run_next(db: Database) -> bool:
    """Claim and run the oldest queued batch this process can take; False when there was none."""
    with db.transaction(write=False) as session:
        queued = list(
            session.scalars(
                select(Batch.id).where(Batch.status == "queued").order_by(Batch.created_at).limit(20)
            )
        )
    for batch_id in queued:
        actor = claim(db, batch_id)
        if actor is not None:
            load(db, batch_id, actor)
            return True
    return False


def recover(db: Database, batch_id: str) -> int:
    """A running batch whose process stopped (its lock is free and held by the caller): queued again from its
    stored file, or failed when there is none or its runs are used up. 1 if the batch was changed."""
    path = stored_path(db, batch_id)
    limit = data_settings().load_attempts
    with db.transaction() as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.status != "running":
            return 0
        if path.exists() and batch.attempts < limit:
            batch.status, batch.error = (
                "queued",
                f"{INTERRUPTED}; queued again (run {batch.attempts} of {limit})",
            )
            batch.rows_total = batch.rows_accepted = batch.rows_fixed = batch.rows_rejected = 0
            batch.bytes_done = 0
            audit.record(
                session,
                "data.batch.requeue",
                object_type="data_batch",
                object_id=batch_id,
                detail={"attempts": batch.attempts},
            )
            return 1
    if path.exists():
        error = f"{INTERRUPTED}, {limit} times: the load was given up; upload the file again or split it"
    else:
        error = INTERRUPTED
    marked = ingest._mark_failed(db, batch_id, ("running",), error)
    path.unlink(missing_ok=True)
    return marked


def sweep(db: Database) -> None:
    """Recover interrupted batches, and remove stored files nobody will load (their batch is finished, or was never
    committed)."""
    ingest.close_orphans(db)
    folder = uploads_dir(db.engine)
    now = time.time()
    files = {p.name: p for p in folder.iterdir() if p.is_file()}
    for name, p in files.items():
        if name.startswith(".incoming-") and now - p.stat().st_mtime > 24 * 3600:
            p.unlink(missing_ok=True)  # a receiving process died mid-upload
    names = [n for n in files if not n.startswith(".")]
    if not names:
        return
    with db.transaction(write=False) as session:
        status = dict(
            session.execute(select(Batch.id, Batch.status).where(Batch.id.in_(names))).tuples().all()
        )
    for name in names:
        state = status.get(name)
        stale = state is None and now - files[name].stat().st_mtime > STALE_FILE_SECONDS
        if state in ("done", "failed") or stale:
            files[name].unlink(missing_ok=True)


def run_loader(stop: threading.Event, db: Database) -> None:
    """A loader: runs queued batches one at a time and sweeps every 30 s, until `stop` is set."""
    last_sweep = -SWEEP_SECONDS
    while not stop.is_set():
        _wake.clear()
        try:
            if time.monotonic() - last_sweep >= SWEEP_SECONDS:
                last_sweep = time.monotonic()
                sweep(db)
            if run_next(db):
                continue
        except Exception:  # noqa: BLE001 - background work; the next round tries again
            log.exception("data: loader round failed")
        _wake.wait(data_settings().job_poll_seconds)


def stop_loader(stop: threading.Event) -> None:
    stop.set()
    _wake.set()
