"""Data module tables: dictionary (entities, code lists), registries and their versions, warehouse metadata,
ingestion batches and saved queries. Warehouse rows themselves live in DuckDB (see `warehouse.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tinhso.kit.db import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow


class Entity(Base, IdMixin, TimestampMixin):
    """One version of a dictionary entity (thực thể dữ liệu): JSON Schema 2020-12 plus per-field metadata.

    `fields` is a list of {name, type, label_vi, label_en, classification, required, codelist, rule}; the JSON
    Schema in `json_schema` is generated from it and is what records are validated against.
    """

    __tablename__ = "data_entity"
    __table_args__ = (UniqueConstraint("code", "version"),)
    code: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_agency: Mapped[str | None] = mapped_column(String(32))
    key_field: Mapped[str] = mapped_column(String(64))
    refresh_days: Mapped[int] = mapped_column(Integer, default=30)
    fields: Mapped[list[Any]] = mapped_column(default=list)
    json_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="published")  # draft, published, superseded
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[str | None] = mapped_column(String(64))
    search_text: Mapped[str] = mapped_column(Text, default="")


class CodeList(Base):
    """A code list (danh mục): genders, ethnic groups, nationalities, communes 2025, legacy units."""

    __tablename__ = "data_codelist"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[str] = mapped_column(String(32), default="1")
    items: Mapped[list[Any]] = mapped_column(default=list)  # [{"code", "label_vi", "label_en", ...}]


class Registry(Base, IdMixin, TimestampMixin):
    """A digital registry (cơ sở dữ liệu dùng chung) built from a dictionary entity and owned by an agency."""

    __tablename__ = "data_registry"
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    entity_code: Mapped[str] = mapped_column(String(64), index=True)
    entity_version: Mapped[int] = mapped_column(Integer)
    agency_code: Mapped[str] = mapped_column(String(32), index=True)
    key_field: Mapped[str] = mapped_column(String(64))
    shared_with: Mapped[list[Any]] = mapped_column(default=list)  # agency codes granted read access
    version: Mapped[int] = mapped_column(Integer, default=1)


class Record(Base, IdMixin, TimestampMixin):
    """The current state of one registry record; every change is also kept in `RecordVersion`."""

    __tablename__ = "data_record"
    __table_args__ = (UniqueConstraint("registry_id", "key"),)
    registry_id: Mapped[str] = mapped_column(String(32), index=True)
    key: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    search_text: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str | None] = mapped_column(String(64))


class RecordVersion(Base, IdMixin):
    """One change of a registry record: who, when, what (the full new data and the changed fields)."""

    __tablename__ = "data_record_version"
    __table_args__ = (UniqueConstraint("record_id", "version"),)
    record_id: Mapped[str] = mapped_column(String(32), index=True)
    registry_id: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(16))  # create, update, delete
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    changed_fields: Mapped[list[Any]] = mapped_column(default=list)
    changed_by: Mapped[str | None] = mapped_column(String(64))
    changed_by_agency: Mapped[str | None] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WarehouseTable(Base, TimestampMixin):
    """Metadata of one DuckDB warehouse table: its entity, titles, columns with classification, row count."""

    __tablename__ = "data_warehouse_table"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    entity: Mapped[str] = mapped_column(String(64))
    title_vi: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    columns: Mapped[list[Any]] = mapped_column(default=list)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    agency_code: Mapped[str | None] = mapped_column(String(32))


class Batch(Base, IdMixin, TimestampMixin):
    """One ingestion of one file: counts, quality scores, the error report, progress.

    An uploaded file is stored under var/data/uploads/<id> and the batch is queued; a loader (`tinhso worker`, or
    the API process in a single-process installation) claims it and runs it. `attempts` counts the runs started;
    a run whose process stopped is queued again from the stored file, up to `jobs.MAX_ATTEMPTS`."""

    __tablename__ = "data_batch"
    entity_code: Mapped[str] = mapped_column(String(64), index=True)
    entity_version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(128), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    table_name: Mapped[str] = mapped_column(String(64))
    agency_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="running")  # queued, running, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rows_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_fixed: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    quality: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    error_report: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_by_kind: Mapped[str | None] = mapped_column(
        String(16)
    )  # person or system: the loader acts for it
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)


class SavedQuery(Base, IdMixin, TimestampMixin):
    """A named read-only SQL query over the warehouse, with an optional chart."""

    __tablename__ = "data_saved_query"
    name: Mapped[str] = mapped_column(String(200))
    sql: Mapped[str] = mapped_column(Text)
    chart: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"type": "bar", "x": col, "y": col}
    owner_id: Mapped[str | None] = mapped_column(String(64))
    agency_code: Mapped[str | None] = mapped_column(String(32))
