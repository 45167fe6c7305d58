"""Validated input and plain outputs of the open-data module (the CKAN layer converts CKAN dicts into these)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tinhso.kit.text import nfc
from tinhso.opendata.errors import ValidationFailed
from tinhso.opendata.licenses import resolve

NAME_PATTERN = r"^[a-z0-9_-]{2,100}$"
FREQUENCIES = (
    "CONT",
    "DAILY",
    "WEEKLY",
    "MONTHLY",
    "QUARTERLY",
    "BIANNUAL",
    "ANNUAL",
    "IRREG",
    "NEVER",
    "UNKNOWN",
)
UPLOAD_FORMATS = {
    "csv": "text/csv",
    "json": "application/json",
    "geojson": "application/geo+json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
    "pdf": "application/pdf",
    "xml": "application/xml",
    "txt": "text/plain",
    "zip": "application/zip",
}


class ResourceIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    name: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    format: str | None = Field(default=None, max_length=32)
    url: str | None = Field(default=None, max_length=1000)
    mimetype: str | None = Field(default=None, max_length=128)
    extras: dict[str, Any] = Field(default_factory=dict)


class DatasetIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(pattern=NAME_PATTERN)
    title: str = Field(min_length=1, max_length=500)
    title_en: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=50_000)
    owner_org: str | None = Field(default=None, max_length=100)
    license_id: str | None = None
    url: str | None = Field(default=None, max_length=1000)
    version: str | None = Field(default=None, max_length=64)
    author: str | None = Field(default=None, max_length=255)
    author_email: str | None = Field(default=None, max_length=255)
    maintainer: str | None = Field(default=None, max_length=255)
    maintainer_email: str | None = Field(default=None, max_length=255)
    private: bool = False
    state: str = Field(default="active", pattern=r"^(active|draft)$")
    featured: bool = False
    frequency: str | None = None
    temporal_start: date | None = None
    temporal_end: date | None = None
    spatial: str | None = Field(default=None, max_length=255)
    language: str = Field(default="vi", pattern=r"^[a-z]{2}$")
    tags: list[str] = Field(default_factory=list, max_length=100)
    groups: list[str] = Field(default_factory=list, max_length=50)
    extras: dict[str, str] = Field(default_factory=dict)
    resources: list[ResourceIn] | None = None

    @field_validator("title", "notes", "title_en")
    @classmethod
    def _nfc(cls, value: str | None) -> str | None:
        return nfc(value).strip() if value else value

    @field_validator("license_id")
    @classmethod
    def _license(cls, value: str | None) -> str | None:
        if not value:
            return None
        lic = resolve(value)
        if lic is None:
            raise ValueError(f"unknown licence '{value}' (see license_list)")
        return lic.id

    @field_validator("frequency")
    @classmethod
    def _frequency(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.upper() not in FREQUENCIES:
            raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}")
        return value.upper()

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for tag in value:
            tag = nfc(tag).strip()
            if not 1 <= len(tag) <= 100 or any(not (c.isalnum() or c in " -_.") for c in tag):
                raise ValueError(f"tag '{tag}' must be 1-100 letters, digits, spaces, '-', '_' or '.'")
            if tag not in out:
                out.append(tag)
        return out


def validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate into `model`, turning Pydantic's errors into a field → messages ValidationFailed."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, list[str]] = {}
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ())) or "__all__"
            fields.setdefault(loc, []).append(str(err.get("msg")))
        raise ValidationFailed(fields) from None
