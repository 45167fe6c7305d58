"""Exchange API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

Classification = Literal["public", "internal", "personal", "secret"]
Lifecycle = Literal["draft", "published", "deprecated", "retired"]
CODE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
METHOD = r"^(\*|GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$"
MAX_TTL = 30 * 24 * 3600  # a subscription's event time-to-live: at most 30 days


class ServiceBase(BaseModel):
    title_vi: str = Field(min_length=1, max_length=255)
    title_en: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    upstream_url: HttpUrl
    health_path: str | None = Field(default=None, max_length=200, pattern=r"^/[^\s]*$")
    openapi: dict[str, Any] | None = None
    classification: Classification = "internal"
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=0, le=1024 * 1024 * 1024)
    rate_limit_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    body_retention_days: int = Field(default=30, ge=0, le=3650)


class ServiceCreate(ServiceBase):
    system_code: str = Field(pattern=CODE, description="Code of the provider system (of the caller's agency)")
    code: str = Field(pattern=CODE)
    version: str = Field(default="v1", pattern=r"^v[0-9]{1,3}(\.[0-9]{1,3}){0,2}$")
    agency_code: str | None = Field(default=None, max_length=32, description="Platform admins only")


class ServiceUpdate(BaseModel):
    title_vi: str | None = Field(default=None, min_length=1, max_length=255)
    title_en: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    upstream_url: HttpUrl | None = None
    health_path: str | None = Field(default=None, max_length=200, pattern=r"^/[^\s]*$")
    openapi: dict[str, Any] | None = None
    classification: Classification | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=300)
    max_body_bytes: int | None = Field(default=None, ge=0, le=1024 * 1024 * 1024)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    body_retention_days: int | None = Field(default=None, ge=0, le=3650)


class LifecycleChange(BaseModel):
    state: Lifecycle


class Operation(BaseModel):
    method: str = Field(pattern=METHOD)
    path: str = Field(min_length=1, max_length=500, pattern=r"^(\*\*|/[^\s?#]*)$")


class ServiceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    identifier: str
    agency_code: str
    system_code: str
    code: str
    version: str
    title_vi: str
    title_en: str | None
    description: str | None
    upstream_url: str | None = None
    classification: str
    state: str
    timeout_seconds: float
    max_body_bytes: int
    rate_limit_per_minute: int
    available: bool | None
    last_success_at: datetime | None
    operations: list[Operation] = []
    created_at: datetime
    updated_at: datetime


class AccessRequestCreate(BaseModel):
    service_id: str = Field(max_length=32)
    purpose: str = Field(min_length=3, max_length=2000)
    legal_basis: str = Field(min_length=3, max_length=2000)
    operations: list[Operation] = Field(default_factory=list, max_length=200)
    valid_until: datetime | None = None
    client: str | None = Field(default=None, max_length=200, description="Member id; defaults to the caller")


class AccessDecision(BaseModel):
    decision: Literal["approve", "limit", "refuse"]
    operations: list[Operation] | None = Field(default=None, max_length=200)
    valid_until: datetime | None = None
    note: str | None = Field(default=None, max_length=2000)


class AccessRequestRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    service_id: str
    client: str
    client_agency_code: str
    purpose: str
    legal_basis: str
    operations: list[Operation]
    valid_until: datetime | None
    state: str
    decided_at: datetime | None
    decision_note: str | None
    created_at: datetime


class GrantCreate(BaseModel):
    service_id: str = Field(max_length=32)
    client: str = Field(max_length=200)
    method: str = Field(default="*", pattern=METHOD)
    path: str = Field(default="**", max_length=500, pattern=r"^(\*\*|/[^\s?#]*)$")
    valid_until: datetime | None = None


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    service_id: str
    request_id: str | None
    client: str
    method: str
    path: str
    valid_until: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class PeerCreate(BaseModel):
    instance: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
    base_url: HttpUrl
    public_key_pem: str = Field(min_length=40, max_length=2000)


class PeerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    instance: str
    base_url: str
    public_key_pem: str
    active: bool


class EventTypeCreate(BaseModel):
    system_code: str = Field(pattern=CODE)
    code: str = Field(pattern=CODE, description="Case kept (newBirth), unique in its room ignoring case")
    title: str | None = Field(default=None, max_length=255)
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    classification: Classification = "internal"


class EventTypeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    owner: str
    code: str
    title: str | None
    classification: str


class SubscriptionCreate(BaseModel):
    event_type_id: str = Field(max_length=32)
    system_code: str = Field(pattern=CODE, description="The subscribing system (of the caller's agency)")
    delivery: Literal["push", "pull"] = "push"
    endpoint: HttpUrl | None = None
    max_attempts: int = Field(default=8, ge=1, le=50)
    fifo: bool = Field(default=True, description="Deliver in publication order per key")
    ttl_seconds: int | None = Field(default=None, ge=1, le=MAX_TTL, description="None: no expiry")


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    event_type_id: str
    subscriber: str
    delivery: str
    endpoint: str | None
    max_attempts: int
    fifo: bool
    ttl_seconds: int | None
    state: str


class GovStackOptions(BaseModel):
    """The `options` of a GovStack pub/sub subscription (SubscriptionItem): TTL in seconds and FIFO, with
    the defaults of the specification; `maxAttempts` is this hub's addition (push retries)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    TTL: int = Field(default=3600, ge=1, le=MAX_TTL)
    FIFO: bool = False
    maxAttempts: int = Field(default=8, ge=1, le=50)


class PublishRequest(BaseModel):
    key: str | None = Field(default=None, max_length=128)
    event: dict[str, Any]


class EventRead(BaseModel):
    id: str
    sequence: int
    event_type: str
    publisher: str
    key: str | None
    published_at: datetime
    event: dict[str, Any]


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    event_id: str
    subscription_id: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    expires_at: datetime | None
