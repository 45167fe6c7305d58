"""Publishing a source as an open dataset: a table of chosen columns or an aggregate with small cells
suppressed, refreshed on a schedule and whenever the warehouse announces a change. Every publication and
every refresh is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity.principal import Principal
from tinhso.kit import audit, events
from tinhso.kit.db import utcnow
from tinhso.kit.errors import NotFound
from tinhso.opendata import datastore, service
from tinhso.opendata.config import get_opendata_settings
from tinhso.opendata.errors import ValidationFailed, invalid
from tinhso.opendata.models import Dataset, Publication, Resource
from tinhso.opendata.schemas import DatasetIn, ResourceIn
from tinhso.opendata.sources import SourceColumn, check_columns, get_source

_FIELD_TYPES = {"integer": "int", "number": "numeric", "date": "date", "boolean": "bool", "text": "text"}


class PublicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=3, max_length=128)
    dataset: DatasetIn | None = None  # a new dataset, or
    dataset_id: str | None = None  # an existing one to add the resource to
    resource_name: str | None = Field(default=None, max_length=500)
    columns: list[str] = Field(default_factory=list, max_length=200)
    group_by: list[str] = Field(default_factory=list, max_length=5)
    measure: str | None = Field(default=None, pattern=r"^(count|sum:[a-z_][a-z0-9_]*)$")
    threshold: int | None = Field(default=None, ge=1, le=1000)
    refresh_days: int | None = Field(default=None, ge=1, le=366)


def _fields(columns: list[SourceColumn], notes: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return [
        {
            "id": c.name,
            "type": _FIELD_TYPES.get(c.type, "text"),
            "info": {"label": c.label_vi, "label_en": c.label_en, "notes": (notes or {}).get(c.name, "")},
        }
        for c in columns
    ]


def materialize(session: Session, pub: Publication) -> int:
    """(Re)build the publication's DataStore table from its source; returns the row count."""
    source = get_source(session, pub.source)
    resource = session.get(Resource, pub.resource_id)
    if resource is None:  # pragma: no cover - cascades delete publications with their resource
        raise NotFound("resource_not_found", "Resource {id} not found", id=pub.resource_id)
    if pub.measure:
        group_cols = check_columns(source, session, list(pub.group_by))
        measure_col = pub.measure.removeprefix("sum:") if pub.measure.startswith("sum:") else None
        if measure_col:
            check_columns(source, session, [measure_col])
        rows = source.aggregate(session, list(pub.group_by), pub.measure)
        counts = rows if pub.measure == "count" else source.aggregate(session, list(pub.group_by), "count")
        count_of = {tuple(r.get(g) for g in pub.group_by): r["value"] for r in counts}
        suppressed = 0
        out = []
        for row in rows:
            n = count_of.get(tuple(row.get(g) for g in pub.group_by), 0)
            value = row["value"]
            if n < pub.threshold:
                value, suppressed = None, suppressed + 1
            out.append({**{g: row.get(g) for g in pub.group_by}, "value": value})
        label_vi = "Số lượng" if pub.measure == "count" else f"Tổng {measure_col}"
        label_en = "Count" if pub.measure == "count" else f"Sum of {measure_col}"
        value_col = SourceColumn(
            "value", "number" if measure_col else "integer", "public", label_vi, label_en
        )
        note = f"Cells counting fewer than {pub.threshold} records are suppressed (empty)."
        fields = _fields([*group_cols, value_col], {"value": note})
        pub.suppressed_cells = suppressed
        count = datastore.replace_rows(session, resource, fields, out)
    else:
        cols = check_columns(source, session, list(pub.columns))
        rows = source.rows(session, [c.name for c in cols])
        count = datastore.replace_rows(session, resource, _fields(cols), rows)
    now = utcnow()
    pub.last_refreshed_at = now
    pub.next_refresh_at = now + timedelta(days=pub.refresh_days) if pub.refresh_days else None
    dataset = session.get(Dataset, pub.dataset_id)
    if dataset is not None:
        dataset.metadata_modified = now
        service.refresh_derived(session, dataset)
    audit.record(
        session,
        "opendata.publication.refresh",
        object_type="opendata.publication",
        object_id=pub.id,
        detail={"source": pub.source, "rows": count, "suppressed": pub.suppressed_cells},
    )
    return count


def publish(session: Session, principal: Principal | None, data: PublicationIn) -> Publication:
    """Create a publication (and its dataset, when new) and fill its table now, in one transaction."""
    source = get_source(session, data.source)
    threshold = data.threshold or get_opendata_settings().suppression_threshold
    if data.measure:
        if not data.group_by:
            raise invalid("group_by", "an aggregate needs at least one column to group by")
        check_columns(source, session, data.group_by)
        if data.measure.startswith("sum:"):
            check_columns(source, session, [data.measure.removeprefix("sum:")])
        columns: list[str] = []
    else:
        if data.group_by:
            raise invalid("measure", "grouping needs a measure: count or sum:<column>")
        wanted = data.columns or [c.name for c in source.columns(session) if c.classification == "public"]
        if not wanted:
            raise invalid("columns", "the source has no public column")
        check_columns(source, session, wanted)
        columns = wanted
    if data.dataset is not None:
        dataset = service.create_dataset(session, principal, data.dataset)
    elif data.dataset_id:
        dataset = service.get_dataset(session, data.dataset_id, principal, for_edit=True)
    else:
        raise ValidationFailed({"dataset": ["give a new dataset or the id of an existing one"]})
    name = data.resource_name or (source.title_vi if not data.measure else f"{source.title_vi} — tổng hợp")
    resource = service.create_resource(
        session, principal, dataset.id, ResourceIn(name=name, format="CSV", url="about:datastore")
    )
    resource.url_type, resource.url = "datastore", f"/datastore/dump/{resource.id}"
    pub = Publication(
        dataset_id=dataset.id,
        resource_id=resource.id,
        source=data.source,
        columns=columns,
        group_by=list(data.group_by),
        measure=data.measure,
        threshold=threshold,
        refresh_days=data.refresh_days,
        created_by=principal.id if principal else None,
    )
    session.add(pub)
    session.flush()
    audit.record(
        session,
        "opendata.publication.create",
        object_type="opendata.publication",
        object_id=pub.id,
        detail={
            "source": data.source,
            "columns": columns,
            "group_by": data.group_by,
            "measure": data.measure,
            "threshold": threshold,
        },
    )
    materialize(session, pub)
    events.publish(
        session,
        "opendata.publication.created",
        {"id": pub.id, "dataset_id": dataset.id, "source": data.source},
        key=pub.id,
    )
    return pub


def refresh_source(session: Session, source_key: str) -> int:
    """Refresh every publication of a source (e.g. after `data.warehouse.updated`)."""
    pubs = list(session.scalars(select(Publication).where(Publication.source == source_key)))
    for pub in pubs:
        materialize(session, pub)
    return len(pubs)


def refresh_due(session: Session, limit: int = 20) -> int:
    """Refresh publications whose scheduled time has come."""
    now = utcnow()
    pubs = list(
        session.scalars(
            select(Publication)
            .where(Publication.next_refresh_at.is_not(None), Publication.next_refresh_at <= now)
            .limit(limit)
        )
    )
    for pub in pubs:
        materialize(session, pub)
    return len(pubs)
