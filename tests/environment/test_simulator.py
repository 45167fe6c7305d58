"""The sensor simulator: realistic values, HTTP and MQTT transports, `tinhso simulate sensors`, the jobs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tinhso.environment import simulator, tasks
from tinhso.environment.models import Alert, Reading, Station
from tinhso.environment.simulator import LiveSimulator, SimDevice


def count(db, channel: str | None = None) -> int:  # noqa: ANN001
    stmt = select(func.count()).select_from(Reading)
    if channel:
        stmt = stmt.where(Reading.channel == channel)
    with db.transaction() as s:
        return s.scalar(stmt) or 0


def test_values_have_daily_cycles_and_stay_possible() -> None:
    day = datetime(2026, 3, 10, tzinfo=UTC)
    o3 = [simulator.value("KK-X", "O3", day + timedelta(hours=h)) for h in range(24)]
    # Ozone peaks in the afternoon (14:00 Vietnam = 07:00 UTC) and is lowest at night.
    assert o3.index(max(o3)) in range(5, 10) and min(o3) < max(o3) / 2
    for p in simulator.PROFILES:
        from tinhso.environment.parameters import PARAMETERS

        lo, hi = PARAMETERS[p].hard
        for h in range(0, 24 * 30, 7):
            assert lo <= simulator.value("KK-X", p, day + timedelta(hours=h)) <= hi, p
    assert simulator.value("A", "PM2.5", day) == simulator.value("A", "PM2.5", day)  # reproducible


def test_live_simulator_over_http(db, air, live_server) -> None:  # noqa: ANN001
    dev = SimDevice("KK-VINH-01", "LOGGER-1", air.token, ["PM2.5", "PM10", "NO2"])
    sim = LiveSimulator([dev], rate=5, http_base=live_server, transport="http")
    sim.run(duration=1.5)
    assert sim.sent >= 2 and sim.failed <= 1
    assert count(db, "http") >= 3


def test_simulate_sensors_command(db, live_server) -> None:  # noqa: ANN001
    from tinhso.environment.plugin import cli

    result = CliRunner().invoke(
        cli,
        [
            "sensors",
            "--stations",
            "2",
            "--rate",
            "4",
            "--duration",
            "1.5",
            "--transport",
            "http",
            "--base-url",
            live_server,
        ],
    )
    assert result.exit_code == 0, result.output
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Station).where(Station.code.like("SIM-%"))) == 2
    assert count(db, "http") >= 8  # 8 parameters per message


@pytest.mark.mqtt
def test_live_simulator_over_mqtt(db, air) -> None:  # noqa: ANN001
    from tests.environment.test_mqtt import purge_session

    from tinhso.environment.mqtt import MqttIngestor
    from tinhso.kit.db import new_id

    prefix = f"tinhso-test/{new_id()[:10]}/env"
    ing = MqttIngestor(db, prefix=prefix, client_id=f"test-ing-{new_id()[:8]}", share_group=None)
    ing.start()
    try:
        assert ing.connected.wait(10)
        time.sleep(0.2)
        dev = SimDevice("KK-VINH-01", "LOGGER-1", air.token, ["PM2.5", "PM10"])
        sim = LiveSimulator([dev], rate=5, prefix=prefix, transport="mqtt")
        assert sim.transport == "mqtt"
        sim.run(duration=1.5)
        deadline = time.monotonic() + 10
        while count(db, "mqtt") < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert count(db, "mqtt") >= 4
    finally:
        ing.stop()
        purge_session(ing.client_id)


def test_jobs_raise_silence_escalate_and_purge(client, db, air, monkeypatch) -> None:  # noqa: ANN001
    from tinhso.environment.config import env_settings

    old = datetime.now(UTC) - timedelta(hours=2)
    r = client.post(
        "/api/v1/environment/ingest",
        json={"readings": [{"parameter": "PM10", "value": 30, "time": old.isoformat()}]},
        headers={"Authorization": f"Bearer {air.token}"},
    )
    assert r.status_code == 200
    assert tasks.run_jobs_once(db) == {"silence": 1, "escalated": 0, "purged": 0}
    monkeypatch.setattr(env_settings(), "escalate_minutes", 0)
    monkeypatch.setattr(env_settings(), "retention_days", 0)
    assert tasks.run_jobs_once(db) == {"silence": 0, "escalated": 1, "purged": 1}
    with db.transaction() as s:
        alert = s.scalar(select(Alert))
        assert alert.rule == "silence" and alert.level == 2
