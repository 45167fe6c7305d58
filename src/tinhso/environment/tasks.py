"""Background jobs: silence checks, escalation, retention of raw readings; and the runner that hosts them
with the MQTT subscriber in the API process (startup hook) and in `tinhso worker`."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete

from tinhso.environment import alerts
from tinhso.environment.config import env_settings
from tinhso.environment.models import Reading
from tinhso.kit.db import Database, utcnow

if TYPE_CHECKING:
    from tinhso.environment.mqtt import MqttIngestor
    from tinhso.environment.simulator import LiveSimulator

log = logging.getLogger("tinhso.environment.tasks")


def purge_old_readings(db: Database) -> int:
    """Retention: raw readings older than TINHSO_ENV_RETENTION_DAYS go; hourly means and indices stay."""
    limit = utcnow() - timedelta(days=env_settings().retention_days)
    with db.transaction() as session:
        result = session.execute(delete(Reading).where(Reading.observed_at < limit))
        return int(getattr(result, "rowcount", 0) or 0)


def run_jobs_once(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        silent = alerts.check_silence(session)
    with db.transaction() as session:
        escalated = alerts.escalate_due(session)
    purged = purge_old_readings(db)
    return {"silence": len(silent), "escalated": len(escalated), "purged": purged}


def sync_broker(db: Database) -> bool:
    """Rewrite Mosquitto's password and ACL files from the credentials when configured (broker.py)."""
    settings = env_settings()
    if not settings.broker_auth_dir:
        return False
    from pathlib import Path

    from tinhso.environment import broker

    pid_file = Path(settings.broker_pid_file) if settings.broker_pid_file else None
    with db.transaction(write=False) as session:
        return broker.sync(session, Path(settings.broker_auth_dir), pid_file)


def jobs_loop(stop: threading.Event, db: Database, every: float = 60.0) -> None:
    """The jobs every minute; the broker's accounts every few seconds (a revocation reaches the broker fast)."""
    tick = min(every, env_settings().broker_sync_seconds)
    last_jobs = time.monotonic()
    while True:
        try:
            sync_broker(db)
        except Exception:  # noqa: BLE001 - keep running after a database or file-system hiccup
            log.exception("MQTT broker accounts not written")
        if stop.wait(tick):
            return
        if time.monotonic() - last_jobs >= every:
            last_jobs = time.monotonic()
            try:
                run_jobs_once(db)
            except Exception:  # noqa: BLE001 - keep running after a database hiccup
                log.exception("environment jobs failed")


def mqtt_enabled() -> bool:
    from tinhso.settings import get_settings

    configured = env_settings().mqtt_enabled
    if configured is not None:
        return configured
    return get_settings().environment != "test"


class Background:
    """What the environment module runs beside the API: the MQTT subscriber, the jobs, the demo simulator."""

    def __init__(self, db: Database, role: str) -> None:
        self.db = db
        self.role = role
        self.stop_event = threading.Event()
        self.ingestor: MqttIngestor | None = None
        self.simulator: LiveSimulator | None = None
        self.jobs: threading.Thread | None = None

    def start(self, with_simulator: bool = False, http_base: str = "http://127.0.0.1:8000") -> None:
        from tinhso.environment.mqtt import MqttIngestor

        if mqtt_enabled():
            self.ingestor = MqttIngestor(self.db, client_id=f"{env_settings().mqtt_client_id}-{self.role}")
            self.ingestor.start()
        self.jobs = threading.Thread(target=jobs_loop, args=(self.stop_event, self.db), daemon=True)
        self.jobs.start()
        if with_simulator:
            from tinhso.environment.demo import demo_devices
            from tinhso.environment.simulator import LiveSimulator

            with self.db.transaction(write=False) as session:
                devices = demo_devices(session)
            if devices:
                transport = "auto" if self.ingestor is not None else "http"
                self.simulator = LiveSimulator(devices, rate=0.5, http_base=http_base, transport=transport)
                self.simulator.start(delay=3.0)
                log.info("demo sensor simulator started", extra={"transport": self.simulator.transport})

    def stop(self) -> None:
        self.stop_event.set()
        if self.simulator is not None:
            self.simulator.stop()
        if self.ingestor is not None:
            self.ingestor.stop()
        if self.jobs is not None:
            self.jobs.join(timeout=5)
