"""Assistant pages: the chat box (public) and the transparency page of the AI register (public)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tinhso.assistant import register
from tinhso.assistant.config import assistant_settings
from tinhso.identity.auth import OptionalPrincipal
from tinhso.kit.deps import SessionDep
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/tro-ly-ao", response_class=HTMLResponse)
def chat_page(request: Request, principal: OptionalPrincipal) -> HTMLResponse:
    settings = assistant_settings()
    return render(
        request,
        "assistant/chat.html",
        {"hotline": settings.hotline, "centre": settings.one_stop_centre},
    )


@router.get("/minh-bach-ai", response_class=HTMLResponse)
def transparency_page(request: Request, session: SessionDep, principal: OptionalPrincipal) -> HTMLResponse:
    systems = register.search(session, None, None, None)
    labels = {
        "minimal": "Minimal risk",
        "limited": "Limited risk",
        "high": "High risk",
        "unacceptable": "Unacceptable risk",
    }
    return render(request, "assistant/transparency.html", {"systems": systems, "risk_labels": labels})
