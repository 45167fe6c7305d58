"""The assistant's own settings (environment prefix TINHSO_ASSISTANT_), separate from the shared Settings."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AssistantSettings(BaseSettings):
    """TINHSO_ASSISTANT_LLM_URL turns on a self-hosted, OpenAI-compatible language model (off by default)."""

    model_config = SettingsConfigDict(env_prefix="TINHSO_ASSISTANT_", env_file=".env", extra="ignore")

    llm_url: str = ""  # e.g. http://10.0.0.5:8000/v1 (a vLLM / llama.cpp / Ollama server of the province)
    llm_model: str = "local"
    llm_api_key: str = ""
    llm_timeout_seconds: float = Field(default=8.0, gt=0)
    hotline: str = "1800 1096"  # tổng đài Cổng Dịch vụ công quốc gia; set the province's own hotline
    one_stop_centre: str = "Trung tâm Phục vụ hành chính công tỉnh Nghệ An"
    one_stop_agency_code: str = "000.00.19.H41"
    min_coverage: float = Field(default=0.4, ge=0, le=1)
    min_score: float = Field(default=1.0, ge=0)
    max_question_chars: int = Field(default=1000, ge=10)
    rate_per_minute: int = Field(default=30, ge=1)
    routing_min_confidence: float = Field(default=0.55, ge=0, le=1)


@lru_cache
def assistant_settings() -> AssistantSettings:
    return AssistantSettings()
