"""MQTT ingestion against the real Mosquitto broker: storage, refusals answered on the errors topic,
idempotency, and a platform that goes away and comes back without losing what the broker kept."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as paho
import pytest
from sqlalchemy import func, select
from tests.environment.conftest import make_device

from tinhso.environment.models import Reading
from tinhso.environment.mqtt import MqttIngestor, broker_address, publish_readings
from tinhso.kit.db import new_id

pytestmark = pytest.mark.mqtt


class Device:
    """A device (or an observer) connected to the real broker."""

    def __init__(self) -> None:
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-dev-{new_id()[:8]}")
        self.messages: list[tuple[str, dict]] = []
        self.got = threading.Event()
        self.client.on_message = self._on_message
        host, port, _, _ = broker_address()
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        self.messages.append((msg.topic, json.loads(msg.payload)))
        self.got.set()

    def listen(self, topic: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, qos=1)
        assert done.wait(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def count(db) -> int:  # noqa: ANN001
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(Reading)) or 0


def wait_for(predicate, timeout: float = 15.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def prefix() -> str:
    return f"tinhso-test/{new_id()[:10]}/env"


@pytest.fixture
def ingestor(db, prefix):  # noqa: ANN001, ANN201
    ing = MqttIngestor(
        db, prefix=prefix, client_id=f"test-ing-{new_id()[:8]}", share_group=f"g{new_id()[:6]}"
    )
    ing.start()
    assert ing.connected.wait(10)
    time.sleep(0.2)
    yield ing
    ing.stop()
    purge_session(ing.client_id)


def purge_session(client_id: str) -> None:
    """Tell the broker to forget a test subscriber's persistent session."""
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    host, port, _, _ = broker_address()
    c.connect(host, port)
    c.loop_start()
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()


def reading(minutes_ago: int = 5, value: float = 20.0, parameter: str = "PM2.5") -> dict:
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return {"parameter": parameter, "value": value, "time": t.isoformat()}


def test_readings_over_mqtt_are_stored_once(db, air, prefix, ingestor) -> None:  # noqa: ANN001
    dev = Device()
    try:
        batch = [reading(5), reading(4, 25.0), reading(4, 40.0, "PM10")]
        for _ in range(2):  # the same message twice: stored once
            publish_readings(dev.client, prefix, "KK-VINH-01", "LOGGER-1", air.token, batch).wait_for_publish(
                5
            )
        assert wait_for(lambda: count(db) == 3)
        time.sleep(0.5)
        assert count(db) == 3
        with db.transaction() as s:
            assert {r.channel for r in s.scalars(select(Reading))} == {"mqtt"}
    finally:
        dev.close()


def test_mqtt_username_password_credential(client, db, air, prefix, ingestor) -> None:  # noqa: ANN001
    device, cred = make_device(client, air.official, air.station, code="LOGGER-2", kind="mqtt")
    assert cred["mqtt_topic"].endswith("/KK-VINH-01/LOGGER-2/readings") and cred["mqtt_username"]
    dev = Device()
    try:
        body = {"username": cred["mqtt_username"], "password": cred["mqtt_password"], "readings": [reading()]}
        dev.client.publish(
            f"{prefix}/KK-VINH-01/LOGGER-2/readings", json.dumps(body), qos=1
        ).wait_for_publish(5)
        assert wait_for(lambda: count(db) == 1)
    finally:
        dev.close()


def test_refusals_are_answered_on_the_errors_topic(client, db, air, prefix, ingestor) -> None:  # noqa: ANN001
    _, other = make_device(client, air.official, air.station, code="LOGGER-2")
    dev = Device()
    dev.listen(f"{prefix}/+/+/errors")
    topic = f"{prefix}/KK-VINH-01/LOGGER-1/readings"
    future = datetime.now(UTC) + timedelta(hours=3)
    cases = [
        (topic, {"token": "dev_unknown", "readings": [reading()]}, "device_unknown"),
        (topic, {"token": other["token"], "readings": [reading()]}, "topic_not_allowed"),
        (topic, b"{not json", "mqtt_payload_invalid"),
        (topic, {"token": air.token, "readings": []}, "mqtt_payload_invalid"),
        (topic, {"token": air.token, "readings": [reading(value=-4)]}, "value_impossible"),
        (topic, {"token": air.token, "readings": [{**reading(), "unit": "mg/L"}]}, "wrong_unit"),
        (
            topic,
            {"token": air.token, "readings": [{**reading(), "time": future.isoformat()}]},
            "reading_in_future",
        ),
    ]
    try:
        for t, body, code in cases:
            dev.messages.clear()
            dev.got.clear()
            payload = body if isinstance(body, bytes) else json.dumps(body)
            dev.client.publish(t, payload, qos=1)
            assert dev.got.wait(10), code
            error_topic, error = dev.messages[0]
            assert error_topic == f"{prefix}/KK-VINH-01/LOGGER-1/errors" and error["code"] == code
            assert error["message"]["vi"] and error["message"]["en"]
        # Revoked: refused as well.
        sid, did = air.station["id"], air.device["id"]
        cred = client.get(
            f"/api/v1/environment/stations/{sid}/devices/{did}/credentials", headers=air.official.headers
        ).json()[0]
        client.post(
            f"/api/v1/environment/stations/{sid}/devices/{did}/credentials/{cred['id']}/revoke",
            headers=air.official.headers,
        )
        dev.got.clear()
        dev.messages.clear()
        dev.client.publish(topic, json.dumps({"token": air.token, "readings": [reading()]}), qos=1)
        assert dev.got.wait(10) and dev.messages[0][1]["code"] == "device_credential_revoked"
        assert count(db) == 0
    finally:
        dev.close()


def test_flood_from_one_device_is_rate_limited(db, air, prefix, ingestor, monkeypatch) -> None:  # noqa: ANN001
    from tinhso.environment.config import env_settings

    monkeypatch.setattr(env_settings(), "rate_burst", 30.0)
    monkeypatch.setattr(env_settings(), "rate_per_second", 0.5)
    dev = Device()
    dev.listen(f"{prefix}/+/+/errors")
    try:
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        for i in range(20):
            rs = [
                {"parameter": "PM10", "value": 30, "time": (base + timedelta(seconds=i * 10 + k)).isoformat()}
                for k in range(3)
            ]
            publish_readings(dev.client, prefix, "KK-VINH-01", "LOGGER-1", air.token, rs)
        assert dev.got.wait(10)
        assert wait_for(lambda: count(db) >= 30)
        time.sleep(0.5)
        assert count(db) == 30  # the burst, the rest refused
        assert all(e["code"] == "device_rate_limited" for _, e in dev.messages)
    finally:
        dev.close()


def test_platform_away_and_back_loses_nothing_the_broker_kept(db, air, prefix) -> None:  # noqa: ANN001
    client_id = f"test-ing-{new_id()[:8]}"
    group = f"g{new_id()[:6]}"
    first = MqttIngestor(db, prefix=prefix, client_id=client_id, share_group=group)
    first.start()
    assert first.connected.wait(10)
    time.sleep(0.3)
    first.stop()  # the platform goes away; its persistent session stays with the broker
    dev = Device()
    try:
        for i in range(5):
            publish_readings(
                dev.client, prefix, "KK-VINH-01", "LOGGER-1", air.token, [reading(10 + i, 10.0 + i)]
            ).wait_for_publish(5)
        time.sleep(0.3)
        assert count(db) == 0
        second = MqttIngestor(db, prefix=prefix, client_id=client_id, share_group=group)
        second.start()  # ... and comes back: the broker delivers what it kept
        try:
            assert wait_for(lambda: count(db) == 5), count(db)
        finally:
            second.stop()
            purge_session(client_id)
    finally:
        dev.close()


def test_one_ingesting_process_subscribes_without_the_share_group(db, air, prefix, monkeypatch) -> None:  # noqa: ANN001
    """TINHSO_ENV_MQTT_SHARED_SUBSCRIPTION=false (the data-centre layout, where only the worker ingests, as its
    example environment says): a plain subscription, which Mosquitto restores with the persistent session
    after a restart of its own (tested with a private broker in tests/hardening/test_restart.py)."""
    import re
    from pathlib import Path

    from tinhso.environment.config import env_settings

    example = Path(__file__).resolve().parents[2] / "deploy/systemd/tinhso.env.example"
    assert re.search(r"^TINHSO_ENV_MQTT_SHARED_SUBSCRIPTION=false$", example.read_text(), re.MULTILINE)
    monkeypatch.setenv("TINHSO_ENV_MQTT_SHARED_SUBSCRIPTION", "false")
    monkeypatch.setenv("TINHSO_ENV_MQTT_RECONNECT_MAX_SECONDS", "2")
    env_settings.cache_clear()
    ing = MqttIngestor(db, prefix=prefix, client_id=f"test-ing-{new_id()[:8]}")
    env_settings.cache_clear()
    assert ing.subscription == f"{prefix}/+/+/readings"
    assert ing.client._reconnect_max_delay == 2.0
    ing.start()
    dev = Device()
    try:
        assert ing.connected.wait(10)
        time.sleep(0.2)
        publish_readings(
            dev.client, prefix, "KK-VINH-01", "LOGGER-1", air.token, [reading(3)]
        ).wait_for_publish(5)
        assert wait_for(lambda: count(db) == 1)
    finally:
        dev.close()
        ing.stop()
        purge_session(ing.client_id)
    # By default the API process and the worker share the readings.
    monkeypatch.delenv("TINHSO_ENV_MQTT_SHARED_SUBSCRIPTION")
    env_settings.cache_clear()
    assert MqttIngestor(db, prefix=prefix, client_id="unused").subscription.startswith("$share/tinhso-env/")
    env_settings.cache_clear()
