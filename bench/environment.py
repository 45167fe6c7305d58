"""Environment benchmark: sustained MQTT ingestion (readings/s) through the real Mosquitto broker into the
database, side by side with the baseline of storing the same readings in-process (no broker, no JSON); and
the latency from a reading that crosses a threshold to its `environment.alert.raised` event reaching a
subscriber (p50/p99), with the outbox dispatcher running as in the API process.

    .venv/bin/python bench/environment.py            # 20 stations x 40 messages x 48 readings, 100 alerts
    .venv/bin/python bench/environment.py --small    # 5 stations x 10 messages x 48 readings, 20 alerts
    .venv/bin/python bench/environment.py --pg       # PostgreSQL instead of SQLite

Every stored reading also updates its hourly mean, the hourly/daily VN_AQI it affects and runs the alert
rules (that is the cost measured). Goals from the issue: ≥ 10,000 readings/s; alert p99 < 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

AIR = ["PM2.5", "PM10", "NO2", "SO2", "CO", "O3", "temperature", "humidity"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="a small run (CI)")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL at 127.0.0.1:5432 instead of SQLite")
    args = parser.parse_args()
    stations, messages, alerts_n = (5, 10, 20) if args.small else (20, 40, 100)
    steps = 6  # timestamps per message: 6 x 8 parameters = 48 readings

    var = Path(tempfile.mkdtemp(prefix="tinhso-bench-env-"))
    os.environ["TINHSO_VAR_DIR"] = str(var)
    os.environ.setdefault("TINHSO_LOG_LEVEL", "WARNING")
    os.environ["TINHSO_ENVIRONMENT"] = "test"
    os.environ["TINHSO_ENV_RATE_PER_SECOND"] = "1000000"
    os.environ["TINHSO_ENV_RATE_BURST"] = "1000000"
    pg_name = None
    if args.pg:
        from sqlalchemy import create_engine, text

        pg_name = f"tinhso_bench_env_{uuid.uuid4().hex[:6]}"
        admin = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        os.environ["TINHSO_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
    else:
        os.environ["TINHSO_DATABASE_URL"] = f"sqlite:///{var / 'bench.db'}"

    import paho.mqtt.client as paho
    from sqlalchemy import func, select

    from tinhso.environment import ingest
    from tinhso.environment.models import Device, DeviceCredential, Reading, Station
    from tinhso.environment.mqtt import MqttIngestor, broker_address
    from tinhso.kit.db import get_database
    from tinhso.kit.events import Dispatcher, bus
    from tinhso.kit.security import hash_secret, new_secret
    from tinhso.migrate import upgrade
    from tinhso.modules import load_models
    from tinhso.reference.service import load_agencies, load_communes

    load_models()
    upgrade()
    db = get_database()
    with db.transaction() as s:
        load_communes(s)
        load_agencies(s)

    def make_stations(prefix: str, n: int) -> list[tuple[str, str, str]]:
        out = []
        with db.transaction() as s:
            for i in range(n):
                st = Station(
                    code=f"{prefix}-{i:03d}",
                    name=f"Bench {i}",
                    kind="air",
                    agency_code="000.00.06.H41",
                    owner_name="Sở Nông nghiệp và Môi trường",
                    parameters=AIR,
                )
                s.add(st)
                s.flush()
                dev = Device(station_id=st.id, code="D", parameters=AIR)
                s.add(dev)
                s.flush()
                token = "dev_" + new_secret(24)
                s.add(DeviceCredential(device_id=dev.id, kind="token", secret_hash=hash_secret(token)))
                out.append((st.code, "D", token))
        return out

    def payload(token: str, base: datetime, k: int) -> list[dict]:
        items = []
        for j in range(steps):
            t = (base + timedelta(seconds=k * steps + j)).isoformat()
            items += [{"parameter": p, "value": 20.0 + (k + j) % 7, "time": t} for p in AIR]
        return items

    def count() -> int:
        with db.transaction(write=False) as s:
            return s.scalar(select(func.count()).select_from(Reading)) or 0

    total = stations * messages * steps * len(AIR)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

    # Baseline: the same readings stored in-process, one transaction per message, no broker.
    devices = make_stations("BASE", stations)
    t0, cpu0 = time.perf_counter(), time.process_time()
    for k in range(messages):
        for _code, _, token in devices:
            with db.transaction() as s:
                ctx = ingest.authenticate(s, token)
                ingest.store(s, ingest.prepare(ctx, payload(token, base, k), "bench"))
    baseline = total / (time.perf_counter() - t0)
    baseline_cpu = total / (time.process_time() - cpu0)
    stored_before = count()

    # MQTT: one device client publishing QoS 1, the platform's subscriber storing in batches.
    prefix = f"tinhso-bench/{uuid.uuid4().hex[:8]}/env"
    ingestor = MqttIngestor(db, prefix=prefix, client_id=f"bench-{uuid.uuid4().hex[:8]}", share_group=None)
    ingestor.start()
    assert ingestor.connected.wait(10), "MQTT broker not reachable"
    time.sleep(0.3)
    host, port, _, _ = broker_address()
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    pub.max_inflight_messages_set(1000)
    pub.connect(host, port)
    pub.loop_start()
    devices = make_stations("MQTT", stations)
    bodies = [
        (f"{prefix}/{code}/{dev}/readings", json.dumps({"token": token, "readings": payload(token, base, k)}))
        for k in range(messages)
        for code, dev, token in devices
    ]
    t0, cpu0 = time.perf_counter(), time.process_time()
    for topic, body in bodies:
        pub.publish(topic, body, qos=1)
    deadline = time.monotonic() + 600
    while count() < stored_before + total and time.monotonic() < deadline:
        time.sleep(0.05)
    mqtt_rate = (count() - stored_before) / (time.perf_counter() - t0)
    mqtt_cpu = (count() - stored_before) / (time.process_time() - cpu0)  # includes the publisher's JSON

    # Alert latency: a reading above the threshold -> environment.alert.raised delivered to a subscriber.
    received: dict[str, float] = {}
    done = threading.Event()

    def on_raised(session, event) -> None:  # noqa: ANN001
        received[event.payload["station_code"]] = time.perf_counter()
        if len(received) >= alerts_n:
            done.set()

    bus.subscribe("environment.alert.raised", "bench.alerts", on_raised)
    dispatcher = Dispatcher(db, 0.05)
    dispatcher.start()
    alert_devices = make_stations("ALRT", alerts_n)
    sent: dict[str, float] = {}
    for code, dev, token in alert_devices:
        now = datetime.now(UTC).isoformat()
        body = json.dumps({"token": token, "readings": [{"parameter": "PM2.5", "value": 300, "time": now}]})
        sent[code] = time.perf_counter()
        pub.publish(f"{prefix}/{code}/{dev}/readings", body, qos=1)
        time.sleep(0.05)
    done.wait(60)
    latencies = [received[c] - sent[c] for c in sent if c in received]
    dispatcher.stop()
    ingestor.stop()
    pub.disconnect()
    pub.loop_stop()

    backend = "PostgreSQL" if args.pg else "SQLite"
    load = os.getloadavg()[0]
    print(
        f"\nEnvironment ingestion on {backend} ({os.cpu_count()} cores, load average {load:.1f}), {total} readings"
    )
    print(f"{'':38}{'readings/s':>12}{'per CPU-s':>12}")
    print(f"{'baseline: in-process store, no broker':38}{baseline:>12,.0f}{baseline_cpu:>12,.0f}")
    print(
        f"{'MQTT QoS 1 via Mosquitto -> database':38}{mqtt_rate:>12,.0f}{mqtt_cpu:>12,.0f}"
        f"   ({mqtt_rate / baseline:.2f}x baseline)"
    )
    print("per CPU-s: readings per second of this process's CPU time (the load of others left out)")
    print("goal: >= 10,000 readings/s")
    if latencies:
        print(f"\nThreshold reading -> alert event delivered ({len(latencies)}/{alerts_n} alerts)")
        print(f"  p50 {percentile(latencies, 50) * 1000:8.1f} ms")
        print(f"  p99 {percentile(latencies, 99) * 1000:8.1f} ms   (goal < 2,000 ms)")
        print(f"  mean {statistics.mean(latencies) * 1000:7.1f} ms")
    else:
        print("\nno alert event arrived")
    db.dispose()
    if pg_name:
        from sqlalchemy import create_engine, text

        admin = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
