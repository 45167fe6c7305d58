"""Assistant API shapes: text services, questions and answers, documents, the AI register."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TEXT_MAX = 20_000


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=TEXT_MAX, description="Vietnamese text (UTF-8)")


class NormalizeIn(TextIn):
    tone_style: Literal["old", "new"] = Field(
        "old", description="old: hòa, thủy (traditional); new: hoà, thuỷ (tone on the second vowel)"
    )


class NormalizeOut(BaseModel):
    text: str
    changed: bool


class RestoreOut(BaseModel):
    text: str
    restored_words: int


class SegmentOut(BaseModel):
    words: list[str]
    text: str = Field(description="Words joined with spaces, syllables of a word joined with '_'")


class Keyword(BaseModel):
    keyword: str
    count: int


class KeywordsIn(TextIn):
    limit: int = Field(10, ge=1, le=50)


class KeywordsOut(BaseModel):
    keywords: list[Keyword]


class AgencyScore(BaseModel):
    agency_code: str
    agency_name: str
    probability: float


class ClassifyOut(BaseModel):
    agency_code: str | None = Field(description="The agency to route to; null when a person must decide")
    agency_name: str | None
    confidence: float
    needs_human: bool
    candidates: list[AgencyScore]
    evidence: list[str] = Field(description="The words that weighed most for the chosen agency")


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=5000)
    session_id: str | None = Field(None, min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    lang: Literal["vi", "en"] = "vi"

    @field_validator("question")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the question is empty")
        return v


class Citation(BaseModel):
    kind: str
    ref: str
    title: str
    url: str | None
    agency_code: str | None = None
    chunk: int = 0


class PassageOut(BaseModel):
    document_id: str
    title: str
    chunk: int
    text: str
    suspected_injection: bool = False


class AskOut(BaseModel):
    answer_id: str
    status: Literal["answered", "unknown", "refused"]
    reason: str | None = None
    answer: str
    confidence: float
    restored_question: str
    citations: list[Citation]
    sections: dict[str, str] = Field(default_factory=dict)
    passages: list[PassageOut] = Field(default_factory=list)
    hotline: str
    llm_used: bool = False


class AnswerLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    asked_at: datetime
    session_id: str | None
    audience: str
    question: str
    restored: str
    status: str
    reason: str | None
    confidence: float
    answer: str
    sources: list[Any]
    agency_code: str | None
    llm_used: bool


class DocumentCreate(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    content: str = Field(min_length=1, max_length=500_000)
    format: Literal["text", "markdown"] = "text"
    visibility: Literal["agency", "province"] = "agency"


class DocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    agency_code: str
    title: str
    format: str
    visibility: str
    uploaded_by: str
    created_at: datetime
    chunks: int = 0
    warnings: list[str] = Field(default_factory=list)


class DocumentFull(DocumentRead):
    content: str


PersonalData = Literal["none", "personal", "sensitive"]
DecisionRole = Literal["informs", "assists", "decides"]
Affected = Literal["citizens", "businesses", "officials", "vulnerable"]
Prohibited = Literal["social_scoring", "manipulation", "mass_biometric_surveillance"]


class AISystemBase(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    owner_agency_code: str = Field(min_length=1, max_length=32)
    purpose: str = Field(min_length=1, max_length=5000)
    data_used: list[str] = Field(default_factory=list, max_length=50)
    personal_data: PersonalData
    decision_role: DecisionRole
    affected: list[Affected] = Field(default_factory=list)
    prohibited_practices: list[Prohibited] = Field(default_factory=list)
    human_oversight: str = Field(min_length=1, max_length=5000)
    transparency_note: str = Field(min_length=1, max_length=5000)
    status: Literal["planned", "active", "retired"] = "active"


class AISystemCreate(AISystemBase):
    code: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


class AISystemUpdate(BaseModel):
    version: int = Field(ge=1, description="The version you read; a stale version is refused (409)")
    name: str | None = Field(None, min_length=1, max_length=255)
    purpose: str | None = Field(None, min_length=1, max_length=5000)
    data_used: list[str] | None = Field(None, max_length=50)
    personal_data: PersonalData | None = None
    decision_role: DecisionRole | None = None
    affected: list[Affected] | None = None
    prohibited_practices: list[Prohibited] | None = None
    human_oversight: str | None = Field(None, min_length=1, max_length=5000)
    transparency_note: str | None = Field(None, min_length=1, max_length=5000)
    status: Literal["planned", "active", "retired"] | None = None


class RiskReason(BaseModel):
    code: str
    vi: str
    en: str


class AISystemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    code: str
    name: str
    owner_agency_code: str
    purpose: str
    data_used: list[str]
    personal_data: str
    decision_role: str
    affected: list[str]
    prohibited_practices: list[str]
    risk_level: str
    risk_reasons: list[RiskReason]
    human_oversight: str
    transparency_note: str
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class FaqCreate(BaseModel):
    question: str = Field(min_length=5, max_length=500)
    answer: str = Field(min_length=5, max_length=5000)
    agency_code: str | None = Field(
        default=None, max_length=32, description="Platform admins only; defaults to the caller's agency"
    )
    published: bool = True


class FaqUpdate(BaseModel):
    question: str | None = Field(default=None, min_length=5, max_length=500)
    answer: str | None = Field(default=None, min_length=5, max_length=5000)
    published: bool | None = None


class FaqRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    agency_code: str
    question: str
    answer: str
    published: bool
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime
