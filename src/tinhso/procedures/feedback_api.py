"""Feedback and petitions (PAKN) API: citizens send and rate, the agency handles, anyone reads published answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from tinhso.identity.auth import CurrentPrincipal
from tinhso.kit.db import utcnow
from tinhso.kit.deps import ReadSessionDep, SessionDep
from tinhso.kit.errors import Forbidden
from tinhso.kit.pagination import Page, PageDep, paginate
from tinhso.procedures import feedback
from tinhso.procedures.calendar import WorkCalendar
from tinhso.procedures.models import Feedback

router = APIRouter(tags=["procedures"])
P = "/api/v1/procedures/feedback"
CodePath = Annotated[str, Path(max_length=24)]
Category = Literal["reception", "delay", "requirements", "fees", "online", "other"]


class FeedbackCreate(BaseModel):
    category: Category
    title: str = Field(min_length=1, max_length=300)
    content: str = Field(min_length=1, max_length=5000)
    dossier_code: str | None = Field(default=None, max_length=40, description="One of your dossiers")
    agency_code: str | None = Field(default=None, max_length=32, description="Or the agency it is about")


class FeedbackAction(BaseModel):
    action: Literal["accept", "reject", "request_supplement", "supplement", "answer", "publish"]
    version: int = Field(ge=1)
    note: str = Field(default="", max_length=5000)


class FeedbackRating(BaseModel):
    satisfied: bool


class FeedbackSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    agency_code: str
    commune_code: str | None
    dossier_code: str | None
    category: str
    title: str
    status: str
    received_at: datetime
    answered_at: datetime | None
    version: int


class FeedbackRead(FeedbackSummary):
    content: str
    reason: str
    supplement: str
    answer: str
    rejected_at: datetime | None
    supplement_requested_at: datetime | None
    published_at: datetime | None
    satisfied: bool | None
    on_time: bool


class PublishedFeedback(BaseModel):
    """A published answer: what the citizen asked and what the agency answered, without who asked."""

    model_config = ConfigDict(from_attributes=True)
    code: str
    agency_code: str
    category: str
    title: str
    content: str
    answer: str
    received_at: datetime
    published_at: datetime | None


def _read(session: SessionDep, fb: Feedback) -> FeedbackRead:
    timely = feedback.on_time(fb, WorkCalendar.load(session), utcnow())
    data = {name: getattr(fb, name) for name in FeedbackRead.model_fields if name != "on_time"}
    return FeedbackRead(**data, on_time=timely)


@router.post(P, operation_id="submit_feedback", response_model=FeedbackRead, status_code=201)
def submit_feedback(body: FeedbackCreate, session: SessionDep, principal: CurrentPrincipal):
    """Send feedback on one of your dossiers, or on an agency's service (phản ánh, kiến nghị)."""
    fb = feedback.submit(
        session,
        principal,
        category=body.category,
        title=body.title,
        content=body.content,
        dossier_code=body.dossier_code,
        agency_code=body.agency_code,
    )
    return _read(session, fb)


@router.get(f"{P}/published", operation_id="list_published_feedback", response_model=Page[PublishedFeedback])
def list_published_feedback(
    session: ReadSessionDep,
    page: PageDep,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
):
    """Published answers to feedback (public)."""
    stmt = select(Feedback).where(Feedback.status == "published").order_by(Feedback.published_at.desc())
    if agency_code:
        stmt = stmt.where(Feedback.agency_code == agency_code)
    rows, total = paginate(session, stmt, page)
    items = [PublishedFeedback.model_validate(r) for r in rows]
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)


@router.get(P, operation_id="list_feedback", response_model=Page[FeedbackSummary])
def list_feedback(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[str | None, Query(max_length=24)] = None,
    mine: bool = False,
):
    """Your own feedback, or (officials) the feedback your agency must handle, oldest open first."""
    stmt = select(Feedback)
    if mine or not (principal.is_platform_admin or principal.has_role(*feedback.OFFICIAL_ROLES)):
        if principal.kind != "person":
            raise Forbidden("person_only", "Only a signed-in person can send feedback")
        stmt = stmt.where(Feedback.submitter_person_id == principal.id).order_by(Feedback.received_at.desc())
    else:
        if not principal.is_platform_admin:
            stmt = stmt.where(Feedback.agency_code == principal.agency_code)
        stmt = stmt.order_by(Feedback.received_at)
    if status:
        stmt = stmt.where(Feedback.status == status)
    rows, total = paginate(session, stmt, page)
    items = [FeedbackSummary.model_validate(r) for r in rows]
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)


@router.get(f"{P}/{{code}}", operation_id="get_feedback", response_model=FeedbackRead)
def get_feedback(code: CodePath, session: SessionDep, principal: CurrentPrincipal):
    fb = feedback.readable(session, principal, code, f"Xử lý phản ánh, kiến nghị {code}")
    return _read(session, fb)


@router.post(f"{P}/{{code}}/actions", operation_id="act_on_feedback", response_model=FeedbackRead)
def act_on_feedback(code: CodePath, body: FeedbackAction, session: SessionDep, principal: CurrentPrincipal):
    """Handle feedback (accept, reject, request_supplement, answer, publish) or add what was asked for."""
    fb = feedback.readable(session, principal, code, f"Xử lý phản ánh, kiến nghị {code}")
    feedback.act(session, principal, fb, body.action, version=body.version, note=body.note)
    return _read(session, fb)


@router.post(f"{P}/{{code}}/rating", operation_id="rate_feedback", response_model=FeedbackRead)
def rate_feedback(code: CodePath, body: FeedbackRating, session: SessionDep, principal: CurrentPrincipal):
    """Say whether the handling satisfied you (5.3 of the Decision 766 index)."""
    fb = feedback.readable(session, principal, code, f"Đánh giá phản ánh, kiến nghị {code}")
    feedback.rate(session, principal, fb, body.satisfied)
    return _read(session, fb)
