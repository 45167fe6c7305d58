"""Read-only analytics over the warehouse: one SELECT, only warehouse tables, no table functions or file access,
a time limit, a row cap, and personal/sensitive columns masked unless the caller's role allows."""

from __future__ import annotations

import json
import threading
from typing import Any

from sqlalchemy.orm import Session

from tinhso.data import warehouse
from tinhso.data.warehouse_api import get_table, warehouse_tables
from tinhso.kit.errors import BadRequest, Forbidden

MASK = "***"
PRIVILEGED = ("platform_admin",)
FORBIDDEN_FUNCTIONS = {"getenv", "current_setting", "read_text", "read_blob", "glob", "query", "query_table"}


def _walk(node: Any, path: tuple[str, ...] = ()) -> Any:
    if isinstance(node, dict):
        yield node, path
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, path)


def analyse(cur: Any, sql: str, allowed: set[str]) -> dict[str, Any]:
    """Refuse anything but one SELECT over warehouse tables; return the parsed tree."""
    try:
        statements = cur.extract_statements(sql)
    except Exception as exc:  # noqa: BLE001 - duckdb parser errors
        raise BadRequest(
            "query_syntax", "The query is not valid SQL: {reason}", reason=str(exc)[:300]
        ) from exc
    if len(statements) != 1:
        raise BadRequest("query_one_statement", "Send exactly one SELECT statement")
    if statements[0].type.name != "SELECT":
        raise Forbidden("query_not_select", "Only SELECT statements are allowed")
    tree = json.loads(cur.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if tree.get("error"):
        raise BadRequest(
            "query_syntax", "The query is not valid SQL: {reason}", reason=tree.get("error_message", "")
        )
    ctes: set[str] = set()
    for node, _ in _walk(tree):
        if isinstance(node.get("cte_map"), dict):
            ctes |= {str(m.get("key")) for m in node["cte_map"].get("map", []) if isinstance(m, dict)}
    for node, _ in _walk(tree):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            raise Forbidden("query_table_function", "Table functions are not allowed in warehouse queries")
        if kind == "BASE_TABLE":
            name = node.get("table_name", "")
            if (
                node.get("schema_name")
                or node.get("catalog_name")
                or (name not in allowed and name not in ctes)
            ):
                raise Forbidden(
                    "query_table_not_allowed", "Table {table} is not a warehouse table", table=name
                )
        if (
            node.get("class") == "FUNCTION"
            and str(node.get("function_name", "")).lower() in FORBIDDEN_FUNCTIONS
        ):
            raise Forbidden(
                "query_function_not_allowed", "Function {name} is not allowed", name=node["function_name"]
            )
    return tree


def _refs(node: Any) -> set[str]:
    names: set[str] = set()
    for sub, _ in _walk(node):
        if sub.get("class") == "COLUMN_REF":
            names.add(str(sub["column_names"][-1]))
        if sub.get("class") == "STAR":
            names.add("*")
    return names


def run_query(
    session: Session, principal: Any, sql: str, row_cap: int = 1000, timeout_s: float = 5.0
) -> dict[str, Any]:
    tables = {t.name: t for t in warehouse_tables(session)}
    protected = {
        c.name for t in tables.values() for c in t.columns if c.classification in ("personal", "sensitive")
    }
    privileged = principal is not None and principal.has_role(*PRIVILEGED)
    with warehouse.reader(warehouse.path_for(session)) as cur:
        tree = analyse(cur, sql, set(tables))
        select_node = tree["statements"][0]["node"]
        masked_positions: set[int] = set()
        if not privileged and protected:
            top = select_node.get("select_list", []) if select_node.get("type") == "SELECT_NODE" else []
            rest = {k: v for k, v in select_node.items() if k != "select_list"} if top else select_node
            used_outside = _refs(rest)
            if used_outside & protected or "*" in used_outside:
                raise Forbidden(
                    "query_personal_filter",
                    "Personal columns may only be selected (masked), not filtered or joined on",
                )
            for i, item in enumerate(top):
                if _refs(item) & protected:
                    masked_positions.add(i)
        timer = threading.Timer(timeout_s, cur.interrupt)
        timer.start()
        try:
            result = cur.execute(sql)
            columns = [d[0] for d in result.description]
            rows = result.fetchmany(row_cap + 1)
        except Exception as exc:  # noqa: BLE001
            if "INTERRUPT" in str(exc).upper():
                raise BadRequest(
                    "query_timeout", "The query took longer than {seconds} s", seconds=timeout_s
                ) from exc
            raise BadRequest("query_failed", "The query failed: {reason}", reason=str(exc)[:300]) from exc
        finally:
            timer.cancel()
    if not privileged:
        for i, name in enumerate(columns):
            if name in protected:
                masked_positions.add(i)
    truncated = len(rows) > row_cap
    out = []
    for r in rows[:row_cap]:
        out.append(
            [
                MASK
                if i in masked_positions and v is not None
                else (v.isoformat() if hasattr(v, "isoformat") else v)
                for i, v in enumerate(r)
            ]
        )
    return {
        "columns": columns,
        "rows": out,
        "truncated": truncated,
        "masked": sorted(columns[i] for i in masked_positions),
    }


def check_table(session: Session, name: str) -> None:
    get_table(session, name)
