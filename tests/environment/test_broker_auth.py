"""Mosquitto's own authentication generated from the device credentials, against a private broker started
with the generated password_file and acl_file: a device logs in with its MQTT credential, publishes only to
its own topic, and a revoked credential is refused after the broker reloads (SIGHUP)."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from sqlalchemy import func, select
from tests.environment.conftest import make_device, make_station

from tinhso.environment import broker
from tinhso.environment.models import Reading, Station
from tinhso.environment.mqtt import MqttIngestor
from tinhso.kit.db import new_id

pytestmark = pytest.mark.mqtt
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PREFIX = "tinhso/env"


def free_port() -> int:
    for port in range(18700, 18800):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18700-18799")


def wait_for(predicate, timeout: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def connect(port: int, username: str | None, password: str | None) -> tuple[paho.Client, object]:
    """Connect and wait for CONNACK; returns the client and the reason code."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"dev-{new_id()[:8]}")
    if username is not None:
        client.username_pw_set(username, password)
    result: list[object] = []
    done = threading.Event()

    def on_connect(c, userdata, flags, rc, props=None) -> None:  # noqa: ANN001
        result.append(rc)
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert done.wait(10), "no CONNACK"
    return client, result[0]


def close(client: paho.Client) -> None:
    client.disconnect()
    client.loop_stop()


def readings_of(db, station_id: str) -> int:  # noqa: ANN001
    with db.transaction() as s:
        return (
            s.scalar(select(func.count()).select_from(Reading).where(Reading.station_id == station_id)) or 0
        )


@pytest.fixture
def private_broker(tmp_path: Path):  # noqa: ANN201
    """A Mosquitto of our own on a private port, reading the generated files (the shared one is untouched)."""
    port = free_port()
    auth = tmp_path / "auth"
    auth.mkdir()
    (auth / broker.PASSWORD_FILE).write_text("")
    (auth / broker.ACL_FILE).write_text("")
    pid_file = tmp_path / "mosquitto.pid"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\n"
        f"password_file {auth / broker.PASSWORD_FILE}\nacl_file {auth / broker.ACL_FILE}\n"
        # As root Mosquitto would switch to its own user, which cannot enter the 0700 tmp_path.
        "user root\nlog_dest stderr\n"
    )
    proc = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    pid_file.write_text(str(proc.pid))  # Mosquitto writes its pid file only when it runs as a daemon
    try:

        def listening() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
            return False

        assert wait_for(listening)
        yield port, auth, pid_file
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()


def test_broker_hash_is_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    hashed = broker.broker_hash("s3cret-mật-khẩu")
    assert hashed.startswith("$7$101$") and broker.verify(hashed, "s3cret-mật-khẩu")
    assert not broker.verify(hashed, "s3cret") and not broker.verify("$6$x$y", "s3cret")
    passwd = shutil.which("mosquitto_passwd")
    if passwd:  # the broker's own tool, hashing the same password: the same format we verify
        subprocess.run([passwd, "-c", "-b", str(tmp_path / "pw"), "alice", "s3cret"], check=True)
        line = (tmp_path / "pw").read_text().strip()
        assert broker.verify(line.split(":", 1)[1], "s3cret") and not broker.verify(
            line.split(":", 1)[1], "x"
        )


def test_devices_publish_only_to_their_own_topic(client, db, official, commune_code, private_broker) -> None:  # noqa: ANN001, PLR0915
    port, auth, pid_file = private_broker
    st_a = make_station(client, official, commune_code, code="KK-A")
    st_b = make_station(client, official, commune_code, code="KK-B")
    dev_a, cred_a = make_device(client, official, st_a, kind="mqtt")
    _dev_b, cred_b = make_device(client, official, st_b, kind="mqtt")
    _dev_t, _token = make_device(client, official, st_b, code="HTTP-ONLY")  # a token: no broker account
    platform_password = new_id()
    with db.transaction() as s:
        files = broker.render(s, PREFIX, "tinhso-platform", platform_password)
    assert broker.write(auth, files) and not broker.write(auth, files)  # unchanged files are not rewritten
    assert files.accounts == 3 and "HTTP-ONLY" not in files.acl_file
    assert broker.reload_broker(pid_file)

    # No anonymous client, no wrong password.
    anon, rc = connect(port, None, None)
    close(anon)
    assert rc.is_failure  # type: ignore[attr-defined]
    wrong, rc = connect(port, cred_a["mqtt_username"], "not-the-password")
    close(wrong)
    assert rc.is_failure  # type: ignore[attr-defined]

    ing = MqttIngestor(
        db,
        url=f"mqtt://tinhso-platform:{platform_password}@127.0.0.1:{port}",
        prefix=PREFIX,
        client_id=f"test-ing-{new_id()[:8]}",
    )
    ing.start()
    device, rc = connect(port, cred_a["mqtt_username"], cred_a["mqtt_password"])
    try:
        assert ing.connected.wait(10) and not rc.is_failure  # type: ignore[attr-defined]
        time.sleep(0.3)  # the shared subscription is in place

        def send(station_code: str, device_code: str, minute: int, via=None, cred=cred_a, qos=1) -> None:  # noqa: ANN001
            t = datetime.now(UTC).replace(minute=minute, second=0, microsecond=0)
            body = {
                "username": cred["mqtt_username"],
                "password": cred["mqtt_password"],
                "readings": [{"parameter": "PM10", "value": 30, "time": t.isoformat()}],
            }
            info = (via or device).publish(
                f"{PREFIX}/{station_code}/{device_code}/readings", json.dumps(body), qos=qos
            )
            if qos:
                info.wait_for_publish(10)

        # Device A onto device B's topic: the broker drops it before the platform sees it.
        send("KK-B", "LOGGER-1", 1)
        send("KK-A", dev_a["code"], 2)  # then its own topic: delivered after the one above would have been
        assert wait_for(lambda: ing.stored == 1) and readings_of(db, st_a["id"]) == 1
        assert readings_of(db, st_b["id"]) == 0 and ing.refused == 0

        # Revoke A: the files change, the broker reloads, A can no longer log in; B still can.
        r = client.post(
            f"/api/v1/environment/stations/{st_a['id']}/devices/{dev_a['id']}/credentials/{cred_a['id']}/revoke",
            headers=official.headers,
        )
        assert r.status_code == 200, r.text
        with db.transaction() as s:
            files = broker.render(s, PREFIX, "tinhso-platform", platform_password)
        assert broker.write(auth, files) and cred_a["mqtt_username"] not in files.password_file
        assert broker.reload_broker(pid_file)

        def refused_now() -> bool:
            c, code = connect(port, cred_a["mqtt_username"], cred_a["mqtt_password"])
            close(c)
            return bool(code.is_failure)  # type: ignore[attr-defined]

        assert wait_for(refused_now)
        # A's connection from before the revocation stays open, but the reloaded ACL stops its publishing: the
        # platform never sees the message (it would refuse the revoked credential and count a refusal).
        send("KK-A", dev_a["code"], 3, qos=0)
        other, rc = connect(port, cred_b["mqtt_username"], cred_b["mqtt_password"])
        try:
            assert not rc.is_failure  # type: ignore[attr-defined]
            send("KK-B", "LOGGER-1", 4, via=other, cred=cred_b)
            assert wait_for(lambda: ing.stored == 2) and readings_of(db, st_b["id"]) == 1
            assert not wait_for(lambda: ing.refused > 0, timeout=2.0)
        finally:
            close(other)
    finally:
        close(device)
        ing.stop()
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Station)) == 2


def test_sync_uses_the_settings_and_keeps_the_platform_line(db, air, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TINHSO_MQTT_URL", "mqtt://tinhso-platform:pw-1@127.0.0.1:1883")
    from tinhso.settings import get_settings

    get_settings.cache_clear()
    try:
        with db.transaction() as s:
            assert broker.sync(s, tmp_path)  # written
            assert not broker.sync(s, tmp_path)  # same credentials: same text, no reload
        first = (tmp_path / broker.PASSWORD_FILE).read_text()
        assert first.startswith("tinhso-platform:$7$")
        monkeypatch.setenv("TINHSO_MQTT_URL", "mqtt://tinhso-platform:pw-2@127.0.0.1:1883")
        get_settings.cache_clear()
        with db.transaction() as s:
            assert broker.sync(s, tmp_path)  # the platform's password changed
        line = (tmp_path / broker.PASSWORD_FILE).read_text().splitlines()[0]
        assert broker.verify(line.split(":", 1)[1], "pw-2")
    finally:
        get_settings.cache_clear()
