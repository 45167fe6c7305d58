"""Environment tables: stations (trạm quan trắc), devices and their credentials, readings, aggregates,
index values (VN_AQI, VN_WQI), alerts, the duty roster and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tinhso.kit.db import Base, IdMixin, TimestampMixin, UTCDateTime

STATION_KINDS = ("air", "water", "weather")
STATION_STATUSES = ("active", "maintenance", "retired")
BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Station(Base, IdMixin, TimestampMixin):
    """A monitoring station, managed by an agency (Sở NN&MT) and owned by that agency or by a business."""

    __tablename__ = "environment_station"
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), index=True)  # air, water, weather
    agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    owner_kind: Mapped[str] = mapped_column(String(16), default="agency")  # agency, business
    owner_name: Mapped[str] = mapped_column(String(255))
    owner_tax_code: Mapped[str | None] = mapped_column(String(14))
    commune_code: Mapped[str | None] = mapped_column(ForeignKey("reference_commune.code"), index=True)
    address: Mapped[str | None] = mapped_column(String(255))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    parameters: Mapped[list[Any]] = mapped_column(default=list)  # parameter codes it measures
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {parameter: alert above}
    calibration_notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    last_reading_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    search_text: Mapped[str] = mapped_column(Text, default="")
    devices: Mapped[list[Device]] = relationship(lazy="raise", back_populates="station")


class Device(Base, IdMixin, TimestampMixin):
    """A sensor or data logger at a station; it sends readings with its own credential."""

    __tablename__ = "environment_device"
    __table_args__ = (UniqueConstraint("station_id", "code"),)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("environment_station.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    serial: Mapped[str | None] = mapped_column(String(128))
    parameters: Mapped[list[Any]] = mapped_column(default=list)
    calibration_notes: Mapped[str | None] = mapped_column(Text)
    calibrated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="active")
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    station: Mapped[Station] = relationship(lazy="raise", back_populates="devices")


class DeviceCredential(Base, IdMixin, TimestampMixin):
    """A device's secret: an HTTP/NGSI-LD bearer token or an MQTT username and password; stored hashed."""

    __tablename__ = "environment_device_credential"
    device_id: Mapped[str] = mapped_column(
        ForeignKey("environment_device.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # token, mqtt
    mqtt_username: Mapped[str | None] = mapped_column(String(128), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # MQTT credentials: the secret as Mosquitto's password_file wants it (PBKDF2-SHA512, `$7$`), see broker.py
    broker_hash: Mapped[str | None] = mapped_column(String(160))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Reading(Base):
    """One raw measurement in the parameter's canonical unit; idempotent on (station, parameter, time).

    The older (device, parameter, time) constraint stays until the next release's contract migration: the
    previous release's processes still name it in their inserts while they serve."""

    __tablename__ = "environment_reading"
    __table_args__ = (
        UniqueConstraint("device_id", "parameter", "observed_at"),
        Index(
            "uq_environment_reading_station_param_time", "station_id", "parameter", "observed_at", unique=True
        ),
    )
    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str] = mapped_column(String(32))
    parameter: Mapped[str] = mapped_column(String(32))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    value: Mapped[float] = mapped_column(Float)
    quality: Mapped[str] = mapped_column(String(16), default="ok")  # ok, suspect
    flags: Mapped[list[Any]] = mapped_column(default=list)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(8), default="http")  # http, mqtt, ngsi, seed


class HourlyMean(Base):
    """The hourly aggregate of a station's parameter (good readings only); `hour` is the start, UTC."""

    __tablename__ = "environment_hourly"
    __table_args__ = (UniqueConstraint("station_id", "parameter", "hour"),)
    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(32), index=True)
    parameter: Mapped[str] = mapped_column(String(32))
    hour: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    mean: Mapped[float] = mapped_column(Float)
    minimum: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)
    suspect: Mapped[int] = mapped_column(Integer, default=0)


class IndexValue(Base):
    """A computed index of a station for a period: aqi_hour, aqi_day, wqi_hour, wqi_day."""

    __tablename__ = "environment_index"
    __table_args__ = (UniqueConstraint("station_id", "kind", "period_start"),)
    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    value: Mapped[int | None] = mapped_column(Integer)
    dominant: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    sub_indices: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    exceedances: Mapped[list[Any]] = mapped_column(default=list)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Alert(Base, IdMixin, TimestampMixin):
    """An alert of a station: threshold, qcvn, anomaly or silence; one open alert per dedup key."""

    __tablename__ = "environment_alert"
    station_id: Mapped[str] = mapped_column(
        ForeignKey("environment_station.id", ondelete="CASCADE"), index=True
    )
    agency_code: Mapped[str] = mapped_column(String(32), index=True)
    rule: Mapped[str] = mapped_column(String(16))
    parameter: Mapped[str | None] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(160), index=True)
    open_key: Mapped[str | None] = mapped_column(String(160), unique=True)  # = dedup_key while not resolved
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, acknowledged, resolved
    severity: Mapped[str] = mapped_column(String(16), default="warning")  # warning, critical
    level: Mapped[int] = mapped_column(Integer, default=1)  # escalation level
    value: Mapped[float | None] = mapped_column(Float)
    limit: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))


class AlertHistory(Base):
    """What happened to an alert: raised, repeated, escalated, acknowledged, resolved."""

    __tablename__ = "environment_alert_history"
    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("environment_alert.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class DutyContact(Base, IdMixin, TimestampMixin):
    """A person on the duty roster of an agency; level 1 is notified first, higher levels on escalation."""

    __tablename__ = "environment_duty"
    agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(255))
    level: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Notification(Base):
    """A message sent to a person on duty about an alert (through the notifier)."""

    __tablename__ = "environment_notification"
    __table_args__ = (UniqueConstraint("event_id", "contact_id", "channel"),)
    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32))
    alert_id: Mapped[str] = mapped_column(String(32), index=True)
    contact_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))  # sms, email
    address: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    provider: Mapped[str] = mapped_column(String(64))


class RateBucket(Base):
    """A device's token bucket of readings (flood control shared by every ingesting process); `at` is the
    Unix time of the last take."""

    __tablename__ = "environment_rate_bucket"
    device_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    at: Mapped[float] = mapped_column(Float)
