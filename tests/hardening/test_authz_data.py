"""Authorisation matrix of the data module: registries (GovStack Digital Registries), batches, saved queries.

Agency A keeps a citizen registry with one person's record, an uploaded batch and a saved query. Agency B
and citizens must not read, list, count or change any of it; every read of the record is audited with its
purpose against the person, who sees it in "who used my data".
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.factories import Factory
from tests.hardening.authz_support import Row, make_callers, rows_for, run_rows
from tinhso.data import warehouse
from tinhso.data.dictionary import load_entities
from tinhso.kit.db import Database

NO = (403, 404)
REG = "/api/v1/registries"
DATA = REG + "/data/authzdancu/1.0"
PID = "040190007777"
HOA = {"personal_id": PID, "full_name": "Nguyễn Thị Hoà Bình", "birth_date": "12/05/1990", "sex": "F",
       "ethnicity": "01", "nationality": "VN", "phone": "0912 345 678", "commune_code": "16681"}  # fmt: skip
Q = {"query": {"content": {"personal_id": PID}}, "purpose": "Tò mò"}
READ = {"X-Purpose": "Kiem tra ho so"}

ROWS: list[Row] = [
    # the registry's records: agency A, with a purpose, audited against the person
    Row("a_admin", "POST", DATA + "/read", 200, json=Q, has=("Hòa Bình",), audit="{hoa}"),
    *[Row(c, "POST", DATA + "/read", NO, json=Q) for c in ("b", "b_admin", "sys_b", "citizen2")],
    Row("anon", "POST", DATA + "/read", 401, json=Q),
    *[Row(c, "POST", DATA + "/exists", NO, json=Q) for c in ("b", "sys_b", "citizen2")],
    Row("a_admin", "GET", DATA, 200, query="purpose=thống kê", has=("Hòa Bình",), audit="{hoa}"),
    *rows_for(DATA, {"b": NO, "b_admin": NO, "sys_b": NO, "citizen2": NO}, query="purpose=thống kê"),
    Row("a_admin", "GET", DATA + "/" + PID + "/history", 200, headers=READ, audit="{hoa}"),
    *[Row(c, "GET", DATA + "/" + PID + "/history", NO, headers=READ) for c in ("b", "b_admin", "citizen2")],
    Row("a_admin", "GET", DATA + "/" + PID + "/read-value/full_name.json", 200, headers=READ, audit="{hoa}"),
    *[
        Row(c, "GET", DATA + "/" + PID + "/read-value/full_name.json", NO, headers=READ)
        for c in ("b", "b_admin", "citizen2")
    ],
    *[
        Row(
            c,
            "PUT",
            DATA + "/update",
            NO,
            json={"query": Q["query"], "write": {"content": {"phone": "0983456789"}}},
        )
        for c in ("b", "b_admin", "sys_b")
    ],
    *[
        Row(
            c,
            "PUT",
            DATA + "/update-entries",
            NO,
            json={"query": Q["query"], "write": {"content": {"phone": "0983456789"}}},
        )
        for c in ("b", "b_admin")
    ],
    *[
        Row(c, "POST", DATA + "/update-or-create", NO, json={"write": {"content": HOA}})
        for c in ("b", "b_admin")
    ],
    *[Row(c, "POST", DATA + "/create", NO, json={"write": {"content": HOA}}) for c in ("b", "b_admin")],
    *[Row(c, "DELETE", DATA + "/" + PID + "/delete", NO) for c in ("b", "b_admin", "sys_b")],
    # the registry itself: only A's administrators change or delete it
    Row(
        "b_admin",
        "POST",
        REG + "/database/modify",
        NO,
        json={"code": "authzdancu", "name_vi": "Chiếm", "entity": "citizen", "shared_with": ["{agency_b}"]},
    ),
    Row("b_admin", "DELETE", REG + "/database/authzdancu", NO),
    # the person sees who read her data and why; nobody else does
    Row("hoa", "GET", REG + "/data/MyPersonalDataUsage/1.0", 200, has=("Tò mò",)),
    Row("hoa", "GET", "/api/v1/me/data-usage", 200, has=("Tò mò",)),
    Row("citizen2", "GET", REG + "/data/MyPersonalDataUsage/1.0", 200, lacks=("Tò mò", PID)),
    # uploaded batches and saved queries belong to the agency
    *rows_for("/api/v1/data/batches", {"a": 200, "admin": 200}, has=("{batch}",)),
    *rows_for("/api/v1/data/batches", {"b": 200, "b_admin": 200, "sys_b": 200}, lacks=("{batch}",)),
    *rows_for("/api/v1/data/batches", {"citizen": 403, "anon": 401}),
    *rows_for("/api/v1/data/batches/{batch}", {"a": 200}),
    *rows_for("/api/v1/data/batches/{batch}", {"b": NO, "b_admin": NO, "sys_b": NO, "citizen": NO}),
    *rows_for("/api/v1/data/batches/{batch}/errors", {"b": NO, "sys_b": NO, "citizen": NO}),
    *rows_for("/api/v1/warehouse/queries", {"a": 200}, has=("{query}",)),
    *rows_for("/api/v1/warehouse/queries", {"b": 200, "sys_b": 200}, lacks=("{query}",)),
    *[Row(c, "POST", "/api/v1/warehouse/queries/{query}/run", NO) for c in ("b", "sys_b", "citizen")],
    # the shared warehouse: personal columns masked for everyone but the platform's administrators
    Row(
        "b",
        "POST",
        "/api/v1/warehouse/query",
        200,
        json={"sql": "SELECT full_name, personal_id FROM citizen LIMIT 5"},
        lacks=("Nguyễn", "0401"),
    ),
    Row("citizen", "POST", "/api/v1/warehouse/query", 403, json={"sql": "SELECT 1"}),
    Row("b", "GET", "/api/v1/warehouse/tables/citizen/parquet", 200, lacks=("0401",)),
]

CSV = (
    "personal_id,full_name,birth_date,sex,ethnicity,nationality,phone,commune_code,address\n"
    "040190001234,Nguyễn Thị Hoà,12/05/1990,F,01,VN,0912 345 678,16681,\n"
    "040085004321,Hồ Văn Bình,1985-09-03,M,01,VN,,16681,\n"
)


@pytest.fixture
def data_db(db: Database) -> Iterator[Database]:
    with db.transaction() as session:
        load_entities(session)
    yield db
    with warehouse.writer(warehouse.path_for_engine(db.engine)) as wh:
        for (name,) in wh.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='main'"
        ).fetchall():
            wh.con.execute(f'DROP TABLE "{name}"')


def test_data_matrix(client: TestClient, factory: Factory, data_db: Database) -> None:
    callers = make_callers(factory)
    callers.hoa = factory.citizen(personal_id=PID, full_name="Nguyễn Thị Hoà Bình")  # type: ignore[attr-defined]
    ah = callers.a_admin.headers
    r = client.post(
        REG + "/database/modify",
        json={
            "code": "authzdancu",
            "name_vi": "Dân cư A",
            "name_en": "Residents A",
            "entity": "citizen",
            "shared_with": [],
        },
        headers=ah,
    )
    assert r.status_code == 200, r.text
    r = client.post(DATA + "/create", json={"write": {"content": HOA}}, headers=ah)
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/data/batches",
        files={"file": ("c.csv", CSV.encode(), "text/csv")},
        data={"entity": "citizen", "source": "api"},
        headers=callers.a.headers,
    )
    assert r.status_code == 202, r.text
    batch = r.json()["id"]
    for _ in range(600):
        if client.get(f"/api/v1/data/batches/{batch}", headers=callers.a.headers).json()["status"] not in (
            "queued",
            "running",
        ):
            break
        time.sleep(0.1)
    r = client.post(
        "/api/v1/warehouse/queries",
        json={"name": "Theo giới tính", "sql": "SELECT sex, count(*) FROM citizen GROUP BY sex"},
        headers=callers.a.headers,
    )
    assert r.status_code == 201, r.text
    ctx = {
        "hoa": callers.hoa.id,  # type: ignore[attr-defined]
        "batch": batch,
        "query": r.json()["id"],
        "agency_b": str(callers.b.principal.agency_code),
    }
    run_rows(client, data_db, callers, ROWS, ctx)
