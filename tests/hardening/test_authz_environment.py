"""Authorisation matrix of environment monitoring: stations, devices and their credentials, alerts, duty roster.

Agency A runs a public station and a private one (with a device, a credential and an alert) and keeps a duty
roster. Agency B and citizens must not see the private station or anything of A's operations; the public
views show public stations only.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.factories import Factory
from tests.hardening.authz_support import PROVINCE, Row, make_callers, rows_for, run_rows
from tinhso.environment.models import Alert
from tinhso.kit.db import Database, utcnow
from tinhso.reference.models import Commune

NO = (403, 404)
E = "/api/v1/environment"
ST = E + "/stations/{priv}"
DEV = ST + "/devices/{dev}"
ALERT = E + "/alerts/{alert}"

ROWS: list[Row] = [
    # stations: A's officials see both; B, citizens and systems of B see neither through the staff API
    *rows_for(E + "/stations", {"a": 200, "admin": 200}, has=("AUTHZ-PRIV", "AUTHZ-PUB")),
    *rows_for(
        E + "/stations", {"b": 200, "b_admin": 200, "citizen": 200, "sys_b": 200}, lacks=("AUTHZ-PRIV",)
    ),
    *rows_for(ST, {"a": 200, "sys_a": 200}),
    # a system of another agency: with A's data grant it reads A's stations (read-only); without, nothing
    *rows_for(E + "/stations", {"sys_granted": 200}, has=("AUTHZ-PRIV",)),
    *rows_for(E + "/stations", {"sys_ungranted": 200}, lacks=("AUTHZ-PRIV",)),
    *rows_for(ST, {"sys_granted": 200}),
    *rows_for(ST, {"sys_ungranted": NO}),
    Row("sys_granted", "PATCH", ST, NO, json={"name": "Đổi tên"}),
    *rows_for(E + "/alerts", {"sys_granted": 200}, has=("{alert}",)),
    *rows_for(E + "/alerts", {"sys_ungranted": 200}, lacks=("{alert}",)),
    *rows_for(ST, {"b": NO, "b_admin": NO, "citizen": NO, "sys_b": NO, "anon": 401}),
    *rows_for(ST + "/readings", {"b": NO, "citizen": NO}),
    *rows_for(ST + "/hourly", {"b": NO, "citizen": NO}),
    *rows_for(ST + "/indices", {"b": NO, "citizen": NO}),
    Row("b_admin", "PATCH", ST, NO, json={"name": "Đổi tên"}),
    Row("citizen", "PATCH", ST, NO, json={"name": "Đổi tên"}),
    # devices and their credentials: the managing agency only
    *rows_for(ST + "/devices", {"a": 200}, has=("{dev}",)),
    *rows_for(ST + "/devices", {"b": NO, "b_admin": NO, "citizen": NO}),
    Row("b_admin", "POST", ST + "/devices", NO, json={"code": "LOGGER-B"}),
    Row("b_admin", "PATCH", DEV, NO, json={"status": "retired"}),
    *rows_for(DEV + "/credentials", {"a": 200}, has=("{cred}",)),
    *rows_for(DEV + "/credentials", {"b": NO, "b_admin": NO, "citizen": NO}),
    Row("b_admin", "POST", DEV + "/credentials", NO, json={"kind": "token"}),
    Row("b_admin", "POST", DEV + "/credentials/{cred}/revoke", NO),
    # alerts: A's operations only
    *rows_for(E + "/alerts", {"a": 200, "admin": 200}, has=("{alert}",)),
    *rows_for(E + "/alerts", {"b": 200, "b_admin": 200, "citizen": 200, "sys_b": 200}, lacks=("{alert}",)),
    *rows_for(ALERT, {"a": 200}),
    *rows_for(ALERT, {"b": NO, "citizen": NO, "sys_b": NO, "anon": 401}),
    *[Row(c, "POST", ALERT + "/acknowledge", NO, json={}) for c in ("b", "b_admin", "citizen")],
    *[Row(c, "POST", ALERT + "/resolve", NO, json={}) for c in ("b", "b_admin", "citizen")],
    *rows_for("/environment/duty", {"a": 200}, has=("AUTHZ-PRIV",)),
    *rows_for("/environment/duty", {"b": 200, "citizen": 200}, lacks=("AUTHZ-PRIV",)),
    *[Row(c, "POST", "/environment/duty/alerts/{alert}/acknowledge", NO) for c in ("b", "citizen")],
    # the duty roster (people's phone numbers): the agency's administrators, the read audited
    *rows_for(E + "/duty", {"a_admin": 200}, has=("0912345678",)),
    *rows_for(E + "/duty", {"b_admin": 200}, lacks=("0912345678",)),
    *rows_for(E + "/duty", {"a": 403, "b": 403, "citizen": 403}),
    Row("b_admin", "DELETE", E + "/duty/{duty}", NO),
    # public views: public stations only
    *rows_for(E + "/public/stations", {"anon": 200}, has=("AUTHZ-PUB",), lacks=("AUTHZ-PRIV",)),
    *rows_for(E + "/public/stations/AUTHZ-PRIV/series", {"anon": 404, "b": 404}),
    *rows_for("/ngsi-ld/v1/entities", {"anon": 200}, query="type=AirQualityObserved", lacks=("AUTHZ-PRIV",)),
    *rows_for("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:AUTHZ-PRIV", {"anon": 404}),
    *rows_for("/environment/stations/AUTHZ-PRIV", {"anon": 404, "b": 404}),
    *rows_for("/environment", {"anon": 200}, lacks=("AUTHZ-PRIV",)),
    *rows_for(E + "/open-data/daily", {"anon": 200}, lacks=("AUTHZ-PRIV",)),
]


def test_environment_matrix(client: TestClient, factory: Factory, db: Database) -> None:
    callers = make_callers(factory)
    with db.transaction() as s:
        commune = s.scalar(select(Commune.code).order_by(Commune.code).limit(1))
    ids = {}
    for code, public in (("AUTHZ-PUB", True), ("AUTHZ-PRIV", False)):
        body = {
            "code": code,
            "name": f"Trạm {code}",
            "kind": "air",
            "commune_code": commune,
            "latitude": 18.67,
            "longitude": 105.68,
            "parameters": ["PM2.5", "PM10"],
            "public": public,
        }
        r = client.post(E + "/stations", json=body, headers=callers.a.headers)
        assert r.status_code == 201, r.text
        ids[code] = r.json()["id"]
    priv = ids["AUTHZ-PRIV"]
    r = client.post(f"{E}/stations/{priv}/devices", json={"code": "LOGGER-A"}, headers=callers.a.headers)
    assert r.status_code == 201, r.text
    dev = r.json()["id"]
    r = client.post(
        f"{E}/stations/{priv}/devices/{dev}/credentials", json={"kind": "token"}, headers=callers.a.headers
    )
    assert r.status_code == 201, r.text
    cred = r.json()["id"]
    r = client.post(
        E + "/duty", json={"name": "Trực Ban A", "phone": "0912345678"}, headers=callers.a_admin.headers
    )
    assert r.status_code == 201, r.text
    duty = r.json()["id"]
    callers.sys_granted = factory.system(PROVINCE, scopes=("api",))  # type: ignore[attr-defined]
    callers.sys_ungranted = factory.system(PROVINCE, scopes=("api",))  # type: ignore[attr-defined]
    r = client.post(
        "/api/v1/grants",
        json={
            "grantee_agency_code": PROVINCE,
            "grantee_system_id": callers.sys_granted.principal.system_id,  # type: ignore[attr-defined]
            "resource": "environment.station",
            "purpose": "Tổng hợp số liệu quan trắc",
        },
        headers=callers.a_admin.headers,
    )
    assert r.status_code == 201, r.text
    now = utcnow()
    with db.transaction() as s:
        alert = Alert(
            station_id=priv,
            agency_code=str(callers.a.principal.agency_code),
            rule="threshold",
            parameter="PM2.5",
            dedup_key=f"{priv}:PM2.5",
            open_key=f"{priv}:PM2.5",
            value=300.0,
            limit=50.0,
            raised_at=now,
            last_seen_at=now,
        )
        s.add(alert)
        s.flush()
        alert_id = alert.id
    ctx = {"priv": priv, "dev": dev, "cred": cred, "duty": duty, "alert": alert_id}
    run_rows(client, db, callers, ROWS, ctx)
