"""Authorisation matrix of governance: the systems registry, compliance reports, their pages and the IOC.

Agency A registers an information system. Agency B's officials and administrators, citizens and systems
without the governance scope must not read or change it, nor see it counted in B's reports; the province's
leaders read everything, read-only.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Factory
from tests.governance.test_registry import body
from tests.hardening.authz_support import AGENCY_A, Row, make_callers, rows_for, run_rows
from tinhso.kit.db import Database

NO = (403, 404)
G = "/api/v1/governance"
SYS = G + "/systems/{sys}"

ROWS: list[Row] = [
    *rows_for(G + "/systems", {"a": 200, "a_admin": 200, "admin": 200, "leader": 200}, has=("{sys}",)),
    *rows_for(G + "/systems", {"b": 200, "b_admin": 200}, lacks=("{sys}", "AUTHZQLHS"), total=0),
    *rows_for(G + "/systems", {"citizen": 403, "sys_a_bare": 403, "anon": 401}),
    *rows_for(G + "/systems", {"b": 200}, query="agency_code={agency_a}", total=0),
    *rows_for(G + "/systems", {"b": 200}, query="q=AUTHZQLHS", total=0),
    *rows_for(SYS, {"a": 200, "leader": 200}),
    *rows_for(SYS, {"b": NO, "b_admin": NO, "citizen": NO, "sys_b": NO, "anon": 401}),
    *rows_for(SYS + "/compliance", {"a": 200, "leader": 200}),
    *rows_for(SYS + "/compliance", {"b": NO, "b_admin": NO, "citizen": NO}),
    *[Row(c, "POST", SYS + "/compliance", NO) for c in ("b", "b_admin", "citizen")],
    *[
        Row(c, "PATCH", SYS, NO, json={"version": 1, "name": "Đổi tên"})
        for c in ("b_admin", "sys_b", "leader", "a", "citizen")
    ],
    Row("b_admin", "POST", G + "/systems", NO, json=body(code="CHIEM", agency_code=AGENCY_A)),
    *rows_for(G + "/agencies/{agency_a}/compliance", {"a_admin": 200, "leader": 200}),
    *rows_for(G + "/agencies/{agency_a}/compliance", {"b": NO, "b_admin": NO, "citizen": NO}),
    # pages
    *rows_for("/governance/systems", {"a": 200}, has=("AUTHZQLHS",)),
    *rows_for("/governance/systems", {"b": 200, "b_admin": 200}, lacks=("AUTHZQLHS",)),
    *rows_for("/governance/systems/{sys}", {"a": 200}, has=("AUTHZQLHS",)),
    *rows_for("/governance/systems/{sys}", {"b": NO, "b_admin": NO, "citizen": NO}),
    *rows_for("/governance/systems/{sys}/edit", {"b_admin": NO, "citizen": NO}),
    Row("b_admin", "POST", "/governance/systems/{sys}/edit", NO, data={"version": "1", "name": "Đổi tên"}),
    # the IOC's drill-down: performance figures for every official; the registry only for its readers
    *rows_for("/ioc/agency/{agency_a}", {"a": 200, "leader": 200}, has=("{sys}",)),
    *rows_for("/ioc/agency/{agency_a}", {"b": 200, "b_admin": 200}, lacks=("{sys}",)),
    *rows_for("/ioc/agency/{agency_a}", {"citizen": 403, "anon": 401}),
    *rows_for("/governance/agencies/{agency_a}", {"a_admin": 200}),
    *rows_for("/governance/agencies/{agency_a}", {"b": NO, "b_admin": NO, "citizen": NO}),
]


def test_governance_matrix(client: TestClient, factory: Factory, db: Database) -> None:
    callers = make_callers(factory)
    callers.leader = factory.person(("leader", "official"), agency="000.00.00.H41")  # type: ignore[attr-defined]
    r = client.post(G + "/systems", json=body(code="AUTHZQLHS"), headers=callers.a_admin.headers)
    assert r.status_code == 201, r.text
    ctx = {"sys": r.json()["system"]["id"], "agency_a": AGENCY_A}
    run_rows(client, db, callers, ROWS, ctx)
