"""Settings of the environment module (TINHSO_ENV_*), beside the platform's TINHSO_MQTT_URL."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EnvironmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TINHSO_ENV_", env_file=".env", extra="ignore")

    # MQTT: tinhso/env/<station code>/<device code>/readings (see docs/environment.md)
    mqtt_topic_prefix: str = "tinhso/env"
    mqtt_enabled: bool | None = None  # None: on, except when TINHSO_ENVIRONMENT=test
    mqtt_client_id: str = "tinhso-environment"
    # Where several processes ingest (the API process and `tinhso worker`), they share the readings through the
    # shared subscription `$share/tinhso-env/…`. Where one process ingests (the data-centre layout: only the
    # worker), false: a plain subscription, which Mosquitto keeps in the persistent session across its own
    # restart (2.0.11 does not restore a shared one), so readings arriving before the platform is back wait.
    mqtt_shared_subscription: bool = True
    # Reconnecting after the broker went away: the first wait, doubled at each failure up to the longest.
    mqtt_reconnect_min_seconds: float = Field(default=0.5, gt=0, le=60)
    mqtt_reconnect_max_seconds: float = Field(default=4.0, gt=0, le=300)
    # Per-device flood control: a token bucket of readings.
    rate_per_second: float = Field(default=200.0, gt=0)
    rate_burst: float = Field(default=2000.0, gt=0)
    max_future_seconds: int = 300
    retention_days: int = 400  # raw readings; hourly means and indices are kept
    silence_minutes: int = 60
    escalate_minutes: int = 30
    anomaly_z: float = 6.0
    anomaly_min_history: int = 48
    simulate_in_demo: bool = True
    # Mosquitto's own authentication (broker.py): where to write passwd and acl, and the broker's pid file.
    broker_auth_dir: str | None = None
    broker_pid_file: str | None = None
    broker_sync_seconds: float = Field(default=10.0, gt=0)


@lru_cache
def env_settings() -> EnvironmentSettings:
    return EnvironmentSettings()
