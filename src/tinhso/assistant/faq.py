"""FAQ entries (câu hỏi thường gặp): written by agency administrators, retrieved and cited by the assistant."""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tinhso.assistant.knowledge import mark_changed
from tinhso.assistant.models import FaqEntry
from tinhso.assistant.schemas import FaqCreate, FaqRead, FaqUpdate
from tinhso.assistant.textproc import normalize
from tinhso.identity import repository as identity_repo
from tinhso.identity.auth import CurrentPrincipal
from tinhso.identity.principal import Principal
from tinhso.kit import audit, events
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import Forbidden, NotFound, Unprocessable
from tinhso.kit.pagination import Page, PageDep, paginate
from tinhso.kit.text import fold


def _require_admin(principal: Principal) -> None:
    if not (
        principal.is_platform_admin or (principal.kind == "person" and "agency_admin" in principal.roles)
    ):
        raise Forbidden("faq_admins_only", "Only agency administrators may manage FAQ entries")


def _text(value: str, code: str) -> str:
    text = normalize(value).replace("\u200b", "").strip()
    if not re.search(r"[^\W_]", fold(text)):
        raise Unprocessable(code, "The FAQ entry needs a question and an answer")
    return text


def statement(principal: Principal, q: str | None = None) -> Select[Any]:
    _require_admin(principal)
    stmt = select(FaqEntry).order_by(FaqEntry.created_at.desc())
    if not principal.is_platform_admin:
        stmt = stmt.where(FaqEntry.agency_code == principal.agency_code)
    if q:
        stmt = stmt.where(FaqEntry.question.ilike(f"%{q.replace('%', '').replace('_', '')}%"))
    return stmt


def get(session: Session, principal: Principal, faq_id: str) -> FaqEntry:
    _require_admin(principal)
    row = session.get(FaqEntry, faq_id)
    if row is None or not (principal.is_platform_admin or row.agency_code == principal.agency_code):
        raise NotFound("faq_not_found", "FAQ entry {id} not found", id=faq_id)
    return row


def create(session: Session, principal: Principal, data: FaqCreate) -> tuple[FaqEntry, bool]:
    """A new entry; the same question again in the same agency is the same entry (a retry)."""
    _require_admin(principal)
    agency = data.agency_code or principal.agency_code
    if agency is None:
        raise Unprocessable("faq_agency_required", "Say which agency the FAQ entry belongs to")
    if agency != principal.agency_code and not principal.is_platform_admin:
        raise Forbidden("faq_not_yours", "You may manage only your own agency's FAQ entries")
    if identity_repo.get_agency(session, agency) is None:
        raise NotFound("agency_not_found", "Agency {code} not found", code=agency)
    question = _text(data.question, "faq_empty")
    answer = _text(data.answer, "faq_empty")
    existing = session.scalar(
        select(FaqEntry).where(FaqEntry.agency_code == agency, FaqEntry.question == question)
    )
    if existing is not None:
        return existing, False
    row = FaqEntry(
        agency_code=agency,
        question=question,
        answer=answer,
        published=data.published,
        created_by=principal.id,
    )
    session.add(row)
    session.flush()
    _changed(session, row, "created")
    return row, True


def update(session: Session, principal: Principal, faq_id: str, data: FaqUpdate) -> FaqEntry:
    row = get(session, principal, faq_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "question" in changes:
        changes["question"] = _text(changes["question"], "faq_empty")
    if "answer" in changes:
        changes["answer"] = _text(changes["answer"], "faq_empty")
    changes = {k: v for k, v in changes.items() if getattr(row, k) != v}
    if not changes:
        return row
    for key, value in changes.items():
        setattr(row, key, value)
    row.version += 1
    session.flush()
    _changed(session, row, "updated")
    return row


def delete(session: Session, principal: Principal, faq_id: str) -> None:
    row = get(session, principal, faq_id)
    _changed(session, row, "deleted")
    session.delete(row)
    session.flush()


def _changed(session: Session, row: FaqEntry, action: str) -> None:
    audit.record(session, f"assistant.faq.{action}", object_type="assistant_faq", object_id=row.id)
    events.publish(
        session, f"assistant.faq.{action}", {"id": row.id, "agency_code": row.agency_code}, key=row.id
    )
    mark_changed(session, f"faq {row.id} {action}")


DEMO_FAQ = [
    (
        "000.00.00.H41",
        "Trung tâm Phục vụ hành chính công tỉnh Nghệ An làm việc vào những giờ nào?",
        "Trung tâm làm việc từ thứ Hai đến thứ Sáu, sáng từ 7 giờ 30 đến 11 giờ 30, chiều từ 13 giờ 30 "
        "đến 17 giờ; sáng thứ Bảy tiếp nhận một số thủ tục theo thông báo của Trung tâm.",
    ),
    (
        "000.00.00.H41",
        "Tra cứu tình trạng hồ sơ đã nộp bằng cách nào?",
        "Nhập mã hồ sơ ghi trên giấy tiếp nhận vào ô tra cứu trên Cổng dịch vụ công tỉnh, "
        "hoặc quét mã QR in trên giấy tiếp nhận; không cần đăng nhập.",
    ),
    (
        "000.00.00.H41",
        "Nộp hồ sơ trực tuyến có phải nộp bản giấy nữa không?",
        "Không. Hồ sơ nộp trực tuyến có giá trị như hồ sơ giấy; chỉ mang bản chính để đối chiếu khi nhận kết quả "
        "nếu thủ tục yêu cầu.",
    ),
    (
        "000.00.05.H41",
        "Mất giấy khai sinh bản gốc thì xin lại ở đâu?",
        "Không cấp lại bản gốc; người dân xin cấp bản sao trích lục khai sinh tại UBND cấp xã nơi đã đăng ký "
        "khai sinh, hoặc trực tuyến trên Cổng dịch vụ công nếu việc khai sinh đã có trong cơ sở dữ liệu hộ tịch.",
    ),
]


def seed_demo(session: Session) -> None:
    """A few FAQ entries of the province's one-stop centre (demo data only)."""
    for agency, question, answer in DEMO_FAQ:
        if identity_repo.get_agency(session, agency) is None:
            continue
        exists = session.scalar(
            select(FaqEntry.id).where(FaqEntry.agency_code == agency, FaqEntry.question == question)
        )
        if exists is None:
            session.add(
                FaqEntry(
                    agency_code=agency, question=question, answer=answer, created_by="seed", published=True
                )
            )
    session.flush()
    mark_changed(session, "faq demo seed")


# ---------------------------------------------------------------- API

router = APIRouter()
TAGS: list[str | Enum] = ["ai: assistant"]


@router.get("/api/v1/ai/faq", operation_id="ai_faq_list", tags=TAGS, response_model=Page[FaqRead])
def list_faq(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[FaqRead]:
    """FAQ entries of the caller's agency (all agencies for platform admins)."""
    rows, total = paginate(session, statement(principal, q), page)
    return Page(
        items=[FaqRead.model_validate(r) for r in rows], total=total, page=page.page, page_size=page.page_size
    )


@router.post(
    "/api/v1/ai/faq",
    operation_id="ai_faq_create",
    tags=TAGS,
    response_model=FaqRead,
    status_code=201,
    summary="Write a FAQ entry (agency admins for their agency; platform admins for any)",
)
def create_faq(
    data: FaqCreate, session: SessionDep, principal: CurrentPrincipal, response: Response
) -> FaqRead:
    row, created = create(session, principal, data)
    if not created:
        response.status_code = 200
    return FaqRead.model_validate(row)


@router.get("/api/v1/ai/faq/{faq_id}", operation_id="ai_faq_get", tags=TAGS, response_model=FaqRead)
def get_faq(faq_id: str, session: SessionDep, principal: CurrentPrincipal) -> FaqRead:
    return FaqRead.model_validate(get(session, principal, faq_id))


@router.patch("/api/v1/ai/faq/{faq_id}", operation_id="ai_faq_update", tags=TAGS, response_model=FaqRead)
def update_faq(faq_id: str, data: FaqUpdate, session: SessionDep, principal: CurrentPrincipal) -> FaqRead:
    return FaqRead.model_validate(update(session, principal, faq_id, data))


@router.delete("/api/v1/ai/faq/{faq_id}", operation_id="ai_faq_delete", tags=TAGS, status_code=204)
def delete_faq(faq_id: str, session: SessionDep, principal: CurrentPrincipal) -> Response:
    delete(session, principal, faq_id)
    return Response(status_code=204)
