"""DataStore: each resource's tabular data in a table of its own with typed, indexed columns (as CKAN does).

A resource's table is `opendata_ds_<resource id>_<generation>`: `_id` (the row number, primary key), `_text`
(the row's folded text, for `q`) and one column per field, `c0`, `c1`, … in the order of `resource.fields`
(positional names, so any Vietnamese field name is safe), typed int / numeric / text / date (ISO text) / bool,
each with an index so filters and sorts are index lookups on SQLite and PostgreSQL alike. Replacing the data
builds a new generation and drops the old one in the caller's transaction (DDL is transactional on both
databases), so readers see the old table or the new one, never half of either. The row count is kept on the
resource so an unfiltered page never counts a million rows. The tables are not in the ORM metadata: the
resource row points at its table (`datastore_table`), and tables no resource points at are dropped.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from tinhso.kit.db import utcnow
from tinhso.kit.text import fold
from tinhso.opendata.errors import ValidationFailed, invalid
from tinhso.opendata.models import Resource

PREFIX = "opendata_ds_"
FTS_PREFIX = "opendata_dq_"  # SQLite: the FTS5 word index of a DataStore table
INDEXED_COLUMNS = 24  # columns beyond this many are stored but not indexed
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


_SQL_TYPES: dict[str, Any] = {"int": BigInteger, "numeric": Float, "bool": Boolean}


def _table(name: str, fields: list[dict[str, Any]]) -> Table:
    return _typed_table(name, tuple(f["type"] for f in fields))


@lru_cache(maxsize=256)
def _typed_table(name: str, types: tuple[str, ...]) -> Table:
    """One Table object per DataStore table and shape, so its statements hit SQLAlchemy's compiled cache
    (a new Table object per request would compile every query anew and fill the cache with copies)."""
    cols: list[Any] = [Column("_id", Integer, primary_key=True, autoincrement=False), Column("_text", Text)]
    cols += [Column(f"c{i}", _SQL_TYPES.get(kind, Text)) for i, kind in enumerate(types)]
    return Table(name, MetaData(), *cols)


def table_for(resource: Resource) -> Table:
    """The resource's current DataStore table (as a Core table for queries)."""
    if not resource.datastore_table:
        raise ValidationFailed({"resource_id": ["this resource has no DataStore table"]})
    return _table(resource.datastore_table, resource.fields)


def _column(table: Table, resource: Resource, name: str) -> Any:
    if name == "_id":
        return table.c["_id"]
    index = next(i for i, f in enumerate(resource.fields) if f["id"] == name)
    return table.c[f"c{index}"]


def replace_rows(
    session: Session, resource: Resource, fields: list[dict[str, Any]], rows: Iterable[dict[str, Any]]
) -> int:
    """Replace the resource's DataStore table in the caller's transaction: a new table, then the swap."""
    conn = session.connection()
    name = f"{PREFIX}{resource.id}_{secrets.token_hex(3)}"[:63]
    table = _table(name, fields)
    table.create(conn)
    kinds = [(f"c{i}", f["id"], f["type"]) for i, f in enumerate(fields)]
    batch: list[dict[str, Any]] = []
    count = 0
    for row in rows:
        count += 1
        record: dict[str, Any] = {"_id": count}
        texts = []
        for col, key, kind in kinds:
            value = coerce(row.get(key), kind)
            if kind in ("text", "date") and value is not None and not isinstance(value, str):
                value = str(value)
            if isinstance(value, str):
                texts.append(value)
            elif kind in ("int", "numeric") and not isinstance(value, (int, float)) and value is not None:
                value = None  # not a number: CKAN's DataStore would refuse the row; we keep the row
            record[col] = value
        record["_text"] = fold(" ".join(texts))
        batch.append(record)
        if len(batch) >= 5000:
            conn.execute(insert(table), batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)
    for i in range(min(len(fields), INDEXED_COLUMNS)):
        Index(f"ix_{name}_c{i}", table.c[f"c{i}"]).create(conn)
    _index_text(conn, name)
    old = resource.datastore_table
    resource.datastore_table = name
    resource.fields = fields
    resource.row_count = count
    resource.datastore_active = True
    resource.last_modified = utcnow()
    session.flush()
    if old:
        _drop(session, old)
    return count


def _fts_name(name: str) -> str:
    return FTS_PREFIX + name[len(PREFIX) :]


def _index_text(conn: Any, name: str) -> None:
    """Word search over `_text`: a GIN index on its tsvector (PostgreSQL) or an FTS5 index (SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"CREATE INDEX ix_{name}_text ON {name} USING gin (to_tsvector('simple', _text))"
        )
    else:
        fts = _fts_name(name)
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE {fts} USING fts5(_text, content='{name}', content_rowid='_id')"
        )
        conn.exec_driver_sql(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def _words(table: Table, dialect: str, words: list[str]) -> ColumnElement[bool]:
    """Rows holding every (folded) word, answered by the text index."""
    if dialect == "postgresql":
        query = func.plainto_tsquery("simple", " ".join(words))
        return func.to_tsvector("simple", table.c["_text"]).op("@@")(query)
    match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
    fts = _fts_name(table.name)
    return table.c["_id"].in_(
        text(f"SELECT rowid FROM {fts} WHERE {fts} MATCH :match").bindparams(match=match)
    )


def _drop(session: Session, name: str) -> None:
    if name.startswith(PREFIX) and re.fullmatch(r"[a-z0-9_]+", name):
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_fts_name(name)}")
        Table(name, MetaData()).drop(conn, checkfirst=True)


def drop_table(session: Session, resource: Resource) -> None:
    """Drop the resource's DataStore table (the resource is being deleted) in the caller's transaction."""
    if resource.datastore_table:
        _drop(session, resource.datastore_table)
        resource.datastore_table = None
        resource.datastore_active = False


def drop_orphans(session: Session) -> int:
    """Drop DataStore tables no resource points at (a resource removed with its dataset); returns how many."""
    names = {n for n in inspect(session.connection()).get_table_names() if n.startswith(PREFIX)}
    used = set(session.scalars(select(Resource.datastore_table).where(Resource.datastore_table.is_not(None))))
    for name in sorted(names - used):
        _drop(session, name)
    return len(names - used)


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
    selected = _list(fields, "fields") or list(known)
    unknown = [f for f in selected if f not in known and f != "_id"]
    if unknown:
        raise ValidationFailed({"fields": [f"field '{f}' not in table" for f in unknown]})
    table = table_for(resource)
    conds: list[ColumnElement[bool]] = []
    if filters:
        if not isinstance(filters, dict):
            raise invalid("filters", "must be a JSON object of field: value")
        for name, wanted in filters.items():
            if name == "_id":
                values = wanted if isinstance(wanted, list) else [wanted]
                try:
                    conds.append(table.c["_id"].in_([int(v) for v in values]))
                except (TypeError, ValueError):
                    raise invalid("filters", "_id must be an integer") from None
                continue
            if name not in known:
                raise ValidationFailed({"filters": [f"field '{name}' not in table"]})
            column = _column(table, resource, name)
            values = wanted if isinstance(wanted, list) else [wanted]
            conds.append(or_(*[column == _typed(known[name], v) for v in values]))
    if q:
        if isinstance(q, dict):
            for name, wanted_text in q.items():
                if name not in known:
                    raise ValidationFailed({"q": [f"field '{name}' not in table"]})
                column = _column(table, resource, name)
                conds.append(func.lower(column).contains(str(wanted_text).lower(), autoescape=True))
        else:
            words = fold(str(q)).split()[:16]
            if words:
                conds.append(_words(table, session.get_bind().dialect.name, words))
    order = []
    for part in (sort or "").split(","):
        if not part.strip():
            continue
        # `field`, `field desc`, or a quoted name with spaces: `"dân số" desc` (CKAN's syntax)
        m = re.fullmatch(r'\s*(?:"([^"]+)"|(\S+))(?:\s+(\w+))?\s*', part)
        name = (m.group(1) or m.group(2)) if m else ""
        direction = (m.group(3) or "asc").lower() if m else ""
        if direction not in ("asc", "desc") or (name not in known and name != "_id"):
            raise ValidationFailed({"sort": [f"cannot sort by '{part.strip()}'"]})
        column = _column(table, resource, name)
        order.append(column.desc() if direction == "desc" else column.asc())
    order.append(table.c["_id"].asc())
    names = [n for n in selected if n != "_id"]
    stmt = select(table.c["_id"], *[_column(table, resource, n) for n in names]).where(and_(*conds))
    if not conds and len(order) == 1 and offset:
        # `_id` runs 1..row_count without gaps: a deep page of the whole table is a keyset seek, not a walk.
        rows = session.execute(stmt.where(table.c["_id"] > offset).order_by(*order).limit(limit)).all()
    else:
        rows = session.execute(stmt.order_by(*order).limit(limit).offset(offset)).all()
    with_id = "_id" in selected or not fields
    records = []
    for row in rows:
        record: dict[str, Any] = {"_id": row[0]} if with_id else {}
        for i, name in enumerate(names, start=1):
            record[name] = row[i]
        records.append(record)
    total: int | None = None
    if include_total:
        if not conds:
            total = resource.row_count
        else:
            total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    out_fields = ([{"id": "_id", "type": "int"}] if with_id else []) + [
        {"id": n, "type": known[n]["type"], "info": known[n].get("info", {})} for n in names
    ]
    return {"fields": out_fields, "records": records, "total": total, "limit": limit, "offset": offset}


def _typed(field: dict[str, Any], value: Any) -> Any:
    """A filter value in the field's type (a number for a number column; CKAN refuses the others)."""
    kind = field["type"]
    if kind in ("int", "numeric"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValidationFailed(
                {"filters": [f"'{value}' is not a number for field '{field['id']}'"]}
            ) from None
        return int(number) if number.is_integer() else number
    if kind == "bool":
        return str(value).lower() in ("1", "true", "yes")
    return str(value)


def iter_rows(session: Session, resource: Resource, batch: int = 5000) -> Iterable[dict[str, Any]]:
    """Every record of the resource in `_id` order, fetched in keyset batches."""
    table = table_for(resource)
    names = [f["id"] for f in resource.fields]
    columns = [table.c[f"c{i}"] for i in range(len(names))]
    last = 0
    while True:
        chunk = session.execute(
            select(table.c["_id"], *columns)
            .where(table.c["_id"] > last)
            .order_by(table.c["_id"])
            .limit(batch)
        ).all()
        if not chunk:
            return
        for row in chunk:
            yield {"_id": row[0], **dict(zip(names, row[1:], strict=True))}
        last = chunk[-1][0]
