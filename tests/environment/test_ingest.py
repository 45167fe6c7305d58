"""HTTP ingestion: idempotency, late and out-of-order data, unit conversion, validation, rate limits,
hourly means and the recomputed indices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tinhso.environment import indices as ix
from tinhso.environment.models import HourlyMean, IndexValue, Reading

URL = "/api/v1/environment/ingest"


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hour_ago(n: int) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=n)


def count(db, model=Reading) -> int:  # noqa: ANN001
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_ingest_is_idempotent_and_aggregates(client, db, air) -> None:  # noqa: ANN001
    t = hour_ago(1)
    readings = [
        {"parameter": "PM2.5", "value": 20.0, "time": (t + timedelta(minutes=5)).isoformat()},
        {"parameter": "PM2.5", "value": 30.0, "time": (t + timedelta(minutes=35)).isoformat()},
        {"parameter": "pm10", "value": 0.05, "unit": "mg/m3", "time": (t + timedelta(minutes=5)).isoformat()},
        {"parameter": "NO2", "value": 100, "unit": "ppb", "time": (t + timedelta(minutes=5)).isoformat()},
    ]
    r = client.post(URL, json={"readings": readings}, headers=h(air.token))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 4 and r.json()["duplicates"] == 0
    again = client.post(URL, json={"readings": readings}, headers=h(air.token))
    assert again.json() == {"accepted": 0, "duplicates": 4, "flagged": 0, "alerts": []}
    assert count(db) == 4
    with db.transaction() as s:
        means = {m.parameter: m for m in s.scalars(select(HourlyMean))}
        assert means["PM2.5"].mean == pytest.approx(25.0) and means["PM2.5"].count == 2
        assert means["PM10"].mean == pytest.approx(50.0)  # 0.05 mg/m³
        assert means["NO2"].mean == pytest.approx(100 * 46.01 / 24.45)  # ppb -> µg/m³ at 25 °C
        aqi = s.scalar(select(IndexValue).where(IndexValue.kind == "aqi_hour", IndexValue.period_start == t))
        # NowCast over one hour only (the hour before is missing: 2 of the 3 latest needed) for the current hour,
        # so the AQI of hour t needs t-1 or t-2 as well: none here -> no PM -> no AQI, reason recorded.
        assert aqi.value is None and aqi.reason == "no_pm"


def test_late_data_recomputes_the_index(client, db, air) -> None:  # noqa: ANN001
    t0, t1 = hour_ago(2), hour_ago(1)
    body = {"readings": [{"parameter": "PM2.5", "value": 20, "time": t1.isoformat()}]}
    assert client.post(URL, json=body, headers=h(air.token)).status_code == 200
    # Late and out of order: the hour before arrives afterwards; NowCast of t1 now has 2 of 3 hours.
    late = {"readings": [{"parameter": "PM2.5", "value": 60, "time": t0.isoformat()}]}
    assert client.post(URL, json=late, headers=h(air.token)).json()["accepted"] == 1
    with db.transaction() as s:
        row = s.scalar(select(IndexValue).where(IndexValue.kind == "aqi_hour", IndexValue.period_start == t1))
    expected = ix.round_half_up(ix.aqi_sub_index("PM2.5", ix.nowcast([20, 60])))
    assert row.value == expected and row.dominant == "PM2.5"
    assert row.inputs["PM2.5"] == pytest.approx((20 + 0.5 * 60) / 1.5, abs=0.001)


def test_validation_refuses_the_whole_batch(client, db, air) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    good = {"parameter": "PM2.5", "value": 10, "time": now.isoformat()}
    cases = [
        ({"parameter": "PM2.5", "value": -5, "time": now.isoformat()}, 422, "value_impossible"),
        ({"parameter": "PM2.5", "value": 10, "unit": "mg/L", "time": now.isoformat()}, 422, "wrong_unit"),
        ({"parameter": "BOD5", "value": 10, "time": now.isoformat()}, 422, "parameter_not_measured"),
        ({"parameter": "XYZ", "value": 10, "time": now.isoformat()}, 422, "unknown_parameter"),
        (
            {"parameter": "PM2.5", "value": 10, "time": (now + timedelta(hours=2)).isoformat()},
            422,
            "reading_in_future",
        ),
        ({"parameter": "PM2.5", "value": "abc", "time": now.isoformat()}, 422, "validation_error"),
    ]
    for bad, status, code in cases:
        r = client.post(URL, json={"readings": [good, bad]}, headers=h(air.token))
        assert r.status_code == status and r.json()["code"] == code, (bad, r.text)
        assert r.json()["message"]["vi"] != r.json()["message"]["en"] or code == "validation_error"
    assert count(db) == 0


def test_unknown_and_revoked_devices_are_refused(client, db, air) -> None:  # noqa: ANN001
    body = {"readings": [{"parameter": "PM2.5", "value": 10, "time": datetime.now(UTC).isoformat()}]}
    assert client.post(URL, json=body).json()["code"] == "device_credential_missing"
    r = client.post(URL, json=body, headers=h("dev_not-a-real-token"))
    assert r.status_code == 401 and r.json()["code"] == "device_unknown"
    sid, did = air.station["id"], air.device["id"]
    cred = client.get(
        f"/api/v1/environment/stations/{sid}/devices/{did}/credentials", headers=air.official.headers
    ).json()[0]
    client.post(
        f"/api/v1/environment/stations/{sid}/devices/{did}/credentials/{cred['id']}/revoke",
        headers=air.official.headers,
    )
    r = client.post(URL, json=body, headers=h(air.token))
    assert r.status_code == 401 and r.json()["code"] == "device_credential_revoked"
    assert count(db) == 0


def test_flood_from_one_device_is_rate_limited(client, db, air, monkeypatch) -> None:  # noqa: ANN001
    from tinhso.environment.config import env_settings

    monkeypatch.setattr(env_settings(), "rate_burst", 20.0)
    monkeypatch.setattr(env_settings(), "rate_per_second", 1.0)
    base = hour_ago(3)
    statuses = []
    for i in range(8):
        readings = [
            {"parameter": "PM10", "value": 30, "time": (base + timedelta(seconds=i * 10 + k)).isoformat()}
            for k in range(5)
        ]
        statuses.append(client.post(URL, json={"readings": readings}, headers=h(air.token)))
    codes = [r.status_code for r in statuses]
    assert codes[:4] == [200] * 4 and 429 in codes
    limited = next(r for r in statuses if r.status_code == 429)
    assert limited.json()["code"] == "device_rate_limited" and int(limited.headers["retry-after"]) >= 1
    assert count(db) == 20


def test_suspect_values_are_flagged_not_dropped(client, db, air) -> None:  # noqa: ANN001
    t = hour_ago(1)
    readings = [
        {"parameter": "PM2.5", "value": 20, "time": t.isoformat()},
        {"parameter": "PM2.5", "value": 900, "time": (t + timedelta(minutes=5)).isoformat()},  # jump of 880
        {"parameter": "PM2.5", "value": 1500, "time": (t + timedelta(minutes=10)).isoformat()},  # implausible
    ]
    r = client.post(URL, json={"readings": readings}, headers=h(air.token))
    assert r.json()["accepted"] == 3 and r.json()["flagged"] == 2
    with db.transaction() as s:
        flags = {row.value: row.flags for row in s.scalars(select(Reading))}
        mean = s.scalar(select(HourlyMean.mean).where(HourlyMean.parameter == "PM2.5"))
    assert flags[900.0] == ["rate_of_change"] and "out_of_range" in flags[1500.0]
    assert mean == pytest.approx(20.0)  # suspect readings stay out of the means


def test_station_reads(client, air, factory) -> None:  # noqa: ANN001
    t = hour_ago(1)
    client.post(
        URL,
        json={"readings": [{"parameter": "PM10", "value": 40, "time": t.isoformat()}]},
        headers=h(air.token),
    )
    sid = air.station["id"]
    r = client.get(f"/api/v1/environment/stations/{sid}/readings", headers=air.official.headers)
    assert [x["value"] for x in r.json()] == [40.0]
    r = client.get(f"/api/v1/environment/stations/{sid}/hourly?parameter=PM10", headers=air.official.headers)
    assert r.json()[0]["mean"] == 40.0
    other = factory.person(("official",), agency="000.00.05.H41")
    assert (
        client.get(f"/api/v1/environment/stations/{sid}/readings", headers=other.headers).status_code == 404
    )
    r = client.get(
        f"/api/v1/environment/stations/{sid}/readings?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
        headers=air.official.headers,
    )
    assert r.status_code == 400 and r.json()["code"] == "bad_time_range"


def test_readings_are_idempotent_per_station_whichever_device_sends_them(client, db, air) -> None:  # noqa: ANN001
    from tests.environment.conftest import make_device

    _, second = make_device(client, air.official, air.station, code="LOGGER-2")
    t = (hour_ago(2) + timedelta(minutes=10)).isoformat()
    one = {"parameter": "PM2.5", "value": 20.0, "time": t}
    r = client.post(URL, json={"readings": [one, dict(one, value=21.0)]}, headers=h(air.token))
    assert r.json()["accepted"] == 1 and r.json()["duplicates"] == 1  # the same reading twice in one batch
    r = client.post(URL, json={"readings": [dict(one, value=22.0)]}, headers=h(second["token"]))
    assert r.json() == {"accepted": 0, "duplicates": 1, "flagged": 0, "alerts": []}
    with db.transaction() as s:
        stored = list(s.scalars(select(Reading.value).where(Reading.parameter == "PM2.5")))
        mean = s.scalar(select(HourlyMean).where(HourlyMean.parameter == "PM2.5"))
    assert stored == [20.0]
    assert mean is not None and mean.count == 1 and mean.mean == pytest.approx(20.0)
