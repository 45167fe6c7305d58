"""Environment API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tinhso.kit.text import nfc

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"
StationKind = Literal["air", "water", "weather"]
StationStatus = Literal["active", "maintenance", "retired"]


def _tax_code(v: str | None) -> str | None:
    if v is None:
        return v
    from stdnum.vn import mst

    try:
        return mst.validate(v)
    except Exception as exc:  # noqa: BLE001 - stdnum raises several ValidationError subclasses
        raise ValueError("not a valid Vietnamese tax code (mã số thuế)") from exc


class StationBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=255)
    owner_kind: Literal["agency", "business"] = "agency"
    owner_name: str | None = Field(default=None, max_length=255, description="Defaults to the agency's name")
    owner_tax_code: str | None = Field(default=None, description="Mã số thuế of a business owner")
    commune_code: str | None = Field(default=None, pattern=r"^\d{5}$")
    address: str | None = Field(default=None, max_length=255)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    parameters: list[str] = Field(default_factory=list, max_length=60)
    thresholds: dict[str, float] = Field(default_factory=dict)
    calibration_notes: str | None = Field(default=None, max_length=4000)
    status: StationStatus = "active"
    public: bool = True

    _nfc = field_validator("name", "owner_name", "address")(lambda v: nfc(v) if v else v)
    _mst = field_validator("owner_tax_code")(_tax_code)


class StationCreate(StationBase):
    code: str = Field(pattern=CODE)
    kind: StationKind
    agency_code: str | None = Field(default=None, description="Managing agency; platform admins only")


class StationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=2, max_length=255)
    owner_kind: Literal["agency", "business"] | None = None
    owner_name: str | None = Field(default=None, max_length=255)
    owner_tax_code: str | None = None
    commune_code: str | None = Field(default=None, pattern=r"^\d{5}$")
    address: str | None = Field(default=None, max_length=255)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    parameters: list[str] | None = Field(default=None, max_length=60)
    thresholds: dict[str, float] | None = None
    calibration_notes: str | None = Field(default=None, max_length=4000)
    status: StationStatus | None = None
    public: bool | None = None

    _nfc = field_validator("name", "owner_name", "address")(lambda v: nfc(v) if v else v)
    _mst = field_validator("owner_tax_code")(_tax_code)


class StationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    code: str
    name: str
    kind: str
    agency_code: str
    owner_kind: str
    owner_name: str
    owner_tax_code: str | None
    commune_code: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    parameters: list[str]
    thresholds: dict[str, float]
    calibration_notes: str | None
    status: str
    public: bool
    last_reading_at: datetime | None
    created_at: datetime


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=CODE)
    model: str | None = Field(default=None, max_length=128)
    serial: str | None = Field(default=None, max_length=128)
    parameters: list[str] = Field(default_factory=list, max_length=60)
    calibration_notes: str | None = Field(default=None, max_length=4000)
    calibrated_at: datetime | None = None


class DeviceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(default=None, max_length=128)
    serial: str | None = Field(default=None, max_length=128)
    parameters: list[str] | None = Field(default=None, max_length=60)
    calibration_notes: str | None = Field(default=None, max_length=4000)
    calibrated_at: datetime | None = None
    status: Literal["active", "maintenance", "retired"] | None = None


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    station_id: str
    code: str
    model: str | None
    serial: str | None
    parameters: list[str]
    calibration_notes: str | None
    calibrated_at: datetime | None
    status: str
    last_seen_at: datetime | None


class CredentialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["token", "mqtt"] = "token"


class CredentialRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    device_id: str
    kind: str
    mqtt_username: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class CredentialIssued(CredentialRead):
    """Shown once: the platform keeps only a hash of the secret."""

    token: str | None = None
    mqtt_password: str | None = None
    mqtt_topic: str | None = None


class ReadingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameter: str = Field(min_length=1, max_length=32)
    value: float
    unit: str | None = Field(default=None, max_length=16)
    time: datetime = Field(description="When it was measured (ISO 8601 with time zone)")


class ReadingBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    readings: list[ReadingIn] = Field(min_length=1, max_length=5000)


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    flagged: int
    alerts: list[str] = Field(default_factory=list)


class ReadingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    parameter: str
    observed_at: datetime
    value: float
    quality: str
    flags: list[str]
    device_id: str


class HourlyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    parameter: str
    hour: datetime
    mean: float
    minimum: float
    maximum: float
    count: int


class IndexRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: str
    period_start: datetime
    value: int | None
    dominant: str | None
    reason: str | None
    sub_indices: dict[str, Any]
    inputs: dict[str, Any]
    exceedances: list[Any]
    category_vi: str | None = None
    category_en: str | None = None
    colour: str | None = None


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    station_id: str
    agency_code: str
    rule: str
    parameter: str | None
    status: str
    severity: str
    level: int
    value: float | None
    limit: float | None
    detail: dict[str, Any]
    occurrences: int
    raised_at: datetime
    last_seen_at: datetime
    escalated_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None


class AlertAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class DutyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=255)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{9,15}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=255)
    level: int = Field(default=1, ge=1, le=5)


class DutyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    agency_code: str
    name: str
    phone: str | None
    email: str | None
    level: int
    active: bool
