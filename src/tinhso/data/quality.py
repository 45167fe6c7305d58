"""Quality scores per entity and per source (see docs/data.md for the definitions)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.data import dictionary
from tinhso.data.models import Batch, Registry, SavedQuery, WarehouseTable
from tinhso.kit.db import utcnow

DIMENSIONS = ("dung", "du", "sach", "song", "thong_nhat", "dung_chung")


def _song(finished: Any, refresh_days: int) -> float:
    age_days = (utcnow() - finished).total_seconds() / 86400
    return round(max(0.0, 1.0 - max(0.0, age_days - refresh_days) / refresh_days), 4)


def _reuse(session: Session, entity: str) -> tuple[float, int]:
    """dùng chung: registries (counting each agency it is shared with), warehouse tables and saved queries."""
    uses = 0
    for reg in session.scalars(select(Registry).where(Registry.entity_code == entity)):
        uses += 1 + (3 if "*" in (reg.shared_with or []) else len(reg.shared_with or []))
    tables = [t.name for t in session.scalars(select(WarehouseTable).where(WarehouseTable.entity == entity))]
    uses += len(tables)
    for q in session.scalars(select(SavedQuery)):
        uses += sum(1 for t in tables if t in q.sql)
    return round(min(1.0, uses / 5), 4), uses


def scores(session: Session) -> dict[str, Any]:
    batches = list(session.scalars(select(Batch).where(Batch.status == "done").order_by(Batch.finished_at)))
    latest: dict[tuple[str, str], Batch] = {}
    for b in batches:
        latest[(b.entity_code, b.source)] = b
    by_source = []
    per_entity: dict[str, list[dict[str, Any]]] = {}
    for (entity_code, source), b in sorted(latest.items()):
        refresh = dictionary.latest(session, entity_code).refresh_days
        q = dict(b.quality or {})
        q["song"] = _song(b.finished_at, refresh) if b.finished_at else None
        item = {"entity": entity_code, "source": source, "batch": b.id, "rows": b.rows_total, "scores": q}
        by_source.append(item)
        per_entity.setdefault(entity_code, []).append(item)
    by_entity = []
    for entity_code, items in per_entity.items():
        total = sum(i["rows"] for i in items) or 1
        merged: dict[str, float | None] = {}
        for dim in ("dung", "du", "sach", "song", "thong_nhat"):
            vals = [(i["scores"].get(dim), i["rows"]) for i in items if i["scores"].get(dim) is not None]
            merged[dim] = round(sum(v * n for v, n in vals) / total, 4) if vals else None
        merged["dung_chung"], uses = _reuse(session, entity_code)
        present = [v for v in merged.values() if v is not None]
        merged["overall"] = round(sum(present) / len(present), 4) if present else None
        by_entity.append({"entity": entity_code, "sources": len(items), "uses": uses, "scores": merged})
    return {"entities": by_entity, "sources": by_source}
