"""Demo data: stations across Nghệ An (air in Vinh, Cửa Lò and at a cement plant; water on the Lam river;
weather in Con Cuông), their devices and tokens, 30 days of hourly history and a duty roster."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.environment import ingest, simulator
from tinhso.environment.models import Device, DeviceCredential, DutyContact, Station
from tinhso.environment.simulator import SimDevice
from tinhso.kit import democreds
from tinhso.kit.db import utcnow
from tinhso.kit.security import hash_secret, new_secret
from tinhso.kit.text import fold

SNNMT = "000.00.06.H41"
AIR = ["PM2.5", "PM10", "NO2", "SO2", "CO", "O3", "temperature", "humidity"]
WATER = ["water_temperature", "pH", "DO", "BOD5", "COD", "N-NH4", "P-PO4", "Coliform", "turbidity"]
WEATHER = ["temperature", "humidity", "pressure", "wind_speed", "wind_direction", "rainfall"]

DEMO_STATIONS = [
    # code, name, kind, commune, lat, lon, parameters, owner (name, tax code) or None
    ("KK-VINH-TV", "Trạm không khí tự động Thành Vinh", "air", "16681", 18.6733, 105.6920, AIR, None),
    ("KK-VINH-VH", "Trạm không khí Vinh Hưng", "air", "17920", 18.6430, 105.7210, AIR, None),
    ("KK-CUALO", "Trạm không khí Cửa Lò", "air", "16732", 18.8110, 105.7180, AIR, None),
    (
        "KK-HOANGMAI-XM",
        "Trạm không khí Nhà máy xi măng Hoàng Mai",
        "air",
        "17110",
        19.2540,
        105.7060,
        AIR,
        ("Công ty Cổ phần Xi măng Hoàng Mai (dữ liệu minh họa)", "2900329351"),
    ),
    ("NM-LAM-NAMDAN", "Trạm nước mặt sông Lam – Nam Đàn", "water", "17935", 18.6960, 105.5010, WATER, None),
    (
        "NM-LAM-HUNGNGUYEN",
        "Trạm nước mặt sông Lam – Hưng Nguyên",
        "water",
        "18001",
        18.6600,
        105.6300,
        WATER,
        None,
    ),
    ("KT-CONCUONG", "Trạm khí tượng Con Cuông", "weather", "17254", 19.0500, 104.8800, WEATHER, None),
]
HISTORY_HOURS = 30 * 24


def seed_demo(
    session: Session, hours: int = HISTORY_HOURS, only: tuple[str, ...] | None = None
) -> list[SimDevice]:
    """Create the demo stations (once) with 30 days of history; returns their simulated devices.
    `only` limits the stations (tests)."""
    devices: list[SimDevice] = []
    now = utcnow()
    for code, name, kind, commune, lat, lon, parameters, owner in DEMO_STATIONS:
        if only is not None and code not in only:
            continue
        station = session.scalar(select(Station).where(Station.code == code))
        if station is not None:
            continue
        station = Station(
            code=code,
            name=name,
            kind=kind,
            agency_code=SNNMT,
            owner_kind="business" if owner else "agency",
            owner_name=owner[0] if owner else "Sở Nông nghiệp và Môi trường",
            owner_tax_code=owner[1] if owner else None,
            commune_code=commune,
            latitude=lat,
            longitude=lon,
            parameters=list(parameters),
            calibration_notes="Hiệu chuẩn định kỳ 6 tháng (dữ liệu minh họa)",
            demo=True,
        )
        station.search_text = fold(f"{code} {name} {station.owner_name}")
        session.add(station)
        session.flush()
        device = Device(
            station_id=station.id, code="LOGGER-1", model="Demo logger", parameters=list(parameters)
        )
        session.add(device)
        session.flush()
        token = "dev_" + new_secret(24)
        session.add(DeviceCredential(device_id=device.id, kind="token", secret_hash=hash_secret(token)))
        session.flush()
        democreds.record("environment_devices", code, {"device": device.code, "token": token})
        devices.append(SimDevice(code, device.code, token, list(parameters), faulty=code == "KK-CUALO"))
        ctx = ingest.authenticate(session, token)
        readings = simulator.history(code, list(parameters), hours, now)
        per_day = len(parameters) * 24
        for start in range(0, len(readings), per_day):
            rows = ingest.prepare(ctx, readings[start : start + per_day], "seed", now)
            ingest.store(session, rows, now)
    if session.scalar(select(DutyContact.id).where(DutyContact.agency_code == SNNMT)) is None:
        session.add_all(
            [
                DutyContact(agency_code=SNNMT, name="Cán bộ trực quan trắc", phone="0912000001", level=1),
                DutyContact(
                    agency_code=SNNMT, name="Trưởng phòng Môi trường", email="moitruong@example.vn", level=2
                ),
            ]
        )
    session.flush()
    return devices


def demo_devices(session: Session) -> list[SimDevice]:
    """The demo stations' devices with their tokens (from the demo credentials file)."""
    creds = democreds.load().get("environment_devices", {})
    out = []
    for station in session.scalars(select(Station).where(Station.demo.is_(True), Station.status == "active")):
        entry = creds.get(station.code)
        if entry:
            out.append(
                SimDevice(
                    station.code,
                    entry["device"],
                    entry["token"],
                    list(station.parameters),
                    station.code == "KK-CUALO",
                )
            )
    return out
