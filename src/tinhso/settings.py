"""One typed Settings for the whole platform (environment prefix TINHSO_)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "change-me-development-only"  # noqa: S105 - refused outside demo/development


class Settings(BaseSettings):
    """Platform settings; every field can be set as TINHSO_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="TINHSO_", env_file=".env", extra="ignore")

    environment: Literal["development", "demo", "test", "production"] = "development"
    var_dir: Path = Path("var")
    # Extra Alembic version directories (os.pathsep-separated): an installation's own migrations, upgrade drills.
    migration_dirs: str = ""
    database_url: str = ""
    bus_url: str = "inprocess://"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    secret_key: str = DEFAULT_SECRET
    base_url: str = "http://127.0.0.1:8000"
    province_code: str = "40"
    province_name: str = "Nghệ An"
    default_locale: Literal["vi", "en"] = "vi"
    access_token_minutes: int = 15
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    max_body_bytes: int = 10 * 1024 * 1024
    log_json: bool = True
    log_level: str = "INFO"
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    run_dispatcher: bool = True
    # Who may scrape /metrics (per-service and per-client exchange traffic is agency data): clients in these
    # networks (after the proxy headers, so not the public behind nginx), or any caller with this bearer token.
    metrics_networks: list[str] = ["127.0.0.0/8", "::1/128"]
    metrics_token: str = ""

    @field_validator("metrics_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(
                    f"TINHSO_METRICS_NETWORKS: {net!r} is not a network (e.g. 10.20.0.0/24)"
                ) from None
        return value

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "TINHSO_SECRET_KEY must be set outside demo/development "
                "(Cần đặt TINHSO_SECRET_KEY khi chạy môi trường production)"
            )
        if self.environment == "production" and len(self.secret_key) < 32:
            raise ValueError("TINHSO_SECRET_KEY must be at least 32 characters in production")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'tinhso.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def cookie_secure(self) -> bool:
        return not (self.base_url.startswith("http://127.") or self.base_url.startswith("http://localhost"))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache)."""
    return Settings()
