"""`tinhso simulate sensors`: publish realistic readings of N stations at R messages per second."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

cli = typer.Typer(help="Sensor simulator (environmental monitoring)", no_args_is_help=True)
console = Console(stderr=True)


@cli.callback()
def _group() -> None:
    """Simulated sensors for the environmental-monitoring platform."""


@cli.command("sensors")
def sensors(
    stations: Annotated[int, typer.Option(help="How many stations to simulate", min=1, max=10000)] = 5,
    rate: Annotated[float, typer.Option(help="Messages per second, all stations together", min=0.01)] = 1.0,
    duration: Annotated[float, typer.Option(help="Seconds to run (0: until Ctrl-C)", min=0)] = 0,
    transport: Annotated[str, typer.Option(help="auto, mqtt or http")] = "auto",
    base_url: Annotated[str | None, typer.Option(help="HTTP endpoint base (default TINHSO_BASE_URL)")] = None,
) -> None:
    """Create (once) N simulated air stations with a device each, then publish their readings: daily
    cycles, pollution episodes and one faulty sensor in ten. MQTT when the broker answers, else HTTP."""
    from tinhso.environment.demo import AIR, SNNMT
    from tinhso.environment.models import Device, DeviceCredential, Station
    from tinhso.environment.simulator import LiveSimulator, SimDevice
    from tinhso.kit.db import get_database
    from tinhso.kit.security import hash_secret, new_secret
    from tinhso.settings import get_settings

    if transport not in ("auto", "mqtt", "http"):
        raise typer.BadParameter("transport must be auto, mqtt or http")
    db = get_database()
    devices = []
    with db.transaction() as session:
        for i in range(1, stations + 1):
            code = f"SIM-{i:04d}"
            station = session.scalar(select(Station).where(Station.code == code))
            if station is None:
                station = Station(
                    code=code,
                    name=f"Trạm mô phỏng {i}",
                    kind="air",
                    agency_code=SNNMT,
                    owner_name="Sở Nông nghiệp và Môi trường",
                    parameters=list(AIR),
                    public=False,
                    demo=True,
                    search_text=f"{code.lower()} tram mo phong {i}",
                )
                session.add(station)
                session.flush()
                device = Device(station_id=station.id, code="SIM", parameters=list(AIR))
                session.add(device)
                session.flush()
            else:
                found = session.scalar(
                    select(Device).where(Device.station_id == station.id, Device.code == "SIM")
                )
                assert found is not None
                device = found
            token = "dev_" + new_secret(24)
            session.add(DeviceCredential(device_id=device.id, kind="token", secret_hash=hash_secret(token)))
            devices.append(SimDevice(code, "SIM", token, list(AIR), faulty=i % 10 == 0))
    sim = LiveSimulator(devices, rate, http_base=base_url or get_settings().base_url, transport=transport)
    console.print(f"{len(devices)} trạm / stations, {rate}/s, {sim.transport}")
    with contextlib.suppress(KeyboardInterrupt):
        sim.run(duration or None)
    console.print(f"sent {sim.sent}, failed {sim.failed}")


@cli.command("broker-files")
def broker_files(
    directory: Annotated[str, typer.Option("--dir", help="Where to write passwd and acl")],
    pid_file: Annotated[
        str | None, typer.Option(help="Mosquitto's pid file: send it SIGHUP to reload")
    ] = None,
) -> None:
    """Write Mosquitto's password_file and acl_file from the device credentials (each MQTT device may publish
    only to its own topic), and have the broker reload them."""
    from pathlib import Path

    from tinhso.environment import broker
    from tinhso.kit.db import get_database

    with get_database().transaction(write=False) as session:
        changed = broker.sync(session, Path(directory), Path(pid_file) if pid_file else None)
    console.print("written" if changed else "unchanged")
