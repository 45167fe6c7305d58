"""Procedures settings (environment prefix TINHSO_PROCEDURES_)."""

from __future__ import annotations

from datetime import time
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class ProceduresSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TINHSO_PROCEDURES_", env_file=".env", extra="ignore")

    # The province's reception rule, where its regulation sets one: a dossier received at or after this local
    # time, or on a day off, counts as received on the next working day (e.g. 15:00). Unset: counted from the
    # moment of receipt.
    receipt_cutoff: time | None = None


@lru_cache
def get_procedures_settings() -> ProceduresSettings:
    return ProceduresSettings()
