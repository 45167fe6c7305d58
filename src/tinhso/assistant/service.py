"""Assistant rules: answering questions, internal documents, the answer log and text services."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tinhso.assistant import answer as compose
from tinhso.assistant.config import AssistantSettings, assistant_settings
from tinhso.assistant.knowledge import Hit, Passage, chunk_text, index_for, mark_changed
from tinhso.assistant.llm import LanguageModelError, configured_model
from tinhso.assistant.models import AnswerLog, KnowledgeDocument
from tinhso.assistant.schemas import AskIn, DocumentCreate
from tinhso.assistant.textproc import normalize
from tinhso.identity import repository as identity_repo
from tinhso.identity.principal import Principal
from tinhso.kit import audit, events
from tinhso.kit.db import Database
from tinhso.kit.errors import Forbidden, NotFound, Unprocessable
from tinhso.kit.ratelimit import Budget, too_many
from tinhso.kit.text import fold

log = logging.getLogger("tinhso.assistant")


# ---------------------------------------------------------------- rate limiting

QUESTIONS = "assistant.questions"  # the budget's name on the shared counters: per caller, per minute


def check_rate(db: Database, key: str, per_minute: int) -> None:
    """Count one question of a caller (person id, system id or client address) on the deployment's shared
    counters; 429 `assistant_rate_limited` with Retry-After when over TINHSO_ASSISTANT_RATE_PER_MINUTE."""
    wait = Budget(QUESTIONS, per_minute, 60).take(db, key)
    if wait > 0:
        raise too_many("assistant_rate_limited", "Too many questions; wait a minute and ask again", wait)


# ---------------------------------------------------------------- who sees what


def is_official(principal: Principal | None) -> bool:
    return bool(
        principal is not None
        and principal.kind == "person"
        and principal.has_role("official", "agency_admin")
    )


def can_see(principal: Principal | None, passage: Passage) -> bool:
    """Procedures are public; internal documents only for officials of the agency, or of any agency."""
    if passage.audience == "public":
        return True
    if not is_official(principal):
        return False
    assert principal is not None
    if principal.is_platform_admin or passage.visibility == "province":
        return True
    return passage.agency_code == principal.agency_code


# ---------------------------------------------------------------- asking


@dataclass
class Result:
    status: str
    reason: str | None
    text: str
    confidence: float
    restored: str
    cited: list[Passage] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)
    passages: list[dict[str, Any]] = field(default_factory=list)
    llm_used: bool = False
    answer_id: str = ""


def _confident(hit: Hit, settings: AssistantSettings) -> bool:
    """Enough of the question is in the passage, and more than one word of it (one shared word is chance)."""
    return hit.coverage >= settings.min_coverage and hit.score >= settings.min_score and hit.matched >= 2


def _previous_procedure(session: Session, session_id: str | None, principal: Principal | None) -> str | None:
    """The procedure the last answered question of this conversation was about (for follow-ups)."""
    if not session_id:
        return None
    stmt = (
        select(AnswerLog)
        .where(AnswerLog.session_id == session_id, AnswerLog.status == "answered")
        .order_by(AnswerLog.asked_at.desc())
        .limit(1)
    )
    if principal is not None:
        stmt = stmt.where(AnswerLog.principal_id == principal.id)
    last = session.scalar(stmt)
    if last is None:
        return None
    for source in last.sources or []:
        if source.get("kind") == "procedure":
            return str(source.get("ref"))
    return None


def answer_question(
    session: Session, principal: Principal | None, data: AskIn, settings: AssistantSettings
) -> Result:
    """Retrieve, then compose from what was retrieved; say so when nothing fits."""
    question = normalize(data.question)
    lang = data.lang
    if len(question) > settings.max_question_chars:
        raise Unprocessable(
            "question_too_long",
            "The question is too long (at most {limit} characters)",
            limit=settings.max_question_chars,
        )
    if compose.looks_english(question):
        return Result("refused", "language", compose.english_text(settings.hotline), 0.0, question)
    index = index_for(session)
    restored, terms = index.query_terms(question)
    hits = index.search(compose.subject_terms(terms), lambda p: can_see(principal, p), k=5)
    top = hits[0] if hits else None
    if (top is None or not _confident(top, settings)) and compose.intents(question):
        code = _previous_procedure(session, data.session_id, principal)
        previous = next((p for p in index.passages if p.source == "procedure" and p.ref == code), None)
        if previous is not None:
            hits = [Hit(previous, settings.min_score, 1.0, 2)]
            top = hits[0]
    if top is None or not _confident(top, settings):
        confidence = top.coverage if top else 0.0
        text = compose.unknown_text(lang, settings.hotline, settings.one_stop_centre)
        return Result("unknown", "low_confidence", text, confidence, restored)
    if top.passage.source == "document":
        draft = compose.compose_document(hits, lang)
    elif top.passage.source == "faq":
        draft = compose.compose_faq(hits, lang)
    else:
        draft = compose.compose_procedure(restored, hits, lang)
        draft.passages = (
            compose.compose_document(hits, lang).passages
            if any(h.passage.source == "document" for h in hits[:3])
            else []
        )
    result = Result(
        "answered",
        None,
        draft.text,
        round(top.coverage, 3),
        restored,
        draft.cited,
        draft.sections,
        draft.passages,
    )
    model = configured_model(settings)
    if model is not None and any(compose.injection_suspected(p.text) for p in draft.cited):
        # A source that tries to give orders never reaches the model; the quoted draft is answered as is.
        result.reason = "llm_skipped_suspect_source"
    elif model is not None:
        try:
            phrased = model.phrase(restored, draft.text, [p.text for p in draft.cited])
        except LanguageModelError as exc:
            log.warning("language model unavailable, answering from retrieval only: %s", exc)
            result.reason = "llm_unavailable"
        else:
            if compose.numbers_supported(phrased, draft.cited):
                result.text, result.llm_used = phrased, True
            else:
                result.reason = "llm_unsupported_facts"
    return result


def ask(
    session: Session,
    principal: Principal | None,
    data: AskIn,
    client_key: str,
    db: Database,
    channel: str = "api",
) -> Result:
    settings = assistant_settings()
    check_rate(db, principal.id if principal else f"ip:{client_key}", settings.rate_per_minute)
    started = time.perf_counter()
    result = answer_question(session, principal, data, settings)
    row = AnswerLog(
        session_id=data.session_id,
        principal_kind=principal.kind if principal else None,
        principal_id=principal.id if principal else None,
        audience="officials" if is_official(principal) else "public",
        question=compose.mask_personal_data(normalize(data.question))[:5000],
        restored=compose.mask_personal_data(result.restored)[:5000],
        language=data.lang,
        status=result.status,
        reason=result.reason,
        confidence=result.confidence,
        answer=result.text,
        sources=[p.cite() for p in result.cited],
        agency_code=result.cited[0].agency_code if result.cited else None,
        llm_used=result.llm_used,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    session.add(row)
    session.flush()
    result.answer_id = row.id
    return result


def answers_statement(principal: Principal, status: str | None, session_id: str | None) -> Select[Any]:
    stmt = select(AnswerLog).order_by(AnswerLog.asked_at.desc())
    if not principal.is_platform_admin:
        stmt = stmt.where(AnswerLog.agency_code == principal.agency_code)
    if status:
        stmt = stmt.where(AnswerLog.status == status)
    if session_id:
        stmt = stmt.where(AnswerLog.session_id == session_id)
    return stmt


def conversation(session: Session, principal: Principal | None, session_id: str) -> list[AnswerLog]:
    """The questions and answers of one conversation, oldest first (only its own caller's, if signed in)."""
    stmt = select(AnswerLog).where(AnswerLog.session_id == session_id).order_by(AnswerLog.asked_at)
    if principal is not None:
        stmt = stmt.where(AnswerLog.principal_id == principal.id)
    else:
        stmt = stmt.where(AnswerLog.principal_id.is_(None))
    return list(session.scalars(stmt.limit(200)))


# ---------------------------------------------------------------- internal documents


def _require_official(principal: Principal) -> None:
    if not is_official(principal):
        raise Forbidden("officials_only", "Only officials may use internal documents")


def create_document(
    session: Session, principal: Principal, data: DocumentCreate
) -> tuple[KnowledgeDocument, bool, list[str]]:
    """Store a document for the caller's agency; the same content again is the same document (a retry)."""
    _require_official(principal)
    if principal.agency_code is None or identity_repo.get_agency(session, principal.agency_code) is None:
        raise Forbidden("agency_required", "Only officials of an agency may upload documents")
    content = normalize_block_text(data.content)
    if not fold(content).strip():
        raise Unprocessable("document_empty", "The document has no text")
    digest = hashlib.sha256(f"{data.title}\n{content}".encode()).hexdigest()
    existing = session.scalar(
        select(KnowledgeDocument).where(
            KnowledgeDocument.agency_code == principal.agency_code, KnowledgeDocument.content_hash == digest
        )
    )
    warnings = ["prompt_injection_suspected"] if compose.injection_suspected(content) else []
    if existing is not None:
        return existing, False, warnings
    doc = KnowledgeDocument(
        agency_code=principal.agency_code,
        title=normalize(data.title),
        format=data.format,
        content=content,
        visibility=data.visibility,
        uploaded_by=principal.id,
        content_hash=digest,
    )
    session.add(doc)
    session.flush()
    mark_changed(session, f"document {doc.id} added")
    audit.record(
        session,
        "assistant.document.create",
        object_type="assistant_document",
        object_id=doc.id,
        detail={"warnings": warnings},
    )
    events.publish(
        session, "assistant.document.added", {"id": doc.id, "agency_code": doc.agency_code}, key=doc.id
    )
    return doc, True, warnings


def normalize_block_text(content: str) -> str:
    from tinhso.assistant.knowledge import normalize_block

    return normalize_block(content).strip()


def documents_statement(principal: Principal) -> Select[Any]:
    _require_official(principal)
    stmt = select(KnowledgeDocument).order_by(KnowledgeDocument.created_at.desc())
    if not principal.is_platform_admin:
        stmt = stmt.where(
            (KnowledgeDocument.visibility == "province")
            | (KnowledgeDocument.agency_code == principal.agency_code)
        )
    return stmt


def get_document(session: Session, principal: Principal, doc_id: str) -> KnowledgeDocument:
    _require_official(principal)
    doc = session.get(KnowledgeDocument, doc_id)
    visible = doc is not None and (
        principal.is_platform_admin
        or doc.visibility == "province"
        or doc.agency_code == principal.agency_code
    )
    if doc is None or not visible:
        raise NotFound("document_not_found", "Document {id} not found", id=doc_id)
    return doc


def delete_document(session: Session, principal: Principal, doc_id: str) -> None:
    doc = get_document(session, principal, doc_id)
    mine = doc.agency_code == principal.agency_code and (
        "agency_admin" in principal.roles or doc.uploaded_by == principal.id
    )
    if not (principal.is_platform_admin or mine):
        raise Forbidden("document_not_yours", "Only the uploader or the agency's administrator may remove it")
    audit.record(session, "assistant.document.delete", object_type="assistant_document", object_id=doc.id)
    events.publish(session, "assistant.document.removed", {"id": doc.id}, key=doc.id)
    session.delete(doc)
    session.flush()
    mark_changed(session, f"document {doc_id} removed")


def chunk_count(doc: KnowledgeDocument) -> int:
    return len(chunk_text(doc.content))


# ---------------------------------------------------------------- measures for the KPI engine


def _window(stmt: Select[Any], since: datetime, until: datetime, agency_code: str | None) -> Select[Any]:
    stmt = stmt.where(AnswerLog.asked_at >= since, AnswerLog.asked_at < until)
    if agency_code:
        stmt = stmt.where(AnswerLog.agency_code == agency_code)
    return stmt


def measure_questions(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    return float(session.scalar(_window(select(func.count(AnswerLog.id)), since, until, agency_code)) or 0)


def measure_answered_rate(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    total = session.scalar(_window(select(func.count(AnswerLog.id)), since, until, agency_code)) or 0
    if not total:
        return None
    answered = (
        session.scalar(
            _window(
                select(func.count(AnswerLog.id)).where(AnswerLog.status == "answered"),
                since,
                until,
                agency_code,
            )
        )
        or 0
    )
    return answered / total
