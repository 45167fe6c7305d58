"""The data module's stable interface for other modules (open data, procedures, governance).

- `warehouse_tables(session)`: the warehouse's tables with their columns and classification;
- `read_rows(session, table, columns, limit, offset)`: rows of one table;
- `aggregate(session, table, group_by, measure)`: counts or sums per group (the open-data portal applies its own
  small-count suppression);
- the event `data.warehouse.updated` {"table", "rows"} is published whenever a table changes;
- `lookup_record(session, registry, key_field, key, principal, purpose)`: one registry record, audited as a
  personal-data read with purpose and subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.data import warehouse
from tinhso.data.models import WarehouseTable as TableRow
from tinhso.kit import events
from tinhso.kit.errors import BadRequest, NotFound

UPDATED_TOPIC = "data.warehouse.updated"
MAX_READ = 10_000


@dataclass
class WarehouseColumn:
    name: str
    type: str
    classification: str  # public, internal, personal, sensitive
    label_vi: str
    label_en: str


@dataclass
class WarehouseTable:
    name: str
    entity: str
    title_vi: str
    title_en: str
    row_count: int
    updated_at: datetime | None
    columns: list[WarehouseColumn] = field(default_factory=list)


def _columns(row: TableRow) -> list[WarehouseColumn]:
    return [
        WarehouseColumn(c["name"], c["type"], c["classification"], c["label_vi"], c["label_en"])
        for c in row.columns
    ]


def _table(row: TableRow) -> WarehouseTable:
    return WarehouseTable(
        row.name, row.entity, row.title_vi, row.title_en, row.row_count, row.updated_at, _columns(row)
    )


def warehouse_tables(session: Session) -> list[WarehouseTable]:
    """Every warehouse table, by name."""
    return [_table(r) for r in session.scalars(select(TableRow).order_by(TableRow.name))]


def get_table(session: Session, table: str) -> TableRow:
    row = session.get(TableRow, table) if warehouse.IDENT.match(table or "") else None
    if row is None:
        raise NotFound("warehouse_table_not_found", "Warehouse table {table} not found", table=table)
    return row


def _check_columns(row: TableRow, columns: list[str]) -> list[str]:
    known = [c["name"] for c in row.columns]
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise BadRequest(
            "warehouse_column_not_found",
            "Unknown column(s) in {table}: {columns}",
            table=row.name,
            columns=", ".join(unknown),
        )
    return columns


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def read_rows(
    session: Session, table: str, columns: list[str] | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Rows of one table in a stable order (by the table's columns), as plain JSON-ready dicts."""
    row = get_table(session, table)
    names = _check_columns(row, columns) if columns else [c["name"] for c in row.columns]
    if not names:
        return []
    limit, offset = max(0, min(int(limit), MAX_READ)), max(0, int(offset))
    cols = ", ".join(warehouse.quote(n) for n in names)
    order = ", ".join(warehouse.quote(c["name"]) for c in row.columns)
    with warehouse.reader(warehouse.path_for(session)) as cur:
        if not warehouse.table_exists(cur, table):
            return []
        result = cur.execute(
            f"SELECT {cols} FROM {warehouse.quote(table)} ORDER BY {order} LIMIT ? OFFSET ?", [limit, offset]
        ).fetchall()
    return [{n: _plain(v) for n, v in zip(names, r, strict=True)} for r in result]


def aggregate(
    session: Session, table: str, group_by: list[str], measure: str = "count"
) -> list[dict[str, Any]]:
    """[{<group columns>..., "value": n}] for measure "count" or "sum:<column>", ordered by the groups."""
    row = get_table(session, table)
    groups = _check_columns(row, list(group_by))
    if measure == "count":
        expr = "count(*)"
    elif measure.startswith("sum:"):
        column = measure[4:]
        _check_columns(row, [column])
        kind = next(c["type"] for c in row.columns if c["name"] == column)
        if kind not in ("integer", "number"):
            raise BadRequest("warehouse_measure_not_numeric", "Column {column} is not numeric", column=column)
        expr = f"coalesce(sum({warehouse.quote(column)}), 0)"
    else:
        raise BadRequest("warehouse_measure_unknown", "Unknown measure {measure}", measure=measure)
    cols = ", ".join(warehouse.quote(g) for g in groups)
    select_list = f"{cols}, {expr}" if groups else expr
    group = f" GROUP BY {cols} ORDER BY {cols}" if groups else ""
    with warehouse.reader(warehouse.path_for(session)) as cur:
        if not warehouse.table_exists(cur, table):
            return []
        result = cur.execute(f"SELECT {select_list} FROM {warehouse.quote(table)}{group}").fetchall()
    out = []
    for r in result:
        item = {g: _plain(v) for g, v in zip(groups, r[:-1], strict=True)}
        value = r[-1]
        item["value"] = int(value) if isinstance(value, int) or float(value).is_integer() else float(value)
        out.append(item)
    return out


def register_table(
    session: Session,
    name: str,
    entity: str,
    title_vi: str,
    title_en: str,
    columns: list[dict[str, Any]],
    row_count: int,
    agency_code: str | None = None,
) -> TableRow:
    """Record (or update) a table's metadata after its rows changed, and publish `data.warehouse.updated`."""
    warehouse.check_ident(name)
    row = session.get(TableRow, name) or TableRow(name=name)
    row.entity, row.title_vi, row.title_en = entity, title_vi, title_en
    row.columns = [
        {k: c[k] for k in ("name", "type", "classification", "label_vi", "label_en")} for c in columns
    ]
    row.row_count, row.agency_code = row_count, agency_code
    from tinhso.kit.db import utcnow

    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    events.publish(session, UPDATED_TOPIC, {"table": name, "rows": row_count}, key=name)
    return row


def lookup_record(
    session: Session, registry: str, key_field: str, key: str, principal: Any, purpose: str
) -> dict[str, Any] | None:
    """One registry record's data, or None; audited as a personal-data read (purpose, subject)."""
    from tinhso.data import registries

    reg = registries.get_registry(session, registry)
    record = registries.record_by_key(session, reg, key_field, key)
    if record is None:
        if not registries.can_read(session, principal, reg) and not (
            principal.personal_id and key_field == reg.key_field and key == principal.personal_id
        ):
            raise registries.Forbidden(
                "registry_read_forbidden", "Your agency may not read registry {code}", code=reg.code
            )
        return None
    return registries.read_audited(session, principal, reg, record, purpose)
