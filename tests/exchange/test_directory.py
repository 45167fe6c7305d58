"""Directory services in the GovStack Information Mediator / X-Road metaservice shapes."""

from __future__ import annotations

from tests.exchange.conftest import OPENAPI, make_hub
from tests.factories import CONGAN, TUPHAP


def test_list_clients(client, hub):
    r = client.get("/r1/listClients", headers=hub.consumer.headers)
    assert r.status_code == 200
    members = r.json()["member"]
    ids = [m["id"] for m in members]
    assert {
        "object_type": "SUBSYSTEM",
        "xroad_instance": "VN",
        "member_class": "GOV",
        "member_code": CONGAN,
        "subsystem_code": "DANCU",
    } in ids
    assert any(i["object_type"] == "MEMBER" and i["member_code"] == TUPHAP for i in ids)
    assert all("name" in m for m in members)
    assert client.get("/r1/listClients").status_code == 401
    assert client.get("/r1/listClients?xRoadInstance=XX", headers=hub.consumer.headers).status_code == 404


def test_list_methods_allowed_methods_and_openapi(client, factory, upstream):
    hub = make_hub(client, factory, upstream, operations=[{"method": "GET", "path": "/citizens/{id}"}])
    provider = f"/r1/VN/GOV/{CONGAN}/DANCU"
    r = client.get(f"{provider}/listMethods", headers=hub.headers())
    assert r.status_code == 200
    [svc] = r.json()["service"]
    assert (
        svc["service_code"] == "citizens"
        and svc["object_type"] == "SERVICE"
        and svc["service_type"] == "OPENAPI"
    )
    assert {"method": "POST", "path": "/echo"} in svc["endpoint_list"]
    r = client.get(f"{provider}/allowedMethods", headers=hub.headers())
    assert r.json()["service"][0]["endpoint_list"] == [{"method": "GET", "path": "/citizens/{id}"}]
    stranger = factory.system("000.00.02.H41", "KHAC", scopes=("api", "exchange"))
    r = client.get(
        f"{provider}/allowedMethods",
        headers={"X-Road-Client": "VN/GOV/000.00.02.H41/KHAC", **stranger.headers},
    )
    assert r.status_code == 200 and r.json() == {"service": []}
    r = client.get(f"{provider}/getOpenAPI?serviceCode=citizens", headers=hub.headers())
    assert r.status_code == 200 and r.json() == OPENAPI
    assert client.get(f"{provider}/getOpenAPI", headers=hub.headers()).status_code == 400
    assert client.get(f"{provider}/getOpenAPI?serviceCode=nope", headers=hub.headers()).status_code == 404
    assert client.get(f"{provider}/listMethods").status_code == 401
