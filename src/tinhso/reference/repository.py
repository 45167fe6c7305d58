"""Commune queries."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tinhso.kit.text import fold
from tinhso.reference.models import Commune


def communes_statement(province_code: str, q: str | None = None, type_: str | None = None) -> Select[Commune]:
    stmt = select(Commune).where(Commune.province_code == province_code).order_by(Commune.code)
    if type_:
        stmt = stmt.where(Commune.type == type_)
    if q and fold(q).split():
        stmt = stmt.where(Commune.search_text.contains(" ".join(fold(q).split()), autoescape=True))
    return stmt


def get_commune(session: Session, code: str) -> Commune | None:
    return session.get(Commune, code)


def commune_codes(session: Session) -> set[str]:
    return set(session.scalars(select(Commune.code)))
