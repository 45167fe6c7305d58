"""Synthetic but realistic sensor data: daily cycles, pollution episodes and faulty sensors.

Used to seed the demo's 30 days of history and by `tinhso simulate sensors` / the demo simulator, which
publish live readings over MQTT when a broker is reachable and over the HTTP endpoint otherwise.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tinhso.environment.aggregates import VN_TZ

log = logging.getLogger("tinhso.environment.simulator")

# (base level, daily amplitude as a fraction, noise fraction, hour of the daily peak, local time)
PROFILES: dict[str, tuple[float, float, float, float]] = {
    "PM2.5": (28.0, 0.45, 0.15, 20),
    "PM10": (48.0, 0.40, 0.15, 19),
    "TSP": (80.0, 0.40, 0.15, 19),
    "NO2": (35.0, 0.50, 0.20, 8),
    "SO2": (12.0, 0.30, 0.20, 10),
    "CO": (900.0, 0.40, 0.15, 8),
    "O3": (55.0, 0.80, 0.15, 14),
    "temperature": (27.0, 0.15, 0.02, 14),
    "humidity": (78.0, 0.15, 0.03, 4),
    "pressure": (1008.0, 0.002, 0.0005, 10),
    "wind_speed": (2.5, 0.4, 0.25, 15),
    "wind_direction": (120.0, 0.3, 0.2, 15),
    "rainfall": (0.2, 1.0, 1.0, 16),
    "water_temperature": (26.0, 0.06, 0.01, 15),
    "pH": (7.3, 0.02, 0.01, 15),
    "DO": (6.8, 0.12, 0.03, 15),
    "BOD5": (4.5, 0.10, 0.10, 10),
    "COD": (11.0, 0.10, 0.10, 10),
    "N-NH4": (0.25, 0.15, 0.15, 9),
    "N-NO3": (1.5, 0.10, 0.10, 9),
    "P-PO4": (0.12, 0.10, 0.12, 9),
    "TSS": (35.0, 0.15, 0.15, 12),
    "Coliform": (2600.0, 0.25, 0.20, 9),
    "turbidity": (25.0, 0.20, 0.15, 12),
    "conductivity": (180.0, 0.05, 0.05, 12),
}


def _unit_noise(*key: Any) -> float:
    """A deterministic number in [-1, 1] for a key (reproducible history)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1.0


def episode_factor(station_code: str, t: datetime) -> float:
    """Pollution episodes (straw burning, temperature inversions): some days run 2-3.5 times higher."""
    day = t.astimezone(VN_TZ).date().toordinal()
    roll = (_unit_noise(station_code, "episode", day) + 1) / 2
    if roll > 0.85:
        return 2.0 + (roll - 0.85) * 10
    return 1.0


def value(station_code: str, parameter: str, t: datetime, severity: float = 1.0) -> float:
    """The synthetic value of a parameter at a station at time t (canonical unit)."""
    base, amp, noise, peak = PROFILES.get(parameter, (10.0, 0.2, 0.1, 12))
    site = 1 + min(0.25, 3 * noise) * _unit_noise(station_code, parameter, "site")
    local = t.astimezone(VN_TZ)
    hour = local.hour + local.minute / 60
    cycle = math.cos((hour - peak) / 24 * 2 * math.pi)
    v = base * site * (1 + amp * cycle) * (1 + noise * _unit_noise(station_code, parameter, t.isoformat()))
    if parameter in ("PM2.5", "PM10", "TSP", "NO2", "CO", "SO2"):
        v *= episode_factor(station_code, t) * severity
    if parameter == "wind_direction":
        return round(v % 360, 1)
    if parameter == "humidity":
        return round(min(100.0, max(5.0, v)), 1)
    if parameter == "rainfall":
        return round(max(0.0, v - 0.2), 2)
    if parameter == "pH":
        return round(v, 2)
    return round(max(0.0, v), 3 if v < 10 else 1)


def readings_at(station_code: str, parameters: list[str], t: datetime, severity: float = 1.0) -> list[dict]:
    return [
        {"parameter": p, "value": value(station_code, p, t, severity), "time": t.isoformat()}
        for p in parameters
    ]


@dataclass
class SimDevice:
    station_code: str
    device_code: str
    token: str
    parameters: list[str]
    faulty: bool = False


class LiveSimulator:
    """Publishes readings of several devices: over MQTT if the broker answers, else over HTTP."""

    def __init__(
        self,
        devices: list[SimDevice],
        rate: float = 1.0,
        *,
        mqtt_url: str | None = None,
        http_base: str = "http://127.0.0.1:8000",
        prefix: str | None = None,
        transport: str = "auto",
    ) -> None:
        from tinhso.environment.config import env_settings
        from tinhso.environment.mqtt import broker_reachable

        self.devices = devices
        self.rate = max(0.01, rate)
        self.mqtt_url = mqtt_url
        self.http_base = http_base.rstrip("/")
        self.prefix = prefix or env_settings().mqtt_topic_prefix
        if transport == "auto":
            transport = "mqtt" if broker_reachable(mqtt_url) else "http"
        self.transport = transport
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random(4520)

    def _payload(self, dev: SimDevice, now: datetime) -> list[dict]:
        items = readings_at(dev.station_code, dev.parameters, now)
        if dev.faulty and self._rng.random() < 0.05:  # a faulty sensor: stuck at zero or a wild spike
            items[0]["value"] = 0.0 if self._rng.random() < 0.5 else items[0]["value"] * 12
        return items

    def run(self, duration: float | None = None) -> None:
        deadline = time.monotonic() + duration if duration else None
        interval = 1.0 / self.rate
        mqtt_client = None
        http = None
        if self.transport == "mqtt":
            import paho.mqtt.client as paho

            from tinhso.environment.mqtt import broker_address

            host, port, user, password = broker_address(self.mqtt_url)
            mqtt_client = paho.Client(
                paho.CallbackAPIVersion.VERSION2, client_id=f"tinhso-sim-{time.time_ns()}"
            )
            if user:
                mqtt_client.username_pw_set(user, password)
            mqtt_client.connect(host, port)
            mqtt_client.loop_start()
        else:
            import httpx

            http = httpx.Client(base_url=self.http_base, timeout=10)
        i = 0
        try:
            while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
                dev = self.devices[i % len(self.devices)]
                i += 1
                now = datetime.now(UTC).replace(microsecond=0)
                items = self._payload(dev, now)
                try:
                    if mqtt_client is not None:
                        body = json.dumps({"token": dev.token, "readings": items})
                        topic = f"{self.prefix}/{dev.station_code}/{dev.device_code}/readings"
                        mqtt_client.publish(topic, body, qos=1)
                    elif http is not None:
                        r = http.post(
                            "/api/v1/environment/ingest",
                            json={"readings": items},
                            headers={"Authorization": f"Bearer {dev.token}"},
                        )
                        if r.status_code >= 400:
                            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
                    self.sent += 1
                except Exception as exc:  # noqa: BLE001 - keep simulating; the server may be starting
                    self.failed += 1
                    log.debug("simulated reading not delivered: %s", exc)
                self._stop.wait(interval)
        finally:
            if mqtt_client is not None:
                mqtt_client.disconnect()
                mqtt_client.loop_stop()
            if http is not None:
                http.close()

    def start(self, delay: float = 0.0) -> None:
        def target() -> None:
            if delay and self._stop.wait(delay):
                return
            self.run()

        self._thread = threading.Thread(target=target, name="tinhso-env-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def history(station_code: str, parameters: list[str], hours: int, now: datetime | None = None) -> list[dict]:
    """Hourly readings over the last `hours` hours (for seeding); timestamps at 5 past each hour."""
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    out = []
    for k in range(hours, 0, -1):
        t = now - timedelta(hours=k) + timedelta(minutes=5)
        out.extend(readings_at(station_code, parameters, t))
    return out
