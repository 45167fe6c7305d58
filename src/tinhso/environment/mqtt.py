"""MQTT ingestion from the real broker (TINHSO_MQTT_URL).

Topic scheme: `<prefix>/<station code>/<device code>/readings` (prefix `tinhso/env` by default), payload

    {"token": "dev_…", "readings": [{"parameter": "PM2.5", "value": 12.3, "unit": "µg/m³", "time": "…"}]}

or `"username"`/`"password"` instead of `"token"` for an MQTT credential. The credential must belong to the
device named by the topic (the topic is the ACL). A refused message is answered on
`<prefix>/<station>/<device>/errors` with the platform's typed error.

The subscriber keeps a persistent session (clean_session false, a fixed client id, QoS 1, manual
acknowledgement): a message is acknowledged to the broker only after its readings are committed, so what the
broker kept while the platform was away or the database failed is delivered again and stored once (idempotent
on device, parameter, time). The API process and `tinhso worker` share the work through a shared subscription;
where one process ingests, TINHSO_ENV_MQTT_SHARED_SUBSCRIPTION=false subscribes without the share group, a
subscription Mosquitto restores from its store after a restart of its own, so readings published before the
platform has reconnected are queued for it instead of dropped.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as paho

from tinhso.environment import ingest, ratelimit
from tinhso.environment.config import env_settings
from tinhso.kit.db import Database, utcnow
from tinhso.kit.errors import DomainError, Unprocessable
from tinhso.kit.i18n import both
from tinhso.settings import get_settings

log = logging.getLogger("tinhso.environment.mqtt")

SHARE_GROUP = "tinhso-env"


def broker_address(url: str | None = None) -> tuple[str, int, str | None, str | None]:
    parsed = urlparse(url or get_settings().mqtt_url)
    if parsed.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"unsupported MQTT URL scheme {parsed.scheme!r}")
    return parsed.hostname or "127.0.0.1", parsed.port or 1883, parsed.username, parsed.password


def broker_reachable(url: str | None = None, timeout: float = 1.0) -> bool:
    import socket

    try:
        host, port, _, _ = broker_address(url)
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


@dataclass
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int


class MqttIngestor:
    """Subscribes to the readings topics and stores what arrives, in batches, through `ingest`.

    `share_group`: the shared subscription's group; None for a plain subscription; "" (default) from the
    settings (`tinhso-env`, or plain when TINHSO_ENV_MQTT_SHARED_SUBSCRIPTION is false)."""

    def __init__(
        self,
        db: Database,
        *,
        url: str | None = None,
        prefix: str | None = None,
        client_id: str | None = None,
        share_group: str | None = "",
        batch_max: int = 2000,
        flush_seconds: float = 0.05,
    ) -> None:
        settings = env_settings()
        self.db = db
        self.url = url
        self.prefix = (prefix or settings.mqtt_topic_prefix).rstrip("/")
        self.client_id = client_id or settings.mqtt_client_id
        if share_group == "":  # from the settings
            share_group = SHARE_GROUP if settings.mqtt_shared_subscription else None
        self.share_group = share_group
        self.batch_max = batch_max
        self.flush_seconds = flush_seconds
        self._queue: queue.Queue[_Message] = queue.Queue(maxsize=100_000)
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self.connected = threading.Event()
        self.stored = 0
        self.refused = 0
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
            manual_ack=True,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(
            min_delay=settings.mqtt_reconnect_min_seconds,  # type: ignore[arg-type]  # paho takes fractions
            max_delay=max(settings.mqtt_reconnect_min_seconds, settings.mqtt_reconnect_max_seconds),  # type: ignore[arg-type]
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)

    @property
    def subscription(self) -> str:
        topic = f"{self.prefix}/+/+/readings"
        return f"$share/{self.share_group}/{topic}" if self.share_group else topic

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("MQTT connection refused", extra={"reason": str(rc)})
            return
        client.subscribe(self.subscription, qos=1)
        self.connected.set()
        log.info("MQTT subscribed", extra={"topic": self.subscription})

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("MQTT connection lost; reconnecting", extra={"reason": str(rc)})

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._queue.put(_Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    def start(self) -> None:
        host, port, user, password = broker_address(self.url)
        if user:
            self.client.username_pw_set(user, password)
        self._stop.clear()
        self._writer = threading.Thread(target=self._run, name=f"mqtt-ingest-{self.client_id}", daemon=True)
        self._writer.start()
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()

    def _run(self) -> None:
        while not self._stop.is_set() or not self._queue.empty():
            batch: list[_Message] = []
            try:
                batch.append(self._queue.get(timeout=0.2))
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            deadline = time.monotonic() + self.flush_seconds
            while len(batch) < self.batch_max:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
            self._handle(batch)

    def _handle(self, batch: list[_Message]) -> None:
        for attempt in range(5):
            try:
                errors = self.process(batch)
                break
            except Exception:  # noqa: BLE001 - a database failure: retry; the broker keeps what is not acked
                log.exception("MQTT batch failed", extra={"attempt": attempt})
                if self._stop.wait(min(10.0, 0.5 * 2**attempt)):
                    return
        else:
            return  # not acknowledged: the broker redelivers after reconnecting
        for m in batch:
            if m.qos > 0:
                self.client.ack(m.mid, m.qos)
        for topic, body in errors:
            self.client.publish(topic, json.dumps(body, ensure_ascii=False), qos=0)

    def process(self, batch: list[_Message]) -> list[tuple[str, dict[str, Any]]]:
        """Store a batch of messages in one transaction; returns the error replies to publish.

        The batch's credentials are fetched in one query, its rate limits taken once per device, and its
        readings stored with one multi-row insert."""
        errors: list[tuple[str, dict[str, Any]]] = []
        now = utcnow()
        parsed: list[tuple[str, str, dict[str, Any] | None, Exception | None]] = []
        for m in batch:
            parts = m.topic.split("/")
            station_code, device_code = parts[-3], parts[-2]
            try:
                doc = json.loads(m.payload)
                if (
                    not isinstance(doc, dict)
                    or not isinstance(doc.get("readings"), list)
                    or not doc["readings"]
                ):
                    raise Unprocessable("mqtt_payload_invalid", "The MQTT payload is not valid")
                if any(
                    not isinstance(i, dict) or not {"parameter", "value", "time"} <= i.keys()
                    for i in doc["readings"]
                ):
                    raise Unprocessable("mqtt_payload_invalid", "The MQTT payload is not valid")
                parsed.append((station_code, device_code, doc, None))
            except (ValueError, UnicodeDecodeError, DomainError) as exc:
                parsed.append((station_code, device_code, None, exc))
        with self.db.transaction() as session:
            known = ingest.preload_credentials(
                session,
                (str(doc.get("token") or doc.get("password") or "") for _, _, doc, _ in parsed if doc),
            )
            accepted: list[tuple[str, str, ingest.DeviceContext, list[dict[str, Any]]]] = []
            for station_code, device_code, doc, failure in parsed:
                try:
                    if failure is not None:
                        raise failure
                    assert doc is not None
                    if "token" in doc:
                        ctx = ingest.authenticate(
                            session,
                            doc.get("token"),
                            station_code=station_code,
                            device_code=device_code,
                            known=known,
                        )
                    else:
                        ctx = ingest.authenticate(
                            session,
                            doc.get("password"),
                            mqtt_username=str(doc.get("username")),
                            station_code=station_code,
                            device_code=device_code,
                            known=known,
                        )
                    accepted.append((station_code, device_code, ctx, doc["readings"]))
                except (ValueError, UnicodeDecodeError):
                    errors.append(
                        self._error(
                            station_code, device_code, "mqtt_payload_invalid", "The MQTT payload is not valid"
                        )
                    )
                except DomainError as exc:
                    errors.append(self._error(station_code, device_code, exc.code, exc.message, **exc.params))
            rows: list[dict[str, Any]] = []
            waits = ratelimit.check_many(session, [(ctx, len(items)) for _, _, ctx, items in accepted])
            for (station_code, device_code, ctx, items), wait in zip(accepted, waits, strict=True):
                try:
                    if wait > 0:
                        raise ratelimit.rate_limited(wait)
                    with session.no_autoflush:
                        rows += ingest.prepare(ctx, items, "mqtt", now)
                except DomainError as exc:
                    errors.append(self._error(station_code, device_code, exc.code, exc.message, **exc.params))
            result = ingest.store(session, rows, now)
        self.refused += len(errors)
        self.stored += result.accepted
        return errors

    def _error(self, station: str, device: str, code: str, message: str, **params: Any) -> tuple[str, dict]:
        return (
            f"{self.prefix}/{station}/{device}/errors",
            {"code": code, "message": both(message, **params), "at": utcnow().isoformat()},
        )


def publish_readings(
    client: paho.Client,
    prefix: str,
    station: str,
    device: str,
    token: str,
    readings: list[dict],
    qos: int = 1,
) -> paho.MQTTMessageInfo:
    """What a device does (used by the simulator and the tests)."""
    body = {"token": token, "readings": readings}
    return client.publish(f"{prefix}/{station}/{device}/readings", json.dumps(body, default=str), qos=qos)
