"""Authorisation matrix of identity, audit and the administration pages.

One data set at agency A (a system with a credential, a data grant, people) and every caller.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Factory
from tests.hardening.authz_support import AGENCY_A, PROVINCE, Row, make_callers, rows_for, run_rows
from tinhso.kit.db import Database

NO = (403, 404)
PEOPLE = "/api/v1/people"
SYSTEMS = "/api/v1/systems"

ROWS: list[Row] = [
    # people of agency A: its administrators (and the platform's); nobody else, not even by listing
    *rows_for(PEOPLE, {"a_admin": 200, "admin": 200}, has=("{a_user}",), audit="{a_id}"),
    Row("admin", "GET", PEOPLE, 200, has=("{citizen_id}",), audit="{citizen_id}"),
    *rows_for(PEOPLE, {"b_admin": 200}, lacks=("{a_user}", "{a_id}")),
    *rows_for(PEOPLE, {"b_admin": 200}, query="agency_code={agency_a}", total=0),
    *rows_for(PEOPLE, {"a": 403, "citizen": 403, "sys_a": 403, "anon": 401}),
    *rows_for(PEOPLE + "/{a_id}", {"a": 200}, has=("{a_user}",)),
    *rows_for(PEOPLE + "/{a_id}", {"a_admin": 200, "admin": 200}, has=("{a_user}",), audit="{a_id}"),
    *rows_for(PEOPLE + "/{a_id}", {"b": NO, "b_admin": NO, "citizen": NO, "sys_b": NO, "anon": 401}),
    *rows_for(PEOPLE + "/{citizen_id}", {"a_admin": NO, "b_admin": NO, "a": NO}),
    Row("b_admin", "PATCH", PEOPLE + "/{a_id}", NO, json={"full_name": "Đổi Tên"}),
    # information systems and their credentials
    *rows_for(SYSTEMS, {"a": 200, "a_admin": 200, "sys_a": 200, "admin": 200}, has=("{sys}",)),
    *rows_for(
        SYSTEMS, {"b": 200, "b_admin": 200, "citizen": 200, "sys_b": 200}, lacks=("{sys}",), total=None
    ),
    Row("b", "GET", SYSTEMS, (200, 403), query="agency_code={agency_a}", lacks=("{sys}",)),
    *rows_for(SYSTEMS + "/{sys}", {"a": 200, "admin": 200}, has=("{sys}",)),
    *rows_for(SYSTEMS + "/{sys}", {"b": NO, "b_admin": NO, "citizen": NO, "sys_b": NO, "anon": 401}),
    *rows_for(SYSTEMS + "/{sys}/credentials", {"a_admin": 200}, has=("{cred}",)),
    *rows_for(SYSTEMS + "/{sys}/credentials", {"b_admin": NO, "a": NO, "citizen": NO}),
    Row("b_admin", "POST", SYSTEMS + "/{sys}/credentials", NO, json={"scopes": ["api"]}),
    Row("b_admin", "POST", SYSTEMS + "/{sys}/credentials/{cred}/rotate", NO),
    Row("b_admin", "POST", SYSTEMS + "/{sys}/credentials/{cred}/revoke", NO),
    # data grants: the owner and the grantee see them; others do not
    *rows_for("/api/v1/grants", {"a": 200, "a_admin": 200, "admin": 200}, has=("{grant}",)),
    *rows_for("/api/v1/grants", {"b": 200, "b_admin": 200, "citizen": 200, "sys_b": 200}, lacks=("{grant}",)),
    Row("b_admin", "POST", "/api/v1/grants/{grant}/revoke", NO),
    # agencies: only their own administrators change them
    Row("b_admin", "PATCH", "/api/v1/agencies/{agency_a}", NO, json={"short_name": "Đổi"}),
    Row("a", "PATCH", "/api/v1/agencies/{agency_a}", NO, json={"short_name": "Đổi"}),
    # the audit log: one's own agency only; the data-usage page: one's own data only
    *rows_for("/api/v1/audit", {"a_admin": 200, "admin": 200}, has=("{sys}",)),
    *rows_for("/api/v1/audit", {"b_admin": 200}, lacks=("{sys}", "{a_id}")),
    *rows_for("/api/v1/audit", {"b_admin": 200}, query="agency_code={agency_a}", total=0),
    *rows_for("/api/v1/me/data-usage", {"a": 200}, has=("{a_admin_id}",)),
    *rows_for("/api/v1/me/data-usage", {"b": 200, "citizen": 200}, lacks=("{a_admin_id}",)),
    # the administration pages, the same rules
    *rows_for("/admin/people", {"a_admin": 200}, has=("{a_user}",)),
    *rows_for("/admin/people", {"b_admin": 200}, lacks=("{a_user}",)),
    *rows_for("/admin/people/{a_id}", {"a_admin": 200}, has=("{a_user}",), audit="{a_id}"),
    *rows_for("/admin/people/{a_id}", {"b_admin": NO}),
    Row("b_admin", "POST", "/admin/people/{a_id}", NO, data={"full_name": "Đổi Tên"}),
    Row("b_admin", "POST", "/admin/people/{a_id}/unlock", NO),
    *rows_for("/admin/systems", {"a_admin": 200}, has=("{sys_code}",)),
    *rows_for("/admin/systems", {"b_admin": 200}, lacks=("{sys_code}",)),
    *rows_for("/admin/systems/{sys}", {"b_admin": NO}),
    Row("b_admin", "POST", "/admin/systems/{sys}/credentials", NO, data={"scopes": "api"}),
    Row("b_admin", "POST", "/admin/systems/{sys}/credentials/{cred}/revoke", NO),
    *rows_for("/admin/audit", {"a_admin": 200}, has=("{sys}",)),
    *rows_for("/admin/audit", {"b_admin": 200}, lacks=("{sys}",)),
    # (agencies are public reference data: another agency's administrator sees the page, read-only)
    Row("b_admin", "POST", "/admin/agencies/{agency_a}", NO, data={"name": "Đổi Tên Cơ Quan"}),
]


def test_identity_matrix(client: TestClient, factory: Factory, db: Database) -> None:
    callers = make_callers(factory)
    h = callers.a_admin.headers
    r = client.post(SYSTEMS, json={"code": "AUTHZ-SYS-A", "name": "Hệ thống của A"}, headers=h)
    assert r.status_code == 201, r.text
    sys_id = r.json()["id"]
    r = client.post(f"{SYSTEMS}/{sys_id}/credentials", json={"scopes": ["api"]}, headers=h)
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]["id"] if "credential" in r.json() else r.json()["id"]
    r = client.post(
        "/api/v1/grants",
        json={
            "grantee_agency_code": PROVINCE,
            "resource": "procedures.dossier",
            "purpose": "Tổng hợp báo cáo",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    # agency A's administrator reads an official's record (a personal-data read, audited)
    assert client.get(f"{PEOPLE}/{callers.a.id}", headers=h).status_code == 200
    ctx = {
        "sys": sys_id,
        "sys_code": "AUTHZ-SYS-A",
        "cred": cred,
        "grant": r.json()["id"],
        "a_id": callers.a.id,
        "a_user": str(callers.a.username),
        "a_admin_id": callers.a_admin.id,
        "citizen_id": callers.citizen.id,
        "agency_a": AGENCY_A,
    }
    run_rows(client, db, callers, ROWS, ctx)
