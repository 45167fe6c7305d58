"""DataStore: a resource's tabular data, kept row by row in `opendata_datastore_row` (JSON per row).

Reads use the JSON functions both databases have (SQLAlchemy renders `json_extract` on SQLite and `->>` on
PostgreSQL), paging walks the (resource_id, row_no) primary key, and the row count is kept on the resource so
an unfiltered page never counts a million rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, cast, delete, func, insert, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from tinhso.kit.db import utcnow
from tinhso.kit.text import fold
from tinhso.opendata.errors import ValidationFailed, invalid
from tinhso.opendata.models import DatastoreRow, Resource

DEFAULT_LIMIT = 100
MAX_LIMIT = 32_000
MAX_CSV_ROWS = 200_000
TYPES = ("int", "numeric", "text", "date", "bool")


def _kind(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "numeric"
    text = str(value).strip()
    if re.fullmatch(r"-?\d{1,15}", text):
        return "int"
    if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text):
        return "numeric"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return "date"
    return "text"


def infer_fields(columns: list[str], rows: list[dict[str, Any]], sample: int = 2000) -> list[dict[str, Any]]:
    fields = []
    for col in columns:
        kinds = {_kind(r.get(col)) for r in rows[:sample]} - {""}
        if not kinds:
            kind = "text"
        elif kinds == {"int"}:
            kind = "int"
        elif kinds <= {"int", "numeric"}:
            kind = "numeric"
        elif len(kinds) == 1:
            kind = kinds.pop()
        else:
            kind = "text"
        fields.append({"id": col, "type": kind, "info": {}})
    return fields


def coerce(value: Any, kind: str) -> Any:
    if value is None or value == "":
        return None
    try:
        if kind == "int":
            return int(value)
        if kind == "numeric":
            return float(value)
        if kind == "bool":
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "có")
    except (TypeError, ValueError):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value if isinstance(value, str) else str(value) if kind == "text" else value


def replace_rows(
    session: Session, resource: Resource, fields: list[dict[str, Any]], rows: Iterable[dict[str, Any]]
) -> int:
    """Replace the resource's DataStore table in the caller's transaction."""
    session.execute(delete(DatastoreRow).where(DatastoreRow.resource_id == resource.id))
    kinds = {f["id"]: f["type"] for f in fields}
    batch: list[dict[str, Any]] = []
    count = 0
    for row in rows:
        count += 1
        data = {k: coerce(row.get(k), kinds[k]) for k in kinds}
        text = fold(" ".join(str(v) for v in data.values() if isinstance(v, str)))
        batch.append({"resource_id": resource.id, "row_no": count, "data": data, "search_text": text})
        if len(batch) >= 5000:
            session.execute(insert(DatastoreRow), batch)
            batch = []
    if batch:
        session.execute(insert(DatastoreRow), batch)
    resource.fields = fields
    resource.row_count = count
    resource.datastore_active = True
    resource.last_modified = utcnow()
    session.flush()
    return count


def load_csv(session: Session, resource: Resource, content: bytes) -> int:
    """Load an uploaded CSV into the DataStore (header row required), typing columns from their values."""
    text = content.decode("utf-8-sig")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = [c.strip() for c in (reader.fieldnames or []) if c and c.strip()]
    if not columns or len(set(columns)) != len(columns) or any(c.startswith("_") for c in columns):
        raise invalid("upload", "the CSV needs a header row of distinct names not starting with '_'")
    rows = []
    for i, row in enumerate(reader):
        if i >= MAX_CSV_ROWS:
            raise invalid("upload", f"the CSV has more than {MAX_CSV_ROWS} rows")
        rows.append({c: (row.get(c) or "").strip() for c in columns})
    return replace_rows(session, resource, infer_fields(columns, rows), rows)


def _value(field: dict[str, Any]) -> Any:
    col = DatastoreRow.data[field["id"]]
    if field["type"] in ("int", "numeric"):
        return col.as_float()
    if field["type"] == "bool":
        return col.as_boolean()
    return col.as_string()


def _list(value: Any, name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise invalid(name, "must be a list of field names or a comma-separated string")


def search(
    session: Session,
    resource: Resource,
    *,
    filters: dict[str, Any] | None = None,
    q: str | dict[str, Any] | None = None,
    fields: Any = None,
    sort: str | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    include_total: bool = True,
) -> dict[str, Any]:
    """CKAN's datastore_search over one resource: records as dicts with `_id`, fields, total."""
    known = {f["id"]: f for f in resource.fields}
    dialect = session.get_bind().dialect.name
    selected = _list(fields, "fields") or list(known)
    unknown = [f for f in selected if f not in known and f != "_id"]
    if unknown:
        raise ValidationFailed({"fields": [f"field '{f}' not in table" for f in unknown]})
    conds: list[ColumnElement[bool]] = [DatastoreRow.resource_id == resource.id]
    if filters:
        if not isinstance(filters, dict):
            raise invalid("filters", "must be a JSON object of field: value")
        for name, wanted in filters.items():
            if name == "_id":
                values = wanted if isinstance(wanted, list) else [wanted]
                try:
                    conds.append(DatastoreRow.row_no.in_([int(v) for v in values]))
                except (TypeError, ValueError):
                    raise invalid("filters", "_id must be an integer") from None
                continue
            if name not in known:
                raise ValidationFailed({"filters": [f"field '{name}' not in table"]})
            field = known[name]
            values = wanted if isinstance(wanted, list) else [wanted]
            conds.append(or_(*[_equals(field, v, dialect) for v in values]))
    if q:
        if isinstance(q, dict):
            for name, text in q.items():
                if name not in known:
                    raise ValidationFailed({"q": [f"field '{name}' not in table"]})
                conds.append(func.lower(_value({"id": name, "type": "text"})).contains(str(text).lower()))
        else:
            for word in fold(str(q)).split()[:16]:
                conds.append(DatastoreRow.search_text.contains(word, autoescape=True))
    order = []
    for part in (sort or "").split(","):
        words = part.split()
        if not words:
            continue
        name = words[0].strip('"')
        direction = words[1].lower() if len(words) > 1 else "asc"
        if len(words) > 2 or direction not in ("asc", "desc") or (name not in known and name != "_id"):
            raise ValidationFailed({"sort": [f"cannot sort by '{part.strip()}'"]})
        column = DatastoreRow.row_no if name == "_id" else _value(known[name])
        order.append(column.desc() if direction == "desc" else column.asc())
    order.append(DatastoreRow.row_no.asc())
    stmt = select(DatastoreRow.row_no, DatastoreRow.data).where(and_(*conds))
    rows = session.execute(stmt.order_by(*order).limit(limit).offset(offset)).all()
    records = []
    for row_no, data in rows:
        record: dict[str, Any] = {"_id": row_no} if "_id" in selected or not fields else {}
        for name in selected:
            if name != "_id":
                record[name] = data.get(name)
        records.append(record)
    total: int | None = None
    if include_total:
        if len(conds) == 1:
            total = resource.row_count
        else:
            total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    out_fields = ([{"id": "_id", "type": "int"}] if "_id" in selected or not fields else []) + [
        {"id": n, "type": known[n]["type"], "info": known[n].get("info", {})} for n in selected if n != "_id"
    ]
    return {"fields": out_fields, "records": records, "total": total, "limit": limit, "offset": offset}


def _equals(field: dict[str, Any], value: Any, dialect: str = "sqlite") -> ColumnElement[bool]:
    """`field = value`; on PostgreSQL as JSONB containment, which the GIN index on `data` answers."""
    kind = field["type"]
    if kind in ("int", "numeric"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValidationFailed(
                {"filters": [f"'{value}' is not a number for field '{field['id']}'"]}
            ) from None
        typed: Any = int(number) if number.is_integer() else number
    elif kind == "bool":
        typed = str(value).lower() in ("1", "true", "yes")
    else:
        typed = str(value)
    if dialect == "postgresql":
        return DatastoreRow.data.op("@>")(cast({field["id"]: typed}, JSONB))
    return _value(field) == typed


def iter_rows(session: Session, resource: Resource, batch: int = 5000) -> Iterable[dict[str, Any]]:
    """Every record of the resource in `_id` order, fetched in keyset batches."""
    last = 0
    names = [f["id"] for f in resource.fields]
    while True:
        chunk = session.execute(
            select(DatastoreRow.row_no, DatastoreRow.data)
            .where(DatastoreRow.resource_id == resource.id, DatastoreRow.row_no > last)
            .order_by(DatastoreRow.row_no)
            .limit(batch)
        ).all()
        if not chunk:
            return
        for row_no, data in chunk:
            yield {"_id": row_no, **{n: data.get(n) for n in names}}
        last = chunk[-1][0]
