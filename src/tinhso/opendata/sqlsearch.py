"""datastore_search_sql: one SELECT over DataStore tables, run in a throw-away in-memory DuckDB.

The tables the statement names (by resource id, quoted) are copied into the DuckDB connection, external
access is switched off and the configuration locked before the caller's SQL runs, so the statement can read
nothing but those copies and change nothing in the platform's database. Off unless enabled.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity.principal import Principal
from tinhso.kit.errors import Forbidden
from tinhso.opendata import datastore, service
from tinhso.opendata.config import get_opendata_settings
from tinhso.opendata.errors import SearchQueryError, ValidationFailed
from tinhso.opendata.models import Resource

ROWS_MAX = 32_000
_DUCK_TYPES = {"int": "BIGINT", "numeric": "DOUBLE", "bool": "BOOLEAN", "date": "VARCHAR", "text": "VARCHAR"}


def run(session: Session, principal: Principal | None, sql: str) -> dict[str, Any]:
    settings = get_opendata_settings()
    if not settings.sql_enabled:
        raise Forbidden("opendata_sql_disabled", "datastore_search_sql is not enabled on this portal")
    if len(sql) > 10_000:
        raise ValidationFailed({"sql": ["The statement is too long"]})
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SearchQueryError(detail=str(exc).splitlines()[0]) from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ValidationFailed({"sql": ["Only a single SELECT statement is allowed"]})
    ids = set(re.findall(r'"([0-9a-f]{32})"', sql))
    if not ids:
        raise ValidationFailed(
            {"sql": ['Name the tables by resource id in double quotes, e.g. "<resource id>"']}
        )
    resources = list(session.scalars(select(Resource).where(Resource.id.in_(ids))))
    if len(resources) != len(ids):
        raise ValidationFailed({"sql": ["A named resource does not exist"]})
    con = duckdb.connect(":memory:")
    try:
        for res in resources:
            service.get_resource(session, res.id, principal)
            if not res.datastore_active:
                raise ValidationFailed({"sql": [f"Resource {res.id} has no DataStore table"]})
            if res.row_count > settings.sql_max_source_rows:
                raise ValidationFailed(
                    {"sql": [f"Resource {res.id} is too large for SQL ({res.row_count} rows)"]}
                )
            cols = ", ".join(f'"{f["id"]}" {_DUCK_TYPES.get(f["type"], "VARCHAR")}' for f in res.fields)
            con.execute(f'CREATE TABLE "{res.id}" ("_id" BIGINT, {cols})')
            names = ["_id"] + [f["id"] for f in res.fields]
            batch: list[list[Any]] = []
            placeholders = ", ".join("?" for _ in names)
            for row in datastore.iter_rows(session, res):
                batch.append([row.get(n) for n in names])
                if len(batch) >= 5000:
                    con.executemany(f'INSERT INTO "{res.id}" VALUES ({placeholders})', batch)
                    batch = []
            if batch:
                con.executemany(f'INSERT INTO "{res.id}" VALUES ({placeholders})', batch)
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description or []]
            rows = cursor.fetchmany(ROWS_MAX + 1)
        except duckdb.Error as exc:
            raise SearchQueryError(detail=str(exc).splitlines()[0]) from None
    finally:
        con.close()
    out: dict[str, Any] = {
        "sql": sql,
        "fields": [{"id": n, "type": "text"} for n in names],
        "records": [dict(zip(names, r, strict=False)) for r in rows[:ROWS_MAX]],
    }
    if len(rows) > ROWS_MAX:
        out["records_truncated"] = True
    return out
