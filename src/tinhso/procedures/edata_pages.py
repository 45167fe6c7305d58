"""E-data store pages (kho dữ liệu điện tử): a person's own store and those of the organisations he or she
acts for, with who accessed them and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tinhso.identity.auth import OptionalPrincipal
from tinhso.kit.deps import SessionDep
from tinhso.procedures import edata, files, organisations
from tinhso.procedures.pages import _signin
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/kho-du-lieu", response_class=HTMLResponse, response_model=None)
def edata_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    to_chuc: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """My e-data store, or (?to_chuc=<enterprise code>) that of an organisation I act for."""
    if principal is None:
        return _signin(request)
    orgs = organisations.my_organisations(session, principal)
    org = next((o for o in orgs if o.code == to_chuc), None)
    code = org.code if org else None
    return render(
        request,
        "procedures/edata.html",
        {
            "docs": edata.documents_of(session, principal, code),
            "log": edata.access_log(session, principal, organisation=code),
            "orgs": orgs,
            "org": org,
        },
    )


@router.post("/kho-du-lieu", response_model=None)
async def edata_upload(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    if principal is None:
        return _signin(request)
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return RedirectResponse("/kho-du-lieu", status_code=303)
    data = await upload.read(files.MAX_BYTES + 1)
    org = str(form.get("organisation") or "") or None
    title, name = str(form.get("title") or ""), upload.filename or "tep"
    edata.add_document(session, principal, title, name, data, upload.content_type, org)
    return RedirectResponse(f"/kho-du-lieu?to_chuc={org}" if org else "/kho-du-lieu", status_code=303)
