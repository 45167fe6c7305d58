"""Feedback and petitions (PAKN) pages: citizens send and follow them, officials handle them, anyone reads
the published answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from tinhso.identity.auth import OptionalPrincipal
from tinhso.identity.models import Agency
from tinhso.kit.db import utcnow
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import DomainError
from tinhso.procedures import feedback
from tinhso.procedures.calendar import WorkCalendar
from tinhso.procedures.models import Feedback
from tinhso.procedures.pages import _signin, refused
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)
Code = Annotated[str, Path(max_length=24)]
STATUS_LABELS = {
    "received": "Received",
    "in_progress": "Being handled",
    "supplement_requested": "More information requested",
    "answered": "Answered",
    "published": "Answer published",
    "rejected": "Not accepted",
}
ACTION_LABELS = {
    "accept": "Accept for handling",
    "reject": "Do not accept",
    "request_supplement": "Ask for more information",
    "answer": "Send the answer",
    "publish": "Publish the answer",
    "supplement": "Send the information asked for",
}


@router.get("/phan-anh", response_class=HTMLResponse)
def feedback_home(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    """Published answers for everyone; the signed-in person's own feedback and the form to send one."""
    published = list(
        session.scalars(
            select(Feedback)
            .where(Feedback.status == "published")
            .order_by(Feedback.published_at.desc())
            .limit(50)
        )
    )
    mine: list[Feedback] = []
    if principal is not None and principal.kind == "person":
        mine = list(
            session.scalars(
                select(Feedback)
                .where(Feedback.submitter_person_id == principal.id)
                .order_by(Feedback.received_at.desc())
            )
        )
    agencies = list(session.scalars(select(Agency).where(Agency.active.is_(True)).order_by(Agency.name)))
    return render(
        request,
        "procedures/feedback_home.html",
        {
            "published": published,
            "mine": mine,
            "agencies": agencies,
            "categories": feedback.CATEGORIES,
            "labels": STATUS_LABELS,
            "dossier": request.query_params.get("ho_so", "")[:40],
            "error": request.query_params.get("error"),
        },
    )


@router.post("/phan-anh", response_model=None)
def feedback_send(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    category: Annotated[str, Form(max_length=24)],
    title: Annotated[str, Form(max_length=300)],
    content: Annotated[str, Form(max_length=5000)],
    dossier_code: Annotated[str, Form(max_length=40)] = "",
    agency_code: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    if principal is None:
        return _signin(request)
    try:
        with session.begin_nested():
            fb = feedback.submit(
                session,
                principal,
                category=category,
                title=title,
                content=content,
                dossier_code=dossier_code or None,
                agency_code=None if dossier_code else agency_code or None,
            )
    except DomainError as exc:
        return refused(request, session, "/phan-anh", exc)
    return RedirectResponse(f"/phan-anh/{fb.code}", status_code=303)


@router.get("/can-bo/phan-anh", response_class=HTMLResponse, response_model=None)
def feedback_queue(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    """The agency's feedback, open ones first, with how long each has left."""
    if principal is None:
        return _signin(request)
    stmt = (
        select(Feedback).order_by(Feedback.status.in_(feedback.OPEN).desc(), Feedback.received_at).limit(300)
    )
    if not principal.is_platform_admin:
        stmt = stmt.where(Feedback.agency_code == (principal.agency_code or ""))
    if not (principal.is_platform_admin or principal.has_role(*feedback.OFFICIAL_ROLES)):
        stmt = stmt.where(Feedback.id.is_(None))
    cal, now = WorkCalendar.load(session), utcnow()
    rows = [(fb, feedback.on_time(fb, cal, now)) for fb in session.scalars(stmt)]
    return render(request, "procedures/feedback_queue.html", {"rows": rows, "labels": STATUS_LABELS})


@router.get("/phan-anh/{code}", response_class=HTMLResponse, response_model=None)
def feedback_page(
    request: Request, code: Code, session: SessionDep, principal: OptionalPrincipal
) -> Response:
    if principal is None:
        return _signin(request)
    fb = feedback.readable(session, principal, code, f"Xử lý phản ánh, kiến nghị {code}")
    handler = feedback.is_handler(principal, fb)
    actions = [
        a
        for a, rule in feedback.ACTIONS.items()
        if fb.status in rule.sources
        and (handler if rule.who == "agency" else feedback.is_submitter(principal, fb))
    ]
    return render(
        request,
        "procedures/feedback.html",
        {
            "fb": fb,
            "actions": actions,
            "action_labels": ACTION_LABELS,
            "labels": STATUS_LABELS,
            "categories": feedback.CATEGORIES,
            "on_time": feedback.on_time(fb, WorkCalendar.load(session), utcnow()),
            "can_rate": feedback.is_submitter(principal, fb)
            and fb.status in ("answered", "published", "rejected"),
            "error": request.query_params.get("error"),
        },
    )


@router.post("/phan-anh/{code}/thao-tac", response_model=None)
def feedback_action(
    request: Request,
    code: Code,
    session: SessionDep,
    principal: OptionalPrincipal,
    action: Annotated[str, Form(max_length=32)],
    version: Annotated[int, Form()],
    note: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    if principal is None:
        return _signin(request)
    fb = feedback.readable(session, principal, code, f"Xử lý phản ánh, kiến nghị {code}")
    try:
        with session.begin_nested():
            feedback.act(session, principal, fb, action, version=version, note=note)
    except DomainError as exc:
        return refused(request, session, f"/phan-anh/{code}", exc)
    return RedirectResponse(f"/phan-anh/{code}", status_code=303)


@router.post("/phan-anh/{code}/danh-gia", response_model=None)
def feedback_rating(
    request: Request,
    code: Code,
    session: SessionDep,
    principal: OptionalPrincipal,
    satisfied: Annotated[str, Form(max_length=3)],
) -> Response:
    if principal is None:
        return _signin(request)
    fb = feedback.readable(session, principal, code, f"Đánh giá phản ánh, kiến nghị {code}")
    try:
        with session.begin_nested():
            feedback.rate(session, principal, fb, satisfied == "yes")
    except DomainError as exc:
        return refused(request, session, f"/phan-anh/{code}", exc)
    return RedirectResponse(f"/phan-anh/{code}", status_code=303)
