"""Assistant API: Vietnamese text services, the virtual assistant, internal documents and the AI register."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile

from tinhso.assistant import register, service
from tinhso.assistant.config import assistant_settings
from tinhso.assistant.extract import MAX_FILE_BYTES, extract
from tinhso.assistant.knowledge import index_for, mark_changed
from tinhso.assistant.routing import agency_names
from tinhso.assistant.routing import router as feedback_router
from tinhso.assistant.schemas import (
    AgencyScore,
    AISystemCreate,
    AISystemRead,
    AISystemUpdate,
    AnswerLogRead,
    AskIn,
    AskOut,
    Citation,
    ClassifyOut,
    DocumentCreate,
    DocumentFull,
    DocumentRead,
    Keyword,
    KeywordsIn,
    KeywordsOut,
    NormalizeIn,
    NormalizeOut,
    PassageOut,
    RestoreOut,
    SegmentOut,
    TextIn,
)
from tinhso.assistant.textproc import WORD_RE, has_diacritics, keywords, normalize, segment
from tinhso.identity.auth import CurrentPrincipal, OptionalPrincipal, require_roles, require_scope
from tinhso.identity.principal import Principal
from tinhso.kit.deps import ReadSessionDep, SessionDep
from tinhso.kit.pagination import Page, PageDep, paginate
from tinhso.kit.text import nfc

router = APIRouter()
TextCaller = Annotated[Principal, require_scope("ai:text")]
ReviewerDep = Annotated[Principal, require_roles("agency_admin")]
PlatformAdminDep = Annotated[Principal, require_roles("platform_admin")]
TEXT: list[str | Enum] = ["ai: text services"]
ASSISTANT: list[str | Enum] = ["ai: assistant"]
REGISTER: list[str | Enum] = ["ai: register"]


# ---------------------------------------------------------------- text services


@router.post(
    "/api/v1/ai/text/normalize",
    operation_id="ai_text_normalize",
    tags=TEXT,
    response_model=NormalizeOut,
    summary="Unicode NFC and one tone-mark convention (hoà/hòa, thuỷ/thủy)",
)
def text_normalize(data: NormalizeIn, principal: TextCaller) -> NormalizeOut:
    out = normalize(data.text, data.tone_style)
    return NormalizeOut(text=out, changed=out != data.text)


@router.post(
    "/api/v1/ai/text/restore-diacritics",
    operation_id="ai_text_restore_diacritics",
    tags=TEXT,
    response_model=RestoreOut,
    summary="Restore the accents of Vietnamese typed without them ('lam giay khai sinh' → 'làm giấy khai sinh')",
)
def text_restore(data: TextIn, principal: TextCaller, session: ReadSessionDep) -> RestoreOut:
    text = nfc(data.text)
    restored = index_for(session).restore(text)
    changed = sum(
        1
        for a, b in zip(WORD_RE.findall(text), WORD_RE.findall(restored), strict=False)
        if a != b and not has_diacritics(a)
    )
    return RestoreOut(text=restored, restored_words=changed)


@router.post(
    "/api/v1/ai/text/segment",
    operation_id="ai_text_segment",
    tags=TEXT,
    response_model=SegmentOut,
    summary="Vietnamese word segmentation ('giấy khai sinh' → 'giấy', 'khai sinh')",
)
def text_segment(data: TextIn, principal: TextCaller) -> SegmentOut:
    words = segment(data.text)
    return SegmentOut(words=words, text=" ".join(w.replace(" ", "_") for w in words))


@router.post(
    "/api/v1/ai/text/keywords",
    operation_id="ai_text_keywords",
    tags=TEXT,
    response_model=KeywordsOut,
    summary="Keywords: content words and compounds ranked by frequency",
)
def text_keywords(data: KeywordsIn, principal: TextCaller) -> KeywordsOut:
    return KeywordsOut(keywords=[Keyword.model_validate(k) for k in keywords(data.text, data.limit)])


@router.post(
    "/api/v1/ai/text/classify-feedback",
    operation_id="ai_text_classify_feedback",
    tags=TEXT,
    response_model=ClassifyOut,
    summary="Route a citizen's feedback (phản ánh, kiến nghị) to the agency that should handle it",
)
def text_classify(data: TextIn, principal: TextCaller) -> ClassifyOut:
    routing = feedback_router().route(data.text)
    names = agency_names()
    threshold = assistant_settings().routing_min_confidence
    needs_human = routing.confidence < threshold
    return ClassifyOut(
        agency_code=None if needs_human else routing.agency_code,
        agency_name=None if needs_human else names.get(routing.agency_code),
        confidence=round(routing.confidence, 4),
        needs_human=needs_human,
        candidates=[
            AgencyScore(agency_code=c, agency_name=names.get(c, c), probability=round(p, 4))
            for c, p in routing.ranking[:3]
        ],
        evidence=routing.evidence,
    )


# ---------------------------------------------------------------- assistant


def _ask_out(result: service.Result) -> AskOut:
    return AskOut(
        answer_id=result.answer_id,
        status=result.status,  # type: ignore[arg-type]
        reason=result.reason,
        answer=result.text,
        confidence=result.confidence,
        restored_question=result.restored,
        citations=[Citation.model_validate(p.cite()) for p in result.cited],
        sections=result.sections,
        passages=[PassageOut.model_validate(p) for p in result.passages],
        hotline=assistant_settings().hotline,
        llm_used=result.llm_used,
    )


@router.post(
    "/api/v1/ai/assistant/ask",
    operation_id="ai_assistant_ask",
    tags=ASSISTANT,
    response_model=AskOut,
    summary="Ask the virtual assistant (public; officials also get internal documents)",
)
def ask(data: AskIn, request: Request, session: SessionDep, principal: OptionalPrincipal) -> AskOut:
    client = request.client.host if request.client else "unknown"
    return _ask_out(service.ask(session, principal, data, client, request.app.state.db))


router.add_api_route(
    "/api/v1/assistant/ask", ask, methods=["POST"], response_model=AskOut, include_in_schema=False
)


@router.get(
    "/api/v1/ai/assistant/sessions/{session_id}",
    operation_id="ai_assistant_conversation",
    tags=ASSISTANT,
    response_model=list[AnswerLogRead],
    summary="The questions and answers of one conversation (its own caller only)",
)
def conversation(session_id: str, session: SessionDep, principal: OptionalPrincipal) -> list[AnswerLogRead]:
    return [AnswerLogRead.model_validate(r) for r in service.conversation(session, principal, session_id)]


@router.get(
    "/api/v1/ai/assistant/answers",
    operation_id="ai_assistant_answers",
    tags=ASSISTANT,
    response_model=Page[AnswerLogRead],
    summary="The answer log for review (platform admins: all; agency admins: answers citing their agency)",
)
def answers(
    session: SessionDep,
    principal: ReviewerDep,
    page: PageDep,
    status: Annotated[Literal["answered", "unknown", "refused"] | None, Query()] = None,
    session_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AnswerLogRead]:
    rows, total = paginate(session, service.answers_statement(principal, status, session_id), page)
    return Page(
        items=[AnswerLogRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/api/v1/ai/assistant/reindex",
    operation_id="ai_assistant_reindex",
    tags=ASSISTANT,
    status_code=202,
    summary="Rebuild the knowledge index on next use (platform admins)",
)
def reindex(session: SessionDep, principal: PlatformAdminDep) -> dict[str, str]:
    token = mark_changed(session, "rebuild requested")
    return {"token": token}


# ---------------------------------------------------------------- internal documents


def _doc_read(doc, warnings: list[str] | None = None) -> DocumentRead:  # noqa: ANN001
    out = DocumentRead.model_validate(doc)
    out.chunks = service.chunk_count(doc)
    out.warnings = warnings or []
    return out


@router.post(
    "/api/v1/ai/documents",
    operation_id="ai_document_create",
    tags=ASSISTANT,
    response_model=DocumentRead,
    status_code=201,
    summary="Upload an internal rules document (text or Markdown) for officials' questions",
)
def create_document(
    data: DocumentCreate, session: SessionDep, principal: CurrentPrincipal, response: Response
) -> DocumentRead:
    doc, created, warnings = service.create_document(session, principal, data)
    if not created:
        response.status_code = 200
    return _doc_read(doc, warnings)


@router.post(
    "/api/v1/ai/documents/upload",
    operation_id="ai_document_upload",
    tags=ASSISTANT,
    response_model=DocumentRead,
    status_code=201,
    summary="Upload an internal document as a file: .txt, .md, .html, .docx or .pdf (at most 5 MB)",
)
async def upload_document(
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    file: Annotated[UploadFile, File(description="The document")],
    title: Annotated[str | None, Form(max_length=300)] = None,
    visibility: Annotated[Literal["agency", "province"], Form()] = "agency",
) -> DocumentRead:
    data = await file.read(MAX_FILE_BYTES + 1)
    fmt, text = extract(file.filename or "", data)
    stem = (file.filename or "").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    meta = DocumentCreate.model_validate(
        {
            "title": title or stem or "Tài liệu",
            "content": text or " ",
            "format": fmt,
            "visibility": visibility,
        }
    )
    doc, created, warnings = service.create_document(session, principal, meta)
    if not created:
        response.status_code = 200
    return _doc_read(doc, warnings)


@router.get(
    "/api/v1/ai/documents",
    operation_id="ai_document_list",
    tags=ASSISTANT,
    response_model=Page[DocumentRead],
)
def list_documents(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[DocumentRead]:
    rows, total = paginate(session, service.documents_statement(principal), page)
    return Page(items=[_doc_read(d) for d in rows], total=total, page=page.page, page_size=page.page_size)


@router.get(
    "/api/v1/ai/documents/{doc_id}",
    operation_id="ai_document_get",
    tags=ASSISTANT,
    response_model=DocumentFull,
)
def get_document(doc_id: str, session: SessionDep, principal: CurrentPrincipal) -> DocumentFull:
    doc = service.get_document(session, principal, doc_id)
    out = DocumentFull.model_validate(doc)
    out.chunks = service.chunk_count(doc)
    return out


@router.delete(
    "/api/v1/ai/documents/{doc_id}", operation_id="ai_document_delete", tags=ASSISTANT, status_code=204
)
def delete_document(doc_id: str, session: SessionDep, principal: CurrentPrincipal) -> Response:
    service.delete_document(session, principal, doc_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- AI register


@router.get(
    "/api/v1/ai/systems",
    operation_id="ai_system_list",
    tags=REGISTER,
    response_model=Page[AISystemRead],
    summary="The register of AI systems used in the province (public, for transparency)",
)
def list_systems(
    session: ReadSessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Accent-insensitive search")] = None,
    risk_level: Annotated[Literal["minimal", "limited", "high", "unacceptable"] | None, Query()] = None,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
) -> Page[AISystemRead]:
    rows = register.search(session, q, risk_level, agency_code)
    chunk = rows[page.offset : page.offset + page.page_size]
    return Page(
        items=[AISystemRead.model_validate(r) for r in chunk],
        total=len(rows),
        page=page.page,
        page_size=page.page_size,
    )


@router.get(
    "/api/v1/ai/systems/{system_id}", operation_id="ai_system_get", tags=REGISTER, response_model=AISystemRead
)
def get_system(system_id: str, session: ReadSessionDep) -> AISystemRead:
    return AISystemRead.model_validate(register.get(session, system_id))


@router.post(
    "/api/v1/ai/systems",
    operation_id="ai_system_create",
    tags=REGISTER,
    response_model=AISystemRead,
    status_code=201,
    summary="Register an AI system (Sở KH&CN for any agency; agency admins for their own)",
)
def create_system(data: AISystemCreate, session: SessionDep, principal: ReviewerDep) -> AISystemRead:
    return AISystemRead.model_validate(register.create(session, principal, data))


@router.patch(
    "/api/v1/ai/systems/{system_id}",
    operation_id="ai_system_update",
    tags=REGISTER,
    response_model=AISystemRead,
)
def update_system(
    system_id: str, data: AISystemUpdate, session: SessionDep, principal: ReviewerDep
) -> AISystemRead:
    return AISystemRead.model_validate(register.update(session, principal, system_id, data))


@router.delete(
    "/api/v1/ai/systems/{system_id}", operation_id="ai_system_delete", tags=REGISTER, status_code=204
)
def delete_system(system_id: str, session: SessionDep, principal: ReviewerDep) -> Response:
    register.delete(session, principal, system_id)
    return Response(status_code=204)
