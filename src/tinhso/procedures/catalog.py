"""Procedure catalog rules: validation, import/export (CSV and JSON), search, time-limit text."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tinhso.identity.models import Agency
from tinhso.kit import audit
from tinhso.kit.errors import NotFound, Unprocessable
from tinhso.kit.text import fold, nfc
from tinhso.procedures.models import Procedure

CODE_PATTERN = r"^\d\.\d{6}(\.\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2})?$"


class Fee(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    amount_vnd: int = Field(ge=0)


class Component(BaseModel):
    name: str = Field(min_length=1, max_length=500)
    copies: int = Field(default=1, ge=1, le=20)
    obtainable_from_data: str | None = None  # population, land, civil_status, edata, …


class Step(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(pattern="^(official|leader|agency_admin)$")
    share: float = Field(gt=0, le=1)


class ProcedureIn(BaseModel):
    """One procedure as imported or exported (JSON; CSV carries the lists as JSON in their cells)."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=3, max_length=500)
    field: str = Field(min_length=1, max_length=128)
    level: str = Field(pattern="^(tinh|xa)$")
    agency_code: str | None = None
    time_limit_value: int = Field(ge=0, le=365)
    time_limit_unit: str = Field(default="working_days", pattern="^(working_days|working_hours)$")
    fees: list[Fee] = []
    subjects: list[str] = ["individual"]
    components: list[Component] = []
    form_schema: dict[str, Any] = {}
    workflow: list[Step] = []
    where_to_apply: str = ""
    legal_basis: str = ""
    steps_text: str = ""
    method_text: str = ""
    online: str = Field(default="partial", pattern="^(full|partial|none)$")
    result_document: bool = True
    fee_online_synced: bool = False
    population_data: bool = False
    status: str = Field(default="published", pattern="^(published|closed)$")

    @field_validator("subjects")
    @classmethod
    def _subjects(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in ("individual", "organisation")]
        if bad or not v:
            raise ValueError("subjects must be individual and/or organisation")
        return v

    @field_validator("workflow")
    @classmethod
    def _workflow(cls, v: list[Step]) -> list[Step]:
        if v and abs(sum(s.share for s in v) - 1.0) > 0.01:
            raise ValueError("the shares of the workflow steps must add up to 1")
        return v

    @field_validator("form_schema")
    @classmethod
    def _schema(cls, v: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(v)
        except SchemaError as exc:
            raise ValueError(f"form_schema is not a valid JSON Schema: {exc.message}") from exc
        return v


def time_limit_text(value: int, unit: str) -> str:
    """Vietnamese time-limit text as published: '05 ngày làm việc', 'Trong ngày', '08 giờ làm việc'."""
    if unit == "working_hours":
        return f"{value:02d} giờ làm việc"
    if value == 0:
        return "Trong ngày làm việc"
    return f"{value:02d} ngày làm việc"


def search_text(p: Procedure) -> str:
    return fold(" ".join([p.code, p.name, p.field]))


def upsert(session: Session, data: ProcedureIn) -> Procedure:
    if data.agency_code is not None and session.get(Agency, data.agency_code) is None:
        raise Unprocessable("agency_unknown", "Agency {code} does not exist", code=data.agency_code)
    if data.level == "tinh" and data.agency_code is None:
        raise Unprocessable("agency_required", "A province-level procedure needs its competent agency")
    proc = session.get(Procedure, data.code) or Procedure(code=data.code)
    for key, value in data.model_dump().items():
        if isinstance(value, str):
            value = nfc(value)
        setattr(proc, key, value)
    proc.search_text = search_text(proc)
    session.add(proc)
    session.flush()
    return proc


def import_rows(session: Session, rows: list[dict[str, Any]]) -> int:
    """Validate every row first, then write them all (a bad row changes nothing)."""
    parsed: list[ProcedureIn] = []
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        try:
            parsed.append(ProcedureIn.model_validate(row))
        except ValidationError as exc:
            errors.append({"row": i + 1, "errors": [e["msg"] for e in exc.errors()]})
    if errors:
        raise Unprocessable("catalog_import_invalid", "The catalog file has invalid rows", rows=len(errors))
    for data in parsed:
        upsert(session, data)
    audit.record(session, "procedures.catalog.import", object_type="procedure", detail={"rows": len(parsed)})
    return len(parsed)


LIST_FIELDS = ("fees", "subjects", "components", "form_schema", "workflow")
CSV_FIELDS = list(ProcedureIn.model_fields)


def parse_csv(text: str) -> list[dict[str, Any]]:
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        item: dict[str, Any] = dict(row)
        for key in LIST_FIELDS:
            if item.get(key):
                try:
                    item[key] = json.loads(item[key])
                except json.JSONDecodeError as exc:
                    raise Unprocessable(
                        "catalog_import_invalid", "The catalog file has invalid rows", rows=1
                    ) from exc
            else:
                item.pop(key, None)
        for key in ("result_document", "fee_online_synced", "population_data"):
            if key in item:
                item[key] = str(item[key]).lower() in ("1", "true", "yes")
        if not item.get("agency_code"):
            item["agency_code"] = None
        rows.append(item)
    return rows


def export_rows(session: Session) -> list[dict[str, Any]]:
    out = []
    for p in session.scalars(select(Procedure).order_by(Procedure.code)):
        out.append({key: getattr(p, key) for key in CSV_FIELDS})
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: json.dumps(v, ensure_ascii=False) if k in LIST_FIELDS else ("" if v is None else v)
                for k, v in row.items()
            }
        )
    return buf.getvalue()


def statement(
    q: str | None = None,
    level: str | None = None,
    agency_code: str | None = None,
    field: str | None = None,
    include_closed: bool = False,
) -> Select[Procedure]:
    stmt = select(Procedure).order_by(Procedure.level, Procedure.field, Procedure.code)
    if not include_closed:
        stmt = stmt.where(Procedure.status == "published")
    if level:
        stmt = stmt.where(Procedure.level == level)
    if agency_code:
        stmt = stmt.where(Procedure.agency_code == agency_code)
    if field:
        stmt = stmt.where(Procedure.field == field)
    for word in fold(q or "").split():
        stmt = stmt.where(Procedure.search_text.contains(word, autoescape=True))
    return stmt


def get_or_404(session: Session, code: str) -> Procedure:
    proc = session.get(Procedure, code)
    if proc is None:
        raise NotFound("procedure_not_found", "Procedure {code} not found", code=code)
    return proc


def seed_catalog(session: Session) -> None:
    from tinhso.procedures.catalog_seed import catalog_rows

    for row in catalog_rows():
        upsert(session, ProcedureIn.model_validate(row))
