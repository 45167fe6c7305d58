"""The published catalog for other modules (the assistant indexes it for questions and answers).

Stable contract: `published_procedures(session) -> list[ProcedureDoc]`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity.models import Agency
from tinhso.procedures.catalog import time_limit_text
from tinhso.procedures.models import Procedure

COMMUNE_AGENCY_NAME = "Ủy ban nhân dân cấp xã nơi nộp hồ sơ"


@dataclass(frozen=True)
class ProcedureDoc:
    code: str
    name: str
    field: str
    level: str  # "tinh" | "xa"
    agency_code: str | None  # None: each commune's UBND
    agency_name: str
    time_limit_text: str
    time_limit_days: float  # working days (hours converted at 8 per day)
    fees_text: str
    fees: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    subjects: list[str] = dataclasses.field(default_factory=list)
    components: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    where_to_apply: str = ""
    legal_basis: str = ""
    url: str = ""


def fees_text(fees: list[dict[str, Any]]) -> str:
    if not fees or all(int(f.get("amount_vnd", 0)) == 0 for f in fees):
        return "Không thu phí, lệ phí"
    parts = []
    for f in fees:
        amount = f"{int(f['amount_vnd']):,}".replace(",", ".")
        parts.append(f"{f['name']}: {amount} đồng")
    return "; ".join(parts)


def doc_of(p: Procedure, agency_names: dict[str, str]) -> ProcedureDoc:
    days = p.time_limit_value / 8 if p.time_limit_unit == "working_hours" else float(p.time_limit_value)
    return ProcedureDoc(
        code=p.code,
        name=p.name,
        field=p.field,
        level=p.level,
        agency_code=p.agency_code,
        agency_name=agency_names.get(p.agency_code or "", COMMUNE_AGENCY_NAME),
        time_limit_text=time_limit_text(p.time_limit_value, p.time_limit_unit),
        time_limit_days=days,
        fees_text=fees_text(p.fees or []),
        fees=[dict(f) for f in p.fees or []],
        subjects=list(p.subjects or []),
        components=[
            {
                "name": c["name"],
                "copies": int(c.get("copies", 1)),
                "obtainable_from_data": bool(c.get("obtainable_from_data")),
            }
            for c in p.components or []
        ],
        where_to_apply=p.where_to_apply,
        legal_basis=p.legal_basis,
        url=f"/thu-tuc/{p.code}",
    )


def published_procedures(session: Session) -> list[ProcedureDoc]:
    """Every published procedure of the province, in code order."""
    names = dict(session.execute(select(Agency.code, Agency.name)).tuples().all())
    procs = session.scalars(select(Procedure).where(Procedure.status == "published").order_by(Procedure.code))
    return [doc_of(p, names) for p in procs]
