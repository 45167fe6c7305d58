"""Stations, devices and device credentials: who may do what, validation, agency scoping."""

from __future__ import annotations

from tests.environment.conftest import SNNMT, make_device, make_station


def test_official_registers_station_device_and_credential(client, official, commune_code) -> None:  # noqa: ANN001
    station = make_station(client, official, commune_code)
    assert station["agency_code"] == SNNMT
    assert station["owner_name"] == "Sở Nông nghiệp và Môi trường"
    assert station["parameters"][0] == "PM2.5"
    device, cred = make_device(client, official, station)
    assert cred["token"].startswith("dev_")
    listed = client.get(
        f"/api/v1/environment/stations/{station['id']}/devices/{device['id']}/credentials",
        headers=official.headers,
    ).json()
    assert listed[0]["id"] == cred["id"]
    assert "token" not in listed[0]  # shown once only
    r = client.get("/api/v1/environment/stations?q=khong khi vinh", headers=official.headers)
    assert r.json()["total"] == 1


def test_business_owned_station_needs_a_valid_tax_code(client, official, commune_code) -> None:  # noqa: ANN001
    base = {"code": "NM-01", "name": "Trạm nhà máy", "kind": "water", "owner_kind": "business"}
    r = client.post(
        "/api/v1/environment/stations", json={**base, "owner_name": "Công ty A"}, headers=official.headers
    )
    assert r.status_code == 422 and r.json()["code"] == "business_owner_incomplete"
    r = client.post(
        "/api/v1/environment/stations",
        json={**base, "owner_name": "Công ty A", "owner_tax_code": "0101245487"},
        headers=official.headers,
    )
    assert r.status_code == 422  # bad check digit
    r = client.post(
        "/api/v1/environment/stations",
        json={**base, "owner_name": "Công ty A", "owner_tax_code": "0100109106", "parameters": ["pH", "DO"]},
        headers=official.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["owner_tax_code"] == "0100109106"


def test_bad_input_changes_nothing(client, official, commune_code) -> None:  # noqa: ANN001
    cases = [
        ({"code": "X1", "name": "A", "kind": "air"}, 422),  # name too short
        ({"code": "X1", "name": "Trạm", "kind": "air", "parameters": ["BOD5"]}, 422),  # water parameter
        ({"code": "X1", "name": "Trạm", "kind": "air", "parameters": ["XYZ"]}, 422),
        ({"code": "X1", "name": "Trạm", "kind": "air", "commune_code": "99999"}, 422),
        ({"code": "X1", "name": "Trạm", "kind": "air", "latitude": 200}, 422),
        (
            {"code": "X1", "name": "Trạm", "kind": "air", "parameters": ["PM10"], "thresholds": {"NO2": 1}},
            422,
        ),
    ]
    for body, status in cases:
        r = client.post("/api/v1/environment/stations", json=body, headers=official.headers)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()) >= {"status", "code", "message"} and r.json()["message"]["vi"]
    assert client.get("/api/v1/environment/stations", headers=official.headers).json()["total"] == 0
    make_station(client, official, commune_code, code="X1")
    r = client.post(
        "/api/v1/environment/stations",
        json={"code": "X1", "name": "Trạm", "kind": "air"},
        headers=official.headers,
    )
    assert r.status_code == 409 and r.json()["code"] == "station_code_taken"


def test_agency_scoping_and_roles(client, factory, official, commune_code) -> None:  # noqa: ANN001
    station = make_station(client, official, commune_code)
    other = factory.person(("official",), agency="000.00.05.H41")
    assert client.get("/api/v1/environment/stations", headers=other.headers).json()["total"] == 0
    r = client.get(f"/api/v1/environment/stations/{station['id']}", headers=other.headers)
    assert r.status_code == 404 and r.json()["code"] == "station_not_found"
    r = client.patch(
        f"/api/v1/environment/stations/{station['id']}", json={"name": "Đổi"}, headers=other.headers
    )
    assert r.status_code == 404
    citizen = factory.citizen()
    r = client.post(
        "/api/v1/environment/stations",
        json={"code": "C1", "name": "Trạm", "kind": "air"},
        headers=citizen.headers,
    )
    assert r.status_code == 403
    assert client.get("/api/v1/environment/stations").status_code == 401
    leader = factory.person(("leader",), agency=SNNMT)
    assert (
        client.get(f"/api/v1/environment/stations/{station['id']}", headers=leader.headers).status_code == 200
    )
    r = client.patch(
        f"/api/v1/environment/stations/{station['id']}", json={"name": "Đổi"}, headers=leader.headers
    )
    assert r.status_code == 403 and r.json()["code"] == "station_not_managed"


def test_update_station_and_device(client, official, commune_code) -> None:  # noqa: ANN001
    station = make_station(client, official, commune_code)
    r = client.patch(
        f"/api/v1/environment/stations/{station['id']}",
        json={
            "thresholds": {"pm25": 100},
            "calibration_notes": "Hiệu chuẩn 11/2026",
            "status": "maintenance",
        },
        headers=official.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["thresholds"] == {"PM2.5": 100.0} and r.json()["status"] == "maintenance"
    device, _ = make_device(client, official, station)
    r = client.patch(
        f"/api/v1/environment/stations/{station['id']}/devices/{device['id']}",
        json={"serial": "SN-1", "parameters": ["PM2.5"]},
        headers=official.headers,
    )
    assert r.status_code == 200 and r.json()["parameters"] == ["PM2.5"]
    r = client.patch(
        f"/api/v1/environment/stations/{station['id']}/devices/nope", json={}, headers=official.headers
    )
    assert r.status_code == 404 and r.json()["code"] == "device_not_found"
    r = client.post(
        f"/api/v1/environment/stations/{station['id']}/devices",
        json={"code": device["code"]},
        headers=official.headers,
    )
    assert r.status_code == 409


def test_revoke_credential(client, air) -> None:  # noqa: ANN001
    sid, did = air.station["id"], air.device["id"]
    creds = client.get(
        f"/api/v1/environment/stations/{sid}/devices/{did}/credentials", headers=air.official.headers
    ).json()
    r = client.post(
        f"/api/v1/environment/stations/{sid}/devices/{did}/credentials/{creds[0]['id']}/revoke",
        headers=air.official.headers,
    )
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = client.post(
        f"/api/v1/environment/stations/{sid}/devices/{did}/credentials/unknown/revoke",
        headers=air.official.headers,
    )
    assert r.status_code == 404
