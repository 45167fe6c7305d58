"""Environment fixtures: an official of Sở NN&MT, a station with a device and its token."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tinhso.environment import alerts

SNNMT = "000.00.06.H41"
VINH = "16681"  # Phường Vinh Hưng? any real commune code of Nghệ An works; checked in tests


@dataclass
class StationSetup:
    station: dict
    device: dict
    token: str
    official: object


@pytest.fixture(autouse=True)
def _fresh_limits():
    alerts.baselines.clear()
    yield
    alerts.baselines.clear()


@pytest.fixture
def official(factory):  # noqa: ANN001, ANN201
    return factory.person(("official",), agency=SNNMT)


@pytest.fixture
def commune_code(db) -> str:  # noqa: ANN001
    from sqlalchemy import select

    from tinhso.reference.models import Commune

    with db.transaction() as s:
        return s.scalar(select(Commune.code).order_by(Commune.code).limit(1))


def make_station(client, official, commune_code, code="KK-VINH-01", kind="air", parameters=None, **extra):  # noqa: ANN001, ANN201
    body = {
        "code": code,
        "name": "Trạm không khí Vinh",
        "kind": kind,
        "commune_code": commune_code,
        "latitude": 18.67,
        "longitude": 105.68,
        "parameters": parameters or ["PM2.5", "PM10", "O3", "NO2", "SO2", "CO", "temperature"],
        **extra,
    }
    r = client.post("/api/v1/environment/stations", json=body, headers=official.headers)
    assert r.status_code == 201, r.text
    return r.json()


def make_device(client, official, station, code="LOGGER-1", kind="token"):  # noqa: ANN001, ANN201
    r = client.post(
        f"/api/v1/environment/stations/{station['id']}/devices", json={"code": code}, headers=official.headers
    )
    assert r.status_code == 201, r.text
    device = r.json()
    r = client.post(
        f"/api/v1/environment/stations/{station['id']}/devices/{device['id']}/credentials",
        json={"kind": kind},
        headers=official.headers,
    )
    assert r.status_code == 201, r.text
    return device, r.json()


@pytest.fixture
def air(client, official, commune_code) -> StationSetup:  # noqa: ANN001
    station = make_station(client, official, commune_code)
    device, cred = make_device(client, official, station)
    return StationSetup(station, device, cred["token"], official)
