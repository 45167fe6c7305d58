"""Downloads of DataStore tables in CSV, JSON, XLSX and Parquet; CSV and XLSX cells are injection-safe."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from tinhso.opendata import datastore
from tinhso.opendata.models import Resource

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def _names(resource: Resource) -> list[str]:
    return [f["id"] for f in resource.fields]


def csv_chunks(session: Session, resource: Resource, bom: bool = True) -> Iterator[bytes]:
    names = _names(resource)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(names)
    yield (("\ufeff" if bom else "") + buffer.getvalue()).encode()
    buffer.seek(0)
    buffer.truncate()
    for i, row in enumerate(datastore.iter_rows(session, resource), start=1):
        writer.writerow([safe_cell(row.get(n)) for n in names])
        if i % 2000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def as_json(session: Session, resource: Resource) -> bytes:
    names = _names(resource)
    records = [{n: row.get(n) for n in names} for row in datastore.iter_rows(session, resource)]
    return json.dumps({"fields": resource.fields, "records": records}, ensure_ascii=False).encode()


def as_xlsx(session: Session, resource: Resource) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title="data")
    names = _names(resource)
    ws.append(names)
    for row in datastore.iter_rows(session, resource):
        ws.append([safe_cell(row.get(n)) for n in names])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def as_parquet(session: Session, resource: Resource) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"int": pa.int64(), "numeric": pa.float64(), "bool": pa.bool_()}
    names = _names(resource)
    columns: dict[str, list[Any]] = {n: [] for n in names}
    for row in datastore.iter_rows(session, resource):
        for n in names:
            columns[n].append(row.get(n))
    schema = pa.schema([(f["id"], types.get(f["type"], pa.string())) for f in resource.fields])
    arrays = []
    for f in resource.fields:
        values = columns[f["id"]]
        if f["type"] == "int":
            values = [None if v is None else int(v) for v in values]
        elif f["type"] == "numeric":
            values = [None if v is None else float(v) for v in values]
        elif f["type"] not in ("bool",):
            values = [None if v is None else str(v) for v in values]
        arrays.append(pa.array(values, type=schema.field(f["id"]).type))
    out = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), out)
    return out.getvalue()
