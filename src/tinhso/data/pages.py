"""Data pages: the dictionary, quality scores, uploads, analytics (table + ECharts chart) and, for a citizen, who
has used his or her personal data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from tinhso.data import dictionary
from tinhso.data.models import CodeList
from tinhso.identity.auth import OptionalPrincipal
from tinhso.kit.deps import ReadSessionDep, SessionDep
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/du-lieu/tu-dien", response_class=HTMLResponse)
def dictionary_page(
    request: Request, session: ReadSessionDep, q: Annotated[str | None, Query(max_length=200)] = None
) -> HTMLResponse:
    lists = list(session.query(CodeList).order_by(CodeList.code))
    return render(
        request,
        "data/dictionary.html",
        {"entities": dictionary.entities(session, q), "q": q or "", "codelists": lists},
    )


@router.get("/du-lieu/tu-dien/{code}", response_class=HTMLResponse)
def entity_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, code: str
) -> HTMLResponse:
    import json

    entity = dictionary.latest(session, code)
    steward = (
        principal is not None
        and principal.has_role("agency_admin")
        and (principal.is_platform_admin or principal.agency_code == entity.owner_agency)
    )
    return render(
        request,
        "data/entity.html",
        {
            "entity": entity,
            "versions": dictionary.versions(session, code),
            "steward": steward,
            "fields_json": json.dumps(entity.fields, ensure_ascii=False, indent=2),
        },
    )


@router.get("/du-lieu/chat-luong", response_class=HTMLResponse)
def quality_page(request: Request, session: SessionDep) -> HTMLResponse:
    from tinhso.data.quality import scores

    return render(request, "data/quality.html", {"scores": scores(session)})


@router.get("/du-lieu/phan-tich", response_class=HTMLResponse)
def analytics_page(request: Request, principal: OptionalPrincipal) -> HTMLResponse:
    # resolving the principal binds the web session, whose CSRF token the page's requests carry
    return render(request, "data/analytics.html", {"signed_in": principal is not None})


@router.get("/du-lieu/nap", response_class=HTMLResponse)
def upload_page(request: Request, session: SessionDep, principal: OptionalPrincipal) -> HTMLResponse:
    return render(
        request,
        "data/upload.html",
        {"entities": dictionary.entities(session), "signed_in": principal is not None},
    )


@router.get("/du-lieu/cua-toi", response_class=HTMLResponse)
def my_data_usage_page(request: Request, session: SessionDep, principal: OptionalPrincipal) -> HTMLResponse:
    """Who has read or changed my personal data, when and for what purpose."""
    from tinhso.data.registries import personal_data_usage

    person = principal is not None and principal.kind == "person"
    entries = personal_data_usage(session, principal) if person and principal else []
    return render(request, "data/my_data.html", {"signed_in": person, "entries": entries})
