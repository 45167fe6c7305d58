"""Open-data tables: datasets, resources, organisations (agencies), groups (topics), tags, DataStore rows,
publications from the warehouse and reference data, API tokens and download counts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tinhso.kit.db import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow


class Organization(Base):
    """A publisher: an agency (cơ quan) of the province, with the URL-safe name CKAN clients use."""

    __tablename__ = "opendata_organization"
    agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Group(Base, IdMixin, TimestampMixin):
    """A topic (chủ đề) that groups datasets, mapped to an EU data theme for DCAT."""

    __tablename__ = "opendata_group"
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    title_en: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    eu_theme: Mapped[str | None] = mapped_column(String(8))


class Dataset(Base, IdMixin):
    """A dataset (bộ dữ liệu) with its DCAT-AP metadata."""

    __tablename__ = "opendata_dataset"
    __table_args__ = (Index("ix_opendata_dataset_modified_id", "metadata_modified", "id"),)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    title_en: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    owner_org: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    license_id: Mapped[str | None] = mapped_column(String(64), index=True)
    url: Mapped[str | None] = mapped_column(String(1000))
    version: Mapped[str | None] = mapped_column(String(64))
    author: Mapped[str | None] = mapped_column(String(255))
    author_email: Mapped[str | None] = mapped_column(String(255))
    maintainer: Mapped[str | None] = mapped_column(String(255))
    maintainer_email: Mapped[str | None] = mapped_column(String(255))
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="active", index=True)  # active, draft, deleted
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    frequency: Mapped[str | None] = mapped_column(String(32))  # EU frequency code: ANNUAL, MONTHLY, …
    temporal_start: Mapped[date | None] = mapped_column(Date)
    temporal_end: Mapped[date | None] = mapped_column(Date)
    spatial: Mapped[str | None] = mapped_column(String(255))  # e.g. "Tỉnh Nghệ An" or a commune code
    language: Mapped[str] = mapped_column(String(16), default="vi")
    extras: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tag_names: Mapped[list[Any]] = mapped_column(default=list)
    quality_score: Mapped[int] = mapped_column(Integer, default=0)
    search_text: Mapped[str] = mapped_column(Text, default="")
    creator_user_id: Mapped[str | None] = mapped_column(String(64))
    metadata_created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    metadata_modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    resources: Mapped[list[Resource]] = relationship(
        lazy="raise", order_by="Resource.position", cascade="all, delete-orphan"
    )


class DatasetTag(Base):
    """A free tag (từ khoá) of a dataset; folded name for accent-insensitive matching."""

    __tablename__ = "opendata_dataset_tag"
    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("opendata_dataset.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class DatasetGroup(Base):
    """A dataset belongs to a topic."""

    __tablename__ = "opendata_dataset_group"
    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("opendata_dataset.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(
        ForeignKey("opendata_group.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Resource(Base, IdMixin):
    """A distribution of a dataset: an uploaded file, a link, or a DataStore table."""

    __tablename__ = "opendata_resource"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("opendata_dataset.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(String(32), index=True)
    url: Mapped[str | None] = mapped_column(String(1000))
    url_type: Mapped[str | None] = mapped_column(String(16))  # upload, datastore, None (link)
    mimetype: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int | None] = mapped_column(BigInteger)
    hash: Mapped[str | None] = mapped_column(String(80))
    datastore_active: Mapped[bool] = mapped_column(Boolean, default=False)
    datastore_table: Mapped[str | None] = mapped_column(String(63))  # datastore.py: the typed table
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    fields: Mapped[list[Any]] = mapped_column(default=list)  # [{id, type, info: {label, label_en, notes}}]
    extras: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_modified: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ResourceFile(Base):
    """The bytes of an uploaded resource file (kept in the database so an upload commits or not at all)."""

    __tablename__ = "opendata_resource_file"
    resource_id: Mapped[str] = mapped_column(
        ForeignKey("opendata_resource.id", ondelete="CASCADE"), primary_key=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Publication(Base, IdMixin, TimestampMixin):
    """A dataset resource fed from a source (warehouse table or platform reference data) and refreshed."""

    __tablename__ = "opendata_publication"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("opendata_dataset.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[str] = mapped_column(
        ForeignKey("opendata_resource.id", ondelete="CASCADE"), unique=True
    )
    source: Mapped[str] = mapped_column(String(128), index=True)  # "reference:communes", "warehouse:<table>"
    columns: Mapped[list[Any]] = mapped_column(default=list)
    group_by: Mapped[list[Any]] = mapped_column(default=list)
    measure: Mapped[str | None] = mapped_column(String(128))  # None = rows; "count" or "sum:<col>"
    threshold: Mapped[int] = mapped_column(Integer, default=5)
    suppressed_cells: Mapped[int] = mapped_column(Integer, default=0)
    refresh_days: Mapped[int | None] = mapped_column(Integer)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_refresh_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_by: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base, IdMixin):
    """A CKAN-style API token of a person or system; only its SHA-256 is stored."""

    __tablename__ = "opendata_api_token"
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_person.id", ondelete="CASCADE"), index=True
    )
    system_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_system.id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DownloadCount(Base):
    """Downloads of a resource per day (for the KPI `opendata.downloads`)."""

    __tablename__ = "opendata_download_count"
    resource_id: Mapped[str] = mapped_column(
        ForeignKey("opendata_resource.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
