"""Open-data settings (environment prefix TINHSO_OPENDATA_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class OpendataSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TINHSO_OPENDATA_", env_file=".env", extra="ignore")

    # CKAN's datastore_search_sql: off unless enabled (read-only, SELECT only, run in an isolated DuckDB).
    sql_enabled: bool = False
    sql_max_source_rows: int = 200_000
    # Aggregates from the warehouse: cells counting fewer people/records than this are suppressed.
    suppression_threshold: int = 5
    upload_max_bytes: int = 8 * 1024 * 1024
    site_title: str = "Cổng dữ liệu mở tỉnh Nghệ An"


@lru_cache
def get_opendata_settings() -> OpendataSettings:
    return OpendataSettings()
