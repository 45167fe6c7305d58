"""Authorisation matrix of open data's publisher side: private datasets, their tables and files, API tokens.

The statistics office (A) keeps a private dataset with a DataStore table next to a public one, and holds an
API token. The environment department (B), citizens and anonymous visitors must not find the private dataset
anywhere — CKAN actions, search, counts, DCAT, downloads, dumps, pages — nor change A's datasets or tokens.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Factory
from tests.hardening.authz_support import Row, make_callers, rows_for, run_rows
from tests.opendata.conftest import NNMT, THONG_KE, TK_ORG, make_dataset
from tinhso.kit.db import Database

NO = (403, 404)
PRIVATE = "authz-noi-bo"
TITLE = "Số liệu nội bộ chưa công bố"
ROWS_A = [{"commune_code": "17329", "so_lieu_mat": 777123}]


def action(caller: str, name: str, status, data: dict | None = None, **kw) -> Row:  # noqa: ANN001
    return Row(caller, "POST", "/api/action/" + name, status, json=data or {}, **kw)


ROWS: list[Row] = [
    # CKAN actions
    action("a", "package_show", 200, {"id": PRIVATE}, has=(TITLE,)),
    *[action(c, "package_show", NO, {"id": PRIVATE}) for c in ("anon", "b", "citizen", "sys_b")],
    action("a", "package_search", 200, {"include_private": True, "rows": 100}, has=(PRIVATE,)),
    *[
        action(
            c, "package_search", 200, {"include_private": True, "rows": 100, "q": "nội bộ"}, lacks=(PRIVATE,)
        )
        for c in ("anon", "b", "citizen")
    ],
    *[action(c, "package_list", 200, lacks=(PRIVATE,)) for c in ("anon", "b")],
    *[action(c, "current_package_list_with_resources", 200, lacks=(PRIVATE,)) for c in ("anon", "b")],
    *[
        action(c, "organization_show", 200, {"id": TK_ORG, "include_datasets": True}, lacks=(PRIVATE,))
        for c in ("anon", "b")
    ],
    *[action(c, "datastore_search", NO, {"resource_id": "{res}"}) for c in ("anon", "b", "citizen")],
    action("a", "datastore_search", 200, {"resource_id": "{res}"}, has=("777123",)),
    *[
        action(
            c,
            "datastore_search_sql",
            (400, 403, 404, 409),
            {"sql": 'SELECT * FROM "{res}"'},
            lacks=("777123",),
        )
        for c in ("anon", "b")
    ],
    *[action(c, "resource_show", NO, {"id": "{res}"}) for c in ("anon", "b")],
    *[action(c, "package_patch", NO, {"id": PRIVATE, "title": "Chiếm"}) for c in ("b", "citizen", "sys_b")],
    *[action(c, "package_patch", NO, {"id": "authz-cong-khai", "title": "Chiếm"}) for c in ("b", "citizen")],
    *[action(c, "package_delete", NO, {"id": "authz-cong-khai"}) for c in ("b", "citizen")],
    action("b", "resource_patch", NO, {"id": "{res}", "name": "Chiếm"}),
    action(
        "b", "resource_create", NO, {"package_id": PRIVATE, "name": "Chiếm", "url": "https://x.invalid/a"}
    ),
    *[action(c, "datastore_info", NO, {"id": "{res}"}) for c in ("anon", "b")],
    # downloads, dumps, DCAT and pages
    *rows_for("/opendata/download/{res}.csv", {"a": 200}, has=("777123",)),
    *rows_for("/opendata/download/{res}.csv", {"anon": NO, "b": NO, "citizen": NO}),
    *rows_for("/datastore/dump/{res}", {"anon": NO, "b": NO}),
    *rows_for("/dataset/" + PRIVATE + ".ttl", {"anon": 404, "b": 404}),
    *rows_for("/catalog.ttl", {"anon": 200}, lacks=(PRIVATE,)),
    *rows_for("/opendata/dataset/" + PRIVATE, {"anon": 404, "b": 404}),
    *rows_for("/opendata/datasets", {"anon": 200, "b": 200}, query="q=nội bộ", lacks=(TITLE,)),
    *rows_for("/opendata/organization/" + TK_ORG, {"anon": 200, "b": 200}, lacks=(TITLE,)),
    *rows_for("/api/v1/opendata/datasets/" + PRIVATE + "/quality", {"anon": 404, "b": 404}),
    # API tokens: one's own
    *rows_for("/api/v1/opendata/tokens", {"a": 200}, has=("{token}",)),
    *rows_for("/api/v1/opendata/tokens", {"b": 200, "citizen": 200, "a_admin": 200}, lacks=("{token}",)),
    *[Row(c, "DELETE", "/api/v1/opendata/tokens/{token}", NO) for c in ("b", "b_admin", "citizen")],
]


def test_opendata_matrix(client: TestClient, factory: Factory, db: Database) -> None:
    callers = make_callers(factory, agency_a=THONG_KE, agency_b=NNMT)
    make_dataset(db, callers.a, name="authz-cong-khai", title="Số liệu công khai", owner_org=THONG_KE)
    res = make_dataset(
        db, callers.a, name=PRIVATE, title=TITLE, owner_org=THONG_KE, private=True, rows=ROWS_A
    )
    r = client.post("/api/v1/opendata/tokens", json={"name": "Kịch bản A"}, headers=callers.a.headers)
    assert r.status_code == 201, r.text
    run_rows(client, db, callers, ROWS, {"res": res, "token": r.json()["id"]})
