"""Where published data comes from, behind one interface: warehouse tables (through the data module's
`warehouse_api` contract) and the platform's own reference data (communes, legacy units, agencies, the
framework's roadmap). Other modules' data (air quality history, dossier counts) plug in with `register`.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity.models import Agency
from tinhso.kit.errors import NotFound
from tinhso.kit.text import nfc
from tinhso.opendata.errors import ValidationFailed
from tinhso.reference.models import Commune

CLASSIFICATIONS = ("public", "internal", "personal", "sensitive")
REFUSED = ("personal", "sensitive")


@dataclass
class SourceColumn:
    name: str
    type: str  # text, integer, number, date, boolean
    classification: str
    label_vi: str
    label_en: str


class Source(Protocol):
    key: str
    title_vi: str
    title_en: str

    def columns(self, session: Session) -> list[SourceColumn]: ...

    def rows(self, session: Session, columns: list[str]) -> list[dict[str, Any]]: ...

    def aggregate(self, session: Session, group_by: list[str], measure: str) -> list[dict[str, Any]]: ...


def _aggregate(rows: list[dict[str, Any]], group_by: list[str], measure: str) -> list[dict[str, Any]]:
    """Count or sum per group, in group order (for sources that are lists of dicts)."""
    totals: dict[tuple[Any, ...], float] = defaultdict(float)
    for row in rows:
        key = tuple(row.get(g) for g in group_by)
        if measure == "count":
            totals[key] += 1
        else:
            value = row.get(measure.removeprefix("sum:"))
            totals[key] += float(value or 0)
    out = []
    for key in sorted(totals, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        value = totals[key]
        out.append(
            {**dict(zip(group_by, key, strict=True)), "value": int(value) if value.is_integer() else value}
        )
    return out


class ListSource:
    """A source whose rows are computed in Python from the platform's own tables or packaged files."""

    def __init__(
        self,
        key: str,
        title_vi: str,
        title_en: str,
        columns: list[SourceColumn],
        loader: Callable[[Session], list[dict[str, Any]]],
    ):
        self.key, self.title_vi, self.title_en = key, title_vi, title_en
        self._columns, self._loader = columns, loader

    def columns(self, session: Session) -> list[SourceColumn]:
        return list(self._columns)

    def rows(self, session: Session, columns: list[str]) -> list[dict[str, Any]]:
        return [{c: row.get(c) for c in columns} for row in self._loader(session)]

    def aggregate(self, session: Session, group_by: list[str], measure: str) -> list[dict[str, Any]]:
        return _aggregate(self._loader(session), group_by, measure)


class WarehouseSource:
    """A warehouse table, read through `tinhso.data.warehouse_api`."""

    _TYPES = {"integer": "integer", "number": "number", "date": "date", "boolean": "boolean"}

    def __init__(self, table: Any):
        self.table = table
        self.key = f"warehouse:{table.name}"
        self.title_vi, self.title_en = table.title_vi, table.title_en

    def columns(self, session: Session) -> list[SourceColumn]:
        return [
            SourceColumn(c.name, self._TYPES.get(c.type, "text"), c.classification, c.label_vi, c.label_en)
            for c in self.table.columns
        ]

    def rows(self, session: Session, columns: list[str]) -> list[dict[str, Any]]:
        from tinhso.data import warehouse_api

        out: list[dict[str, Any]] = []
        while True:
            page = warehouse_api.read_rows(
                session, self.table.name, columns, limit=warehouse_api.MAX_READ, offset=len(out)
            )
            out.extend(page)
            if len(page) < warehouse_api.MAX_READ:
                return out

    def aggregate(self, session: Session, group_by: list[str], measure: str) -> list[dict[str, Any]]:
        from tinhso.data import warehouse_api

        return warehouse_api.aggregate(session, self.table.name, group_by, measure)


def _col(name: str, kind: str, vi: str, en: str) -> SourceColumn:
    return SourceColumn(name, kind, "public", vi, en)


def _communes(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "code": c.code,
            "name": c.name,
            "type": c.type,
            "merged_units": len(c.merged_from or []),
            "merged_from": "; ".join(m["name"] for m in c.merged_from or []),
        }
        for c in session.scalars(select(Commune).where(Commune.province_code == "40").order_by(Commune.code))
    ]


def _legacy(session: Session) -> list[dict[str, Any]]:
    rows = []
    for c in session.scalars(select(Commune).where(Commune.province_code == "40").order_by(Commune.code)):
        for m in c.merged_from or []:
            rows.append(
                {"old_code": m["code"], "old_name": m["name"], "commune_code": c.code, "commune_name": c.name}
            )
    return sorted(rows, key=lambda r: (r["old_code"], r["commune_code"]))


def _agencies(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "code": a.code,
            "name": a.name,
            "name_en": a.name_en,
            "short_name": a.short_name,
            "kind": a.kind,
            "parent_code": a.parent_code,
            "commune_code": a.commune_code,
        }
        for a in session.scalars(select(Agency).where(Agency.active.is_(True)).order_by(Agency.code))
    ]


def roadmap_rows() -> list[dict[str, Any]]:
    text = (
        resources.files("tinhso.opendata")
        .joinpath("data", "nghe_an_4520_tasks.csv")
        .read_text(encoding="utf-8")
    )
    return [{k: nfc(v).strip() for k, v in row.items()} for row in csv.DictReader(text.splitlines())]


def _roadmap(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "section": r["section"],
            "section_title": r["section_title"],
            "group": r["group"],
            "group_title": r["group_title"],
            "number": r["number"],
            "task": r["task"],
            "lead": r["lead"].rstrip("."),
            "coordinating": r["coordinating"].rstrip("."),
            "deadline": r["deadline"].rstrip(".").replace("- ", "-"),
        }
        for r in roadmap_rows()
    ]


REFERENCE: dict[str, ListSource] = {
    s.key: s
    for s in (
        ListSource(
            "reference:communes",
            "Đơn vị hành chính cấp xã tỉnh Nghệ An (từ 01/7/2025)",
            "Commune-level units of Nghệ An (from 1 July 2025)",
            [
                _col("code", "text", "Mã đơn vị", "Code"),
                _col("name", "text", "Tên đơn vị", "Name"),
                _col("type", "text", "Loại (xã, phường)", "Type"),
                _col("merged_units", "integer", "Số đơn vị cũ hợp nhất", "Legacy units merged"),
                _col("merged_from", "text", "Hợp nhất từ", "Merged from"),
            ],
            _communes,
        ),
        ListSource(
            "reference:legacy_units",
            "Đơn vị hành chính cấp xã trước sắp xếp và đơn vị mới tương ứng",
            "Commune-level units before the 2025 merger and their new units",
            [
                _col("old_code", "text", "Mã đơn vị cũ", "Old code"),
                _col("old_name", "text", "Tên đơn vị cũ", "Old name"),
                _col("commune_code", "text", "Mã đơn vị mới", "New code"),
                _col("commune_name", "text", "Tên đơn vị mới", "New name"),
            ],
            _legacy,
        ),
        ListSource(
            "reference:agencies",
            "Danh mục cơ quan, đơn vị tỉnh Nghệ An",
            "Agencies of Nghệ An province",
            [
                _col("code", "text", "Mã định danh", "Code"),
                _col("name", "text", "Tên cơ quan", "Name"),
                _col("name_en", "text", "Tên tiếng Anh", "English name"),
                _col("short_name", "text", "Tên viết tắt", "Short name"),
                _col("kind", "text", "Loại", "Kind"),
                _col("parent_code", "text", "Cơ quan cấp trên", "Parent"),
                _col("commune_code", "text", "Mã xã", "Commune code"),
            ],
            _agencies,
        ),
        ListSource(
            "reference:roadmap",
            "Nhiệm vụ và lộ trình triển khai Khung kiến trúc số tỉnh Nghệ An (QĐ 4520/QĐ-UBND)",
            "Tasks and roadmap of Nghệ An's digital architecture framework (Decision 4520)",
            [
                _col("section", "text", "Mục", "Section"),
                _col("section_title", "text", "Tên mục", "Section title"),
                _col("group", "text", "Nhóm", "Group"),
                _col("group_title", "text", "Tên nhóm", "Group title"),
                _col("number", "text", "Số thứ tự", "Number"),
                _col("task", "text", "Nhiệm vụ", "Task"),
                _col("lead", "text", "Cơ quan chủ trì", "Lead agency"),
                _col("coordinating", "text", "Cơ quan phối hợp", "Coordinating agencies"),
                _col("deadline", "text", "Thời gian thực hiện", "Timeframe"),
            ],
            _roadmap,
        ),
    )
}
_EXTRA: dict[str, Source] = {}


def register(source: Source) -> None:
    """Let another module offer a source (e.g. air-quality history, dossier counts)."""
    _EXTRA[source.key] = source


def _warehouse_tables(session: Session) -> list[Any]:
    try:
        from tinhso.data import warehouse_api
    except ImportError:  # the data module is not part of this build
        return []
    return list(warehouse_api.warehouse_tables(session))


def all_sources(session: Session) -> list[Source]:
    found: list[Source] = list(REFERENCE.values()) + list(_EXTRA.values())
    found += [WarehouseSource(t) for t in _warehouse_tables(session)]
    return found


def get_source(session: Session, key: str) -> Source:
    if key in REFERENCE:
        return REFERENCE[key]
    if key in _EXTRA:
        return _EXTRA[key]
    if key.startswith("warehouse:"):
        name = key.removeprefix("warehouse:")
        for table in _warehouse_tables(session):
            if table.name == name:
                return WarehouseSource(table)
    raise NotFound("opendata_source_not_found", "Data source {key} not found", key=key)


def check_columns(source: Source, session: Session, wanted: list[str]) -> list[SourceColumn]:
    """The chosen columns; personal and sensitive ones are refused, unknown ones too."""
    known = {c.name: c for c in source.columns(session)}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ValidationFailed(
            {"columns": [f"unknown column '{u}'" for u in unknown]},
            "opendata_unknown_column",
            "Unknown column(s): {columns}",
            columns=", ".join(unknown),
        )
    refused = [w for w in wanted if known[w].classification in REFUSED]
    if refused:
        raise ValidationFailed(
            {
                "columns": [
                    f"column '{r}' is classified {known[r].classification} and cannot be published"
                    for r in refused
                ]
            },
            "opendata_personal_column",
            "Columns classified personal or sensitive cannot be published: {columns}",
            columns=", ".join(refused),
        )
    return [known[w] for w in wanted]
