"""Commune API shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LegacyUnit(BaseModel):
    code: str
    name: str


class CommuneRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    type: str
    province_code: str
    latitude: float | None
    longitude: float | None
    merged_from: list[LegacyUnit]
