"""Commune API: the 130 communes of the province, searchable without diacritics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from tinhso.kit.deps import ReadSessionDep
from tinhso.kit.pagination import Page, PageDep, paginate
from tinhso.reference import repository as repo
from tinhso.reference.schemas import CommuneRead
from tinhso.reference.service import commune_or_404
from tinhso.settings import get_settings

router = APIRouter(tags=["communes"])


@router.get("/api/v1/communes", operation_id="list_communes", response_model=Page[CommuneRead])
def list_communes(
    session: ReadSessionDep,
    page: PageDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Accent-insensitive: 'vinh' finds 'Vinh'")
    ] = None,
    type: Annotated[str | None, Query(pattern="^(xa|phuong|dac_khu)$")] = None,
):
    stmt = repo.communes_statement(get_settings().province_code, q, type)
    rows, total = paginate(session, stmt, page)
    return Page(
        items=[CommuneRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.get("/api/v1/communes/{code}", operation_id="get_commune", response_model=CommuneRead)
def get_commune(session: ReadSessionDep, code: Annotated[str, Path(max_length=16)]):
    return CommuneRead.model_validate(commune_or_404(session, code))
