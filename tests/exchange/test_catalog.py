"""Catalog: identifiers, registration with a validated OpenAPI document, lifecycle, search, visibility."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.exchange.conftest import OPENAPI, make_hub
from tests.factories import CONGAN, TUPHAP
from tinhso.exchange.ids import parse_member, parse_service
from tinhso.exchange.models import Service
from tinhso.kit.errors import BadRequest


def test_identifiers_parse_and_refuse_malformed():
    m = parse_member("VN/GOV/000.00.15.H41/DANCU")
    assert (m.instance, m.member_class, m.agency, m.system) == ("VN", "GOV", "000.00.15.H41", "DANCU")
    s = parse_service("VN/GOV/000.00.15.H41/DANCU/citizens/v1")
    assert str(s) == "VN/GOV/000.00.15.H41/DANCU/citizens/v1"
    for bad in [
        "",
        "VN/GOV/000.00.15.H41",
        "VN/gov/000.00.15.H41/DANCU",
        "VN/GOV/../DANCU",
        "VN/GOV/a b/DANCU",
        "VN/GOV/000.00.15.H41/DANCU/x/y/z",
    ]:
        with pytest.raises(BadRequest):
            parse_service(bad) if bad.count("/") >= 4 else parse_member(bad)


def _count(db) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(Service)) or 0


def test_register_validates_openapi_and_changes_nothing_on_bad_input(client, factory, db, upstream):
    factory.system(CONGAN, "DANCU", scopes=("api", "exchange"))
    admin = factory.person(("agency_admin", "official"), agency=CONGAN)
    base = {
        "system_code": "DANCU",
        "code": "citizens",
        "title_vi": "Tra cứu công dân",
        "upstream_url": upstream[0],
    }
    bad_doc = {"openapi": "3.0.3", "info": {"title": "x"}, "paths": {}}
    r = client.post("/api/v1/exchange/services", json=base | {"openapi": bad_doc}, headers=admin.headers)
    assert r.status_code == 422 and r.json()["code"] == "openapi_invalid"
    assert r.json()["message"]["vi"] != r.json()["message"]["en"]
    swagger2 = {"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}}
    r = client.post("/api/v1/exchange/services", json=base | {"openapi": swagger2}, headers=admin.headers)
    assert r.status_code == 422 and r.json()["code"] == "openapi_version"
    r = client.post(
        "/api/v1/exchange/services", json=base | {"upstream_url": "not a url"}, headers=admin.headers
    )
    assert r.status_code == 422
    for reserved in ("getOpenAPI", "pub", "pull", "api"):  # metaservices and the GovStack pub/sub paths
        r = client.post(
            "/api/v1/exchange/services",
            json=base | {"openapi": OPENAPI, "code": reserved},
            headers=admin.headers,
        )
        assert r.status_code == 422 and r.json()["code"] == "reserved_code"
    assert _count(db) == 0
    r = client.post("/api/v1/exchange/services", json=base | {"openapi": OPENAPI}, headers=admin.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["identifier"] == f"VN/GOV/{CONGAN}/DANCU/citizens/v1"
    assert {"method": "GET", "path": "/citizens/{id}"} in body["operations"]
    assert body["state"] == "draft"
    r = client.post("/api/v1/exchange/services", json=base | {"openapi": OPENAPI}, headers=admin.headers)
    assert r.status_code == 409
    assert _count(db) == 1


def test_only_the_provider_agency_registers_and_changes(client, factory, upstream):
    factory.system(CONGAN, "DANCU", scopes=("api", "exchange"))
    other_admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    official = factory.person(("official",), agency=CONGAN)
    body = {"system_code": "DANCU", "code": "citizens", "title_vi": "x", "upstream_url": upstream[0]}
    assert client.post("/api/v1/exchange/services", json=body, headers=other_admin.headers).status_code == 404
    assert client.post("/api/v1/exchange/services", json=body, headers=official.headers).status_code == 403
    assert client.post("/api/v1/exchange/services", json=body).status_code == 401


def test_lifecycle_search_and_visibility(client, factory, upstream):
    hub = make_hub(client, factory, upstream, approve=False)
    sid = hub.service["id"]
    # Accent-insensitive search finds the published service for anyone, without the upstream address.
    r = client.get("/api/v1/exchange/services", params={"q": "tra cuu cong dan"})
    assert r.status_code == 200 and r.json()["total"] == 1
    assert r.json()["items"][0]["upstream_url"] is None
    assert client.get("/api/v1/exchange/services", params={"q": "đất đai"}).json()["total"] == 0
    mine = client.get(f"/api/v1/exchange/services/{sid}", headers=hub.provider_admin.headers).json()
    assert mine["upstream_url"] == hub.upstream_url
    # Deprecate, retire; a retired service never comes back and disappears from the catalog.
    lc = f"/api/v1/exchange/services/{sid}/lifecycle"
    assert (
        client.post(lc, json={"state": "deprecated"}, headers=hub.provider_admin.headers).status_code == 200
    )
    assert client.post(lc, json={"state": "retired"}, headers=hub.provider_admin.headers).status_code == 200
    r = client.post(lc, json={"state": "published"}, headers=hub.provider_admin.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert client.get(f"/api/v1/exchange/services/{sid}").status_code == 404
    assert (
        client.get(f"/api/v1/exchange/services/{sid}", headers=hub.consumer_admin.headers).status_code == 404
    )
    assert (
        client.get(f"/api/v1/exchange/services/{sid}", headers=hub.provider_admin.headers).status_code == 200
    )
    assert client.post(lc, json={"state": "published"}, headers=hub.consumer_admin.headers).status_code == 404
    assert client.get("/api/v1/exchange/services/nope").status_code == 404


def test_publishing_needs_an_openapi_document(client, factory, upstream):
    factory.system(CONGAN, "DANCU", scopes=("api", "exchange"))
    admin = factory.person(("agency_admin", "official"), agency=CONGAN)
    body = {"system_code": "DANCU", "code": "nodoc", "title_vi": "x", "upstream_url": upstream[0]}
    sid = client.post("/api/v1/exchange/services", json=body, headers=admin.headers).json()["id"]
    r = client.post(
        f"/api/v1/exchange/services/{sid}/lifecycle", json={"state": "published"}, headers=admin.headers
    )
    assert r.status_code == 422 and r.json()["code"] == "openapi_required"
    r = client.patch(
        f"/api/v1/exchange/services/{sid}", json={"openapi": {"openapi": "3.0.0"}}, headers=admin.headers
    )
    assert r.status_code == 422
    r = client.patch(f"/api/v1/exchange/services/{sid}", json={"openapi": OPENAPI}, headers=admin.headers)
    assert r.status_code == 200
    r = client.post(
        f"/api/v1/exchange/services/{sid}/lifecycle", json={"state": "published"}, headers=admin.headers
    )
    assert r.status_code == 200


def test_catalog_pages(client, factory, upstream):
    hub = make_hub(client, factory, upstream, approve=False)
    r = client.get("/exchange", params={"q": "cong dan"})
    assert r.status_code == 200 and "Tra cứu thông tin công dân" in r.text
    assert hub.service["identifier"] in r.text
    r = client.get(f"/exchange/services/{hub.service['id']}?lang=en")
    assert r.status_code == 200 and "/citizens/{id}" in r.text and "Citizen lookup" in r.text
    assert client.get("/exchange/services/unknown").status_code == 404
    assert client.get("/exchange/operations").status_code == 401
    r = client.get("/exchange/operations", headers=hub.provider_admin.headers)
    assert r.status_code == 200
