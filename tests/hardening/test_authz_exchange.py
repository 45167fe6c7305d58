"""Authorisation matrix of the exchange hub: catalogue, access requests and grants, pub/sub, gateway, pages.

Agency A publishes a personal-data service (and keeps a draft) and an event type; a system of the province
office holds an approved access request and a subscription. Agency B is the stranger: it must see and change
none of it, and its systems must not get through the gateway.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.exchange.conftest import OPENAPI, serve, upstream_app
from tests.factories import Factory
from tests.hardening.authz_support import AGENCY_A, PROVINCE, Callers, Row, make_callers, rows_for, run_rows
from tinhso.kit.db import Database
from tinhso.kit.events import wait_until_dispatched

NO = (403, 404)
X = "/api/v1/exchange"
SUBS = X + "/subscriptions/{sub}"
GW = "/r1/{svc}/citizens/040190001234"


def xroad(code: str) -> dict[str, str]:
    return {"X-Road-Client": f"VN/GOV/{PROVINCE}/{code}"}


ROWS: list[Row] = [
    # the catalogue: published services for everyone, drafts for their owner (and the platform) only
    *rows_for(X + "/services", {"anon": 200, "b": 200, "citizen": 200}, has=("{svc}",), lacks=("{draft}",)),
    *rows_for(X + "/services", {"a": 200, "admin": 200}, has=("{svc}", "{draft}")),
    *rows_for(X + "/services/{draft}", {"anon": 404, "b": 404, "b_admin": 404, "sys_b": 404}),
    *rows_for(X + "/services/{draft}", {"a_admin": 200}),
    *rows_for(X + "/services/{draft}/openapi", {"anon": 404, "b": 404}),
    *rows_for("/exchange", {"anon": 200, "b": 200}, lacks=("{draft}",)),
    *rows_for("/exchange/services/{draft}", {"anon": 404, "b": 404}),
    Row("b_admin", "PATCH", X + "/services/{svc}", NO, json={"title_vi": "Đổi tên dịch vụ"}),
    Row("sys_b", "PATCH", X + "/services/{svc}", NO, json={"title_vi": "Đổi tên dịch vụ"}),
    Row("b_admin", "POST", X + "/services/{svc}/lifecycle", NO, json={"state": "retired"}),
    # access requests and grants: the provider and the consumer, nobody else
    *rows_for(X + "/access-requests", {"a_admin": 200, "cons_admin": 200, "admin": 200}, has=("{req}",)),
    *rows_for(
        X + "/access-requests", {"b": 200, "b_admin": 200, "citizen": 200, "sys_b": 200}, lacks=("{req}",)
    ),
    *rows_for(X + "/access-requests/{req}", {"a_admin": 200}),
    *rows_for(
        X + "/access-requests/{req}", {"b": NO, "b_admin": NO, "sys_b": NO, "citizen": NO, "anon": 401}
    ),
    Row("b_admin", "POST", X + "/access-requests/{req}/decision", NO, json={"decision": "refuse"}),
    Row("b_admin", "POST", X + "/access-requests/{req}/revoke", NO),
    *rows_for(X + "/grants", {"a_admin": 200, "cons_admin": 200}, has=("{grant}",)),
    *rows_for(X + "/grants", {"b": 200, "b_admin": 200, "citizen": 200, "sys_b": 200}, lacks=("{grant}",)),
    Row("b_admin", "POST", X + "/grants/{grant}/revoke", NO),
    Row(
        "b_admin",
        "POST",
        X + "/grants",
        NO,
        json={"service_id": "{svc_id}", "client": "VN/GOV/{agency_b}/SYSB"},
    ),
    # pub/sub: A's events reach only approved subscribers
    Row("sys_b", "POST", X + "/event-types/{et}/events", NO, json={"event": {"personal_id": "040190001299"}}),
    *rows_for(X + "/events/{event}", {"prov": 200}),
    *rows_for(X + "/events/{event}", {"b": NO, "sys_b": NO, "citizen": NO, "anon": 401}),
    *rows_for(X + "/subscriptions", {"cons": 200, "a_admin": 200}, has=("{sub}",)),
    *rows_for(
        X + "/subscriptions", {"b": 200, "b_admin": 200, "sys_b": 200, "citizen": 200}, lacks=("{sub}",)
    ),
    *[Row(c, "POST", SUBS + "/approve", NO) for c in ("b_admin", "sys_b")],
    *[Row(c, "POST", SUBS + "/refuse", NO) for c in ("b_admin", "sys_b")],
    *[Row(c, "DELETE", SUBS, NO) for c in ("b_admin", "sys_b")],
    *rows_for(SUBS + "/pull", {"b": NO, "b_admin": NO, "sys_b": NO, "citizen": NO}),
    Row("cons", "GET", SUBS + "/pull", 200, has=("040190001288",)),
    *[Row(c, "DELETE", SUBS + "/pull/{event}", NO) for c in ("b_admin", "sys_b")],
    *rows_for(SUBS + "/deliveries", {"b": NO, "b_admin": NO, "sys_b": NO}),
    # monitoring: an agency sees the traffic of its own services
    *rows_for(X + "/stats", {"b": 200, "b_admin": 200}, lacks=("{svc}",)),
    *rows_for("/exchange/operations", {"b_admin": 200}, lacks=("{svc}",)),
    # the gateway: the granted consumer gets through; B's systems and ungranted systems do not
    Row("cons", "GET", GW, 200, has=("Nguyễn Thị Hoa",), headers=xroad("AUTHZCONS")),
    Row("cons_bare", "GET", GW, (401, 403), headers=xroad("AUTHZBARE")),
    Row("sys_b", "GET", GW, (401, 403), headers=xroad("AUTHZCONS")),  # claims to be the consumer
    Row("sys_b", "GET", GW, (401, 403), headers={"X-Road-Client": "VN/GOV/{agency_b}/" + "SYSB"}),
    Row("b", "GET", GW, (401, 403), headers=xroad("AUTHZCONS")),
    Row("anon", "GET", GW, (401, 403), headers=xroad("AUTHZCONS")),
]


class _Cast(Callers):
    """The common cast, plus the province office's consumer systems and administrator, and A's provider."""

    prov: Any
    cons: Any
    cons_bare: Any
    cons_admin: Any


@pytest.fixture
def upstream_url() -> Any:
    seen: list[dict[str, Any]] = []
    url, server, thread = serve(upstream_app(seen))
    yield url
    server.should_exit = True
    thread.join(timeout=5)


def test_exchange_matrix(client: TestClient, factory: Factory, db: Database, upstream_url: str) -> None:
    base = make_callers(factory)
    callers = _Cast(**base.__dict__)
    callers.prov = factory.system(AGENCY_A, "AUTHZPROV", scopes=("api", "exchange"))
    callers.cons = factory.system(PROVINCE, "AUTHZCONS", scopes=("api", "exchange"))
    callers.cons_bare = factory.system(PROVINCE, "AUTHZBARE", scopes=("api", "exchange"))
    callers.cons_admin = factory.person(("agency_admin", "official"), agency=PROVINCE)
    callers.b_admin = factory.person(("agency_admin", "official"), agency=base.b.principal.agency_code)
    ah = base.a_admin.headers

    def service(code: str) -> str:
        body = {
            "system_code": "AUTHZPROV",
            "code": code,
            "title_vi": f"Tra cứu {code}",
            "upstream_url": upstream_url,
            "openapi": OPENAPI,
            "classification": "personal",
            "health_path": "/health",
        }
        r = client.post(X + "/services", json=body, headers=ah)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    svc_pk, draft = service("citizens"), service("draftonly")
    r = client.post(f"{X}/services/{svc_pk}/lifecycle", json={"state": "published"}, headers=ah)
    assert r.status_code == 200, r.text
    svc_identifier = r.json()["identifier"]
    r = client.post(
        X + "/access-requests",
        headers=callers.cons.headers,
        json={"service_id": svc_pk, "purpose": "Xác minh nhân thân", "legal_basis": "Luật Hộ tịch 2014"},
    )
    assert r.status_code == 201, r.text
    req = r.json()["id"]
    r = client.post(f"{X}/access-requests/{req}/decision", json={"decision": "approve"}, headers=ah)
    assert r.status_code == 200, r.text
    grant = client.get(X + "/grants", headers=ah).json()["items"][0]["id"]
    r = client.post(
        X + "/event-types",
        headers=callers.prov.headers,
        json={"system_code": "AUTHZPROV", "code": "authz.changed", "title": "Thay đổi", "schema": {}},
    )
    assert r.status_code == 201, r.text
    et = r.json()["id"]
    r = client.post(
        X + "/subscriptions",
        json={"event_type_id": et, "system_code": "AUTHZCONS", "delivery": "pull"},
        headers=callers.cons.headers,
    )
    assert r.status_code == 201, r.text
    sub = r.json()["id"]
    assert client.post(f"{X}/subscriptions/{sub}/approve", headers=ah).status_code == 200
    r = client.post(
        f"{X}/event-types/{et}/events",
        headers=callers.prov.headers,
        json={"key": "k1", "event": {"personal_id": "040190001288"}},
    )
    assert r.status_code == 201, r.text
    event = r.json()["id"]
    wait_until_dispatched(db)
    ctx = {
        "svc": svc_identifier,
        "svc_id": svc_pk,
        "draft": draft,
        "req": req,
        "grant": grant,
        "et": et,
        "sub": sub,
        "event": event,
        "agency_b": str(base.b.principal.agency_code),
    }
    run_rows(client, db, callers, ROWS, ctx)
