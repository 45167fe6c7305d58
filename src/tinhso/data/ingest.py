"""Warehouse ingestion: stream a file in chunks, standardise and validate every row against its dictionary entity,
append the accepted rows to the entity's DuckDB table and write the rejected ones to a row-by-row error report.

Standardisation is column-wise: each chunk's column is dictionary-encoded, each *distinct* value goes through the
kit.vn normaliser once (and is cached across chunks), and the results are mapped back with Arrow — so millions of
rows cost about as many normaliser calls as there are distinct values. The whole load is one DuckDB transaction:
a failure leaves the warehouse as it was. Re-running the same file for the same entity and source changes nothing.
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
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.data import dictionary, warehouse, warehouse_api
from tinhso.data.codelists import codes_of
from tinhso.data.models import Batch, Entity
from tinhso.data.readers import Chunk, chunks, detect_format
from tinhso.data.standardise import Standardiser
from tinhso.kit import audit
from tinhso.kit.db import Database, utcnow
from tinhso.kit.errors import BadRequest
from tinhso.kit.i18n import gettext
from tinhso.kit.text import nfc
from tinhso.kit.vn.personal_id import PROVINCE_CODES
from tinhso.kit.vn.phone import MOBILE_PREFIXES
from tinhso.kit.vn.result import Check
from tinhso.settings import get_settings

ARROW_TYPES = {
    "string": pa.string(),
    "code": pa.string(),
    "date": pa.date32(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}
CACHE_LIMIT = 300_000
HAMLET = (
    r"(?i)^\s*(?:(?:thôn|xóm|bản|khối|tổ|ấp|đội|làng|khu|cụm|số|thon|xom|ban|khoi|to|ap|doi|lang|cum|so)"
    r"\s[^,]*,\s*)+"
)
PROVINCES = pa.array(sorted(PROVINCE_CODES))
MOBILE = pa.array(sorted(MOBILE_PREFIXES))
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


@dataclass
class _Counts:
    total: int = 0
    accepted: int = 0
    fixed: int = 0
    rejected: int = 0
    cells: int = 0  # non-empty cells
    valid_cells: int = 0
    required_cells: int = 0
    required_filled: int = 0
    governed_cells: int = 0  # non-empty cells under a rule or code list
    conforming_cells: int = 0  # ... already in the standard form
    contradictions: int = 0


@dataclass
class _Known:
    """One field's distinct raw values already checked, with their results (aligned arrays)."""

    raw: pa.Array
    values: pa.Array
    bad: pa.Array
    fixed: pa.Array
    checks: list[Check | None]

    @classmethod
    def empty(cls, kind: pa.DataType) -> _Known:
        return cls(
            pa.array([], pa.string()),
            pa.array([], kind),
            pa.array([], pa.bool_()),
            pa.array([], pa.bool_()),
            [],
        )

    def add(self, raw: pa.Array, checks: list[Check]) -> None:
        self.raw = pa.concat_arrays([self.raw, raw.cast(pa.string())])
        self.values = pa.concat_arrays([self.values, pa.array([c.value for c in checks], self.values.type)])
        self.bad = pa.concat_arrays([self.bad, pa.array([not c.ok for c in checks], pa.bool_())])
        self.fixed = pa.concat_arrays([self.fixed, pa.array([c.ok and c.fixed for c in checks], pa.bool_())])
        self.checks.extend(checks)


class Pipeline:
    """Standardises chunks for one entity version."""

    def __init__(self, session: Session, entity: Entity, today: date | None = None):
        self.entity = entity
        self.fields = entity.fields
        lists = {f["codelist"] for f in entity.fields if f.get("codelist")} | {"communes_2025"}
        self.std = Standardiser(entity.fields, {c: codes_of(session, c) for c in lists}, today)
        self.known = {f["name"]: _Known.empty(ARROW_TYPES[f["type"]]) for f in entity.fields}
        self.counts = _Counts()
        self.names = {f["name"] for f in entity.fields}
        self.last_keep: pa.Array = pa.array([], pa.bool_())

    def _check(self, spec: dict[str, Any], value: str) -> Check:
        stripped = nfc(value.strip())
        found = self.std._check(spec, stripped) if stripped else Check(True, None)
        if found.ok and stripped != value:
            found = Check(True, found.value, True, found.rule, found.message, found.params, found.warning)
        return found

    def _lookup(self, spec: dict[str, Any], col: pa.Array) -> tuple[_Known, pa.Array]:
        """The field's checked distinct values (each value is checked once, across chunks) and, per row, the
        index of its value among them (null for an empty cell)."""
        known = self.known[spec["name"]]
        index = pc.index_in(col, value_set=known.raw)
        new = pc.unique(pc.filter(col, pc.and_(pc.is_null(index), pc.is_valid(col))))
        if len(new):
            if len(known.raw) + len(new) > CACHE_LIMIT:  # bounded memory: start again
                known = self.known[spec["name"]] = _Known.empty(known.values.type)
                new = pc.unique(pc.drop_null(col))
            checks = [self._check(spec, v) for v in new.to_pylist()]
            known.add(new, checks)
            index = pc.index_in(col, value_set=known.raw)
        return known, index

    def run(self, chunk: Chunk) -> tuple[pa.Table, list[dict[str, Any]]]:
        """(accepted rows with system columns missing, error report lines)."""
        table, n = chunk.table, chunk.table.num_rows
        c = self.counts
        c.total += n
        reject = pa.repeat(pa.scalar(False), n)
        any_fixed = pa.repeat(pa.scalar(False), n)
        out: dict[str, pa.Array] = {}
        errors: dict[str, tuple[pa.Array, list[Check | None], pa.Array]] = {}
        for spec in self.fields:
            name = spec["name"]
            col = table.column(name).combine_chunks() if n else pa.array([], pa.string())
            if not isinstance(col, pa.Array):
                col = pa.array(col, pa.string())
            col = pc.if_else(pc.equal(pc.utf8_trim_whitespace(col), ""), pa.scalar(None, pa.string()), col)
            if spec.get("rule") == "commune" and "address" in self.names:
                # A missing commune is taken from the address (2025 or legacy form), when it is unambiguous.
                address = table.column("address").combine_chunks()
                # Only the administrative part decides the commune: leading hamlet / house parts ("Thôn 2, ...")
                # are dropped so that each distinct place is parsed once, not once per hamlet.
                address = pc.replace_substring_regex(address, HAMLET, "")
                col = pc.if_else(pc.is_null(col), address, col)
            fast = self._fast(spec, col) if n else None
            known, indices = self._lookup(spec, pc.if_else(pc.is_null(fast[0]), col, None) if fast else col)
            checks = known.checks
            column = known.values.take(indices)
            is_null = pc.is_null(col)
            bad_rows = pc.fill_null(known.bad.take(indices), False)
            fixed_rows = pc.fill_null(known.fixed.take(indices), False)
            if fast:
                column = pc.coalesce(fast[0], column)
                fixed_rows = pc.or_(fixed_rows, pc.and_(pc.is_valid(fast[0]), fast[1]))
            filled = n - int(pc.sum(is_null).as_py() or 0)
            nbad = int(pc.sum(bad_rows).as_py() or 0)
            c.cells += filled
            c.valid_cells += filled - nbad
            if spec.get("rule") or spec.get("codelist"):
                c.governed_cells += filled
                c.conforming_cells += filled - nbad - int(pc.sum(fixed_rows).as_py() or 0)
            if spec.get("required"):
                c.required_cells += n
                c.required_filled += filled
                missing = is_null
                bad_rows = pc.or_(bad_rows, missing)
            reject = pc.or_(reject, bad_rows)
            any_fixed = pc.or_(any_fixed, fixed_rows)
            out[name] = column
            errors[name] = (bad_rows, checks, indices)
        contradiction = self._contradictions(out, n)
        if contradiction is not None:
            c.contradictions += int(pc.sum(contradiction).as_py() or 0)
            reject = pc.or_(reject, contradiction)
        if chunk.cell_errors:
            marked = [False] * n
            for i, *_ in chunk.cell_errors:
                marked[i] = True
            reject = pc.or_(reject, pa.array(marked, pa.bool_()))
        keep = pc.invert(reject)
        self.last_keep = keep
        accepted = pa.table(out).filter(keep)
        c.accepted += accepted.num_rows
        c.rejected += n - accepted.num_rows
        c.fixed += int(pc.sum(pc.and_(any_fixed, keep)).as_py() or 0)
        report = self._report(table, chunk, reject, errors, contradiction)
        return accepted, report

    def _fast(self, spec: dict[str, Any], col: pa.Array) -> tuple[pa.Array, pa.Array] | None:
        """Vectorised standardisation of the values already in a common, valid form (the rest, and every
        refusal, go through the kit.vn normalisers): (values or null, fixed)."""
        rule, kind = spec.get("rule"), spec["type"]
        null = pa.scalar(None, ARROW_TYPES[kind])
        if rule == "personal_id":
            ok = pc.fill_null(pc.match_substring_regex(col, r"^[0-9]{12}$"), False)
            safe = pc.if_else(ok, col, "000000000000")
            g = pc.cast(pc.utf8_slice_codeunits(safe, 3, 4), pa.int64())
            year = pc.add(
                pc.add(pc.multiply(pc.divide(g, 2), 100), 1900),
                pc.cast(pc.utf8_slice_codeunits(safe, 4, 6), pa.int64()),
            )
            known = pc.is_in(pc.utf8_slice_codeunits(safe, 0, 3), value_set=PROVINCES)
            ok = pc.and_(ok, pc.and_(known, pc.less_equal(year, self.std.today.year)))
            return pc.if_else(ok, col, null), pa.repeat(pa.scalar(False), len(col))
        if rule == "phone":
            ok = pc.fill_null(pc.match_substring_regex(col, r"^0[1-9][0-9]{8}$"), False)
            ok = pc.and_(ok, pc.is_in(pc.utf8_slice_codeunits(col, 1, 3), value_set=MOBILE))
            return pc.if_else(
                ok, pc.binary_join_element_wise("+84", pc.utf8_slice_codeunits(col, 1, 10), ""), null
            ), ok
        if rule == "date" or kind == "date":
            # dd/mm/yyyy (how Vietnamese documents write dates) and yyyy-mm-dd are both standard: not "fixed".
            values = pc.coalesce(
                self._fast_date(col, r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$", "%d/%m/%Y", 0, 3),
                self._fast_date(col, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "%Y-%m-%d", 8, 5),
            )
            return values, pa.repeat(pa.scalar(False), len(col))
        return None

    def _fast_date(self, col: pa.Array, pattern: str, fmt: str, day: int, month: int) -> pa.Array:
        ok = pc.fill_null(pc.match_substring_regex(col, pattern), False)
        written = pc.if_else(ok, col, None)
        stamps = pc.strptime(written, format=fmt, unit="s", error_is_null=True)
        # strptime rolls 31/02 over to 02/03: keep only dates whose day and month are the ones written
        same = pc.and_(
            pc.equal(pc.day(stamps), pc.cast(pc.utf8_slice_codeunits(written, day, day + 2), pa.int64())),
            pc.equal(
                pc.month(stamps), pc.cast(pc.utf8_slice_codeunits(written, month, month + 2), pa.int64())
            ),
        )
        parsed = pc.cast(stamps, pa.date32())
        in_range = pc.and_(
            pc.greater_equal(parsed, pa.scalar(date(1880, 1, 1), pa.date32())),
            pc.less_equal(parsed, pa.scalar(self.std.today, pa.date32())),
        )
        keep = pc.fill_null(pc.and_(same, in_range), False)
        return pc.if_else(keep, parsed, pa.scalar(None, pa.date32()))

    def _contradictions(self, out: dict[str, pa.Array], n: int) -> pa.Array | None:
        if not n or not {"personal_id", "birth_date", "sex"} <= set(out):
            return None
        pid = out["personal_id"]
        g = pc.cast(pc.utf8_slice_codeunits(pid, 3, 4), pa.int64(), safe=False)
        yy = pc.cast(pc.utf8_slice_codeunits(pid, 4, 6), pa.int64(), safe=False)
        year = pc.add(pc.add(pc.multiply(pc.divide(g, 2), 100), 1900), yy)
        sex = pc.if_else(pc.equal(pc.bit_wise_and(g, 1), 1), "F", "M")
        born = out["birth_date"]
        year_wrong = pc.fill_null(pc.not_equal(year, pc.year(born)), False)
        sex_wrong = pc.fill_null(pc.not_equal(sex, out["sex"]), False)
        return pc.or_(year_wrong, sex_wrong)

    def _report(
        self,
        table: pa.Table,
        chunk: Chunk,
        reject: pa.Array,
        errors: dict[str, tuple[pa.Array, list[Check | None], pa.Array]],
        contradiction: pa.Array | None,
    ) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for row, text in chunk.malformed:
            lines.append(
                self._line(row, "", text, "row_malformed", "The row does not have the file's columns")
            )
            self.counts.total += 1
            self.counts.rejected += 1
        read_errors: dict[tuple[int, str], tuple[str, str, str, dict[str, Any]]] = {
            (i, name): (value, rule, message, params)
            for i, name, value, rule, message, params in chunk.cell_errors
        }
        rows = pc.indices_nonzero(reject).to_pylist() if table.num_rows else []
        for i in rows:
            for spec in self.fields:
                name = spec["name"]
                bad_rows, checks, indices = errors[name]
                if (i, name) in read_errors:
                    value, rule, message, params = read_errors[i, name]
                    lines.append(self._line(chunk.rows[i], name, value, rule, message, params))
                    continue
                if not bad_rows[i].as_py():
                    continue
                raw = table.column(name)[i].as_py()
                idx = indices[i].as_py()
                check = checks[idx] if idx is not None else None
                if check is None or check.ok:
                    lines.append(
                        self._line(
                            chunk.rows[i],
                            name,
                            raw,
                            "required",
                            "Required field {field} is empty",
                            {"field": name},
                        )
                    )
                else:
                    lines.append(
                        self._line(
                            chunk.rows[i],
                            name,
                            raw,
                            check.rule or "invalid",
                            check.message or "",
                            check.params,
                        )
                    )
            if contradiction is not None and contradiction[i].as_py():
                raw = table.column("personal_id")[i].as_py()
                lines.append(
                    self._line(
                        chunk.rows[i], "personal_id", raw, "personal_id_contradiction",
                        "The personal identification number does not match the birth year or sex",
                    )
                )  # fmt: skip
        return lines

    @staticmethod
    def _line(
        row: int, column: str, value: Any, rule: str, message: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        params = params or {}
        return {
            "row": row,
            "field": column,
            "value": value,
            "rule": rule,
            "message_vi": gettext(message, "vi", **params),
            "message_en": gettext(message, "en", **params),
        }


def quality_of(counts: _Counts, duplicates: int) -> dict[str, float | None]:
    """The batch's quality scores (0-1); see docs/data.md for the definitions."""

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    scores: dict[str, float | None] = {
        "dung": ratio(counts.valid_cells, counts.cells),
        "du": ratio(counts.required_filled, counts.required_cells),
        "sach": ratio(max(counts.total - duplicates - counts.contradictions, 0), counts.total),
        "song": 1.0,
        "thong_nhat": ratio(counts.conforming_cells, counts.governed_cells),
    }
    present = [v for v in scores.values() if v is not None]
    scores["overall"] = round(sum(present) / len(present), 4) if present else None
    return scores


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
    report_path = reports_dir() / f"{batch_id}.csv"
    try:
        with warehouse.writer(wh_path) as wh:
            cur = wh.con
            with report_path.open("w", encoding="utf-8-sig", newline="") as rfh:
                writer = csv.DictWriter(rfh, ["row", "field", "value", "rule", "message_vi", "message_en"])
                writer.writeheader()
                warehouse.ensure_table(cur, table, columns_of(entity))
                # Batches whose process stopped are closed, and rows of batches that never finished (a crash
                # between publishing and recording) go; read under the write lock, so no other load is between
                # publishing and recording now.
                close_orphans(db)
                with db.transaction() as session:
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

                def insert(accepted: pa.Table) -> None:
                    cur.register("incoming", accepted)
                    cur.execute(
                        f"INSERT INTO {warehouse.quote(table)} BY NAME SELECT *, ?::VARCHAR AS _batch_id, "
                        "?::VARCHAR AS _source, now()::TIMESTAMP AS _ingested_at FROM incoming",
                        [batch_id, source],
                    )
                    cur.unregister("incoming")

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
        error = str(getattr(exc, "message", None) and exc) or repr(exc)
        _mark_failed(db, batch_id, ("running", "failed"), error, principal)
        raise
    return batch


def _finish(
    db: Database,
    batch_id: str,
    counts: _Counts,
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
    """Mark as failed the batches recorded as running whose lock no process holds (the process loading them
    stopped: a restart, a crash). Nothing of theirs is in the warehouse unless published, and the next load of the
    table removes rows of batches that are not done. Returns how many were closed."""
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
            error = "interrupted: the process loading this file stopped before it finished"
            closed += _mark_failed(db, batch_id, ("running",), error)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return closed


def _progress(db: Database, batch_id: str, counts: _Counts, bytes_done: int) -> None:
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
