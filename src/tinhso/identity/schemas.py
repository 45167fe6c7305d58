"""Identity API shapes (Base / Create / Update / Read)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tinhso.kit.text import nfc

RoleCode = Literal["citizen", "official", "agency_admin", "leader", "platform_admin"]
AGENCY_CODE = r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$"


class AgencyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    name_en: str | None
    short_name: str | None
    kind: str
    parent_code: str | None
    commune_code: str | None
    code_generated: bool


class AgencyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=AGENCY_CODE, description="Electronic identifier code (QĐ 20/2020/QĐ-TTg)")
    name: str = Field(min_length=2, max_length=255)
    name_en: str | None = Field(default=None, max_length=255)
    short_name: str | None = Field(default=None, max_length=64)
    kind: Literal["province", "department", "sector", "commune"] = "department"
    parent_code: str | None = Field(default=None, pattern=AGENCY_CODE)
    commune_code: str | None = Field(default=None, pattern=r"^\d{5}$")

    _nfc = field_validator("name", "name_en", "short_name")(lambda v: nfc(v) if v else v)


class AgencyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=2, max_length=255)
    name_en: str | None = Field(default=None, max_length=255)
    short_name: str | None = Field(default=None, max_length=64)
    active: bool | None = None


class PersonRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    username: str
    full_name: str
    email: str | None
    phone: str | None
    agency_code: str | None
    active: bool
    roles: list[str]
    locked: bool = False
    totp_enabled: bool = False


class PersonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=3, max_length=128, pattern=r"^[a-z0-9._@-]+$")
    full_name: str = Field(min_length=2, max_length=255)
    email: str | None = Field(default=None, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=32)
    personal_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    agency_code: str | None = Field(default=None, pattern=AGENCY_CODE)
    password: str = Field(min_length=10, max_length=256)
    roles: list[RoleCode] = Field(default=["official"])

    _nfc = field_validator("full_name")(lambda v: nfc(v).strip())


class PersonUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: str | None = Field(default=None, min_length=2, max_length=255)
    email: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=32)
    active: bool | None = None
    roles: list[RoleCode] | None = None
    password: str | None = Field(default=None, min_length=10, max_length=256)
    unlock: bool | None = None


class SystemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    code: str
    agency_code: str
    name: str
    description: str | None
    active: bool
    created_at: datetime


class SystemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    agency_code: str | None = Field(default=None, pattern=AGENCY_CODE)
    name: str = Field(min_length=2, max_length=255)
    description: str | None = Field(default=None, max_length=4000)


class CredentialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[str] = Field(default_factory=lambda: ["api"], max_length=50)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class CredentialRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    client_id: str
    system_id: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class CredentialIssued(CredentialRead):
    client_secret: str = Field(description="Shown once; store it now")


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grantee_agency_code: str = Field(pattern=AGENCY_CODE)
    grantee_system_id: str | None = None
    resource: str = Field(min_length=1, max_length=64, pattern=r"^[a-z_.*]+$")
    purpose: str = Field(min_length=5, max_length=2000)
    valid_until: datetime | None = None


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    owner_agency_code: str
    grantee_agency_code: str
    grantee_system_id: str | None
    resource: str
    purpose: str
    valid_until: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class MeRead(BaseModel):
    kind: str
    id: str
    name: str
    agency_code: str | None
    roles: list[str]
    scopes: list[str]
