"""NGSI-LD subset: create, update attributes, query by type; normalized and keyValues; malformed input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from tests.environment.conftest import make_device, make_station

from tinhso.environment.models import Reading

URL = "/ngsi-ld/v1/entities"


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/ld+json"}


def readings(db) -> list[tuple[str, float]]:  # noqa: ANN001
    with db.transaction() as s:
        return sorted((r.parameter, r.value) for r in s.scalars(select(Reading)))


def test_create_normalized_and_query(client, db, air) -> None:  # noqa: ANN001
    now = datetime.now(UTC).replace(microsecond=0)
    entity = {
        "id": "urn:ngsi-ld:AirQualityObserved:KK-VINH-01",
        "type": "AirQualityObserved",
        "dateObserved": {"type": "Property", "value": (now - timedelta(minutes=30)).isoformat()},
        "pm25": {"type": "Property", "value": 35.5, "unitCode": "GQ"},
        "pm10": {"type": "Property", "value": 0.06, "unitCode": "GP"},  # mg/m³
        "NO2": {"type": "Property", "value": 22, "observedAt": (now - timedelta(minutes=20)).isoformat()},
        "temperature": {"type": "Property", "value": 29.1, "unitCode": "CEL"},
        "address": {"type": "Property", "value": {"addressLocality": "Vinh"}},
        "@context": ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"],
    }
    r = client.post(URL, json=entity, headers=h(air.token))
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith("urn:ngsi-ld:AirQualityObserved:KK-VINH-01")
    assert readings(db) == [("NO2", 22.0), ("PM10", 60.0), ("PM2.5", 35.5), ("temperature", 29.1)]
    q = client.get(URL, params={"type": "AirQualityObserved"})
    assert q.status_code == 200 and q.headers["content-type"].startswith("application/ld+json")
    (found,) = q.json()
    assert (
        found["id"] == entity["id"] and found["PM2.5"]["value"] == 35.5 and found["PM2.5"]["unitCode"] == "GQ"
    )
    assert found["location"]["value"]["coordinates"] == [105.68, 18.67]
    kv = client.get(URL, params={"type": "AirQualityObserved", "options": "keyValues"}).json()[0]
    assert kv["PM10"] == 60.0 and kv["location"]["type"] == "Point"
    one = client.get(f"{URL}/{entity['id']}?options=keyValues").json()
    assert one["NO2"] == 22.0
    assert client.get(f"{URL}/urn:ngsi-ld:AirQualityObserved:NOPE").status_code == 404
    assert client.get(URL, params={"type": "WaterQualityObserved"}).json() == []


def test_update_attrs_key_values(client, db, air) -> None:  # noqa: ANN001
    r = client.patch(
        f"{URL}/urn:ngsi-ld:AirQualityObserved:KK-VINH-01/attrs",
        json={"pm25": 12.0, "o3": 50},
        headers=h(air.token),
    )
    assert r.status_code == 204, r.text
    assert readings(db) == [("O3", 50.0), ("PM2.5", 12.0)]
    r = client.patch(
        f"{URL}/urn:ngsi-ld:AirQualityObserved:OTHER/attrs", json={"pm25": 1}, headers=h(air.token)
    )
    assert r.status_code == 404


def test_water_quality_entity(client, db, official, commune_code) -> None:  # noqa: ANN001
    station = make_station(
        client,
        official,
        commune_code,
        code="NM-LAM-01",
        kind="water",
        parameters=["pH", "DO", "water_temperature", "BOD5", "COD", "N-NH4", "Coliform"],
    )
    _, cred = make_device(client, official, station)
    entity = {
        "id": "urn:ngsi-ld:WaterQualityObserved:NM-LAM-01",
        "type": "WaterQualityObserved",
        "dateObserved": datetime.now(UTC).isoformat(),
        "temperature": 25.0,
        "pH": 7.2,
        "O2": 7.5,
        "BOD5": 3.0,
        "COD": 8.0,
        "NH4": 0.1,
        "coliform": 1000,
    }
    assert client.post(URL, json=entity, headers=h(cred["token"])).status_code == 201
    assert ("water_temperature", 25.0) in readings(db) and ("DO", 7.5) in readings(db)
    found = client.get(URL, params={"type": "WaterQualityObserved", "options": "keyValues"}).json()[0]
    assert found["waterQualityIndex"] == 100 and found["waterQualityLevel"] == "Rất tốt"


def test_malformed_entities_change_nothing(client, db, air) -> None:  # noqa: ANN001
    now = datetime.now(UTC).isoformat()
    base = {
        "id": "urn:ngsi-ld:AirQualityObserved:KK-VINH-01",
        "type": "AirQualityObserved",
        "dateObserved": now,
    }
    cases = [
        (b"{not json", 400, "ngsi_invalid_json"),
        ([1, 2], 400, "ngsi_bad_request_data"),
        ({"type": "AirQualityObserved", "pm25": 1}, 400, "ngsi_bad_request_data"),
        ({**base, "type": "Parking"}, 400, "ngsi_bad_request_data"),
        ({**base, "id": "station-1"}, 400, "ngsi_bad_request_data"),
        ({**base, "pm25": {"type": "Relationship", "object": "x"}}, 400, "ngsi_bad_request_data"),
        ({**base, "pm25": {"type": "Property", "value": "high"}}, 400, "ngsi_bad_request_data"),
        ({**base, "dateObserved": "yesterday", "pm25": 1}, 400, "ngsi_bad_request_data"),
        ({**base}, 400, "ngsi_bad_request_data"),  # no measurement
        ({**base, "pm25": -3}, 422, "value_impossible"),
        ({**base, "id": "urn:ngsi-ld:AirQualityObserved:OTHER", "pm25": 3}, 403, "ngsi_entity_not_allowed"),
    ]
    for body, status, code in cases:
        data = body if isinstance(body, bytes) else __import__("json").dumps(body).encode()
        r = client.post(URL, content=data, headers=h(air.token))
        assert r.status_code == status and r.json()["code"] == code, (body, r.text)
    r = client.post(URL, json={**base, "pm25": 3}, headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == 0
