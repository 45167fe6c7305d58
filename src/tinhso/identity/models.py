"""Identity tables: agencies (cơ quan), people, roles, information systems (HTTT) and credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tinhso.kit.db import Base, IdMixin, TimestampMixin, UTCDateTime
from tinhso.kit.text import fold

ROLES = ("citizen", "official", "agency_admin", "leader", "platform_admin")


class Agency(Base, TimestampMixin):
    """Agency — cơ quan, đơn vị: a department, the provincial committee, or a commune's UBND."""

    __tablename__ = "identity_agency"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)  # mã định danh điện tử (QĐ 20/2020)
    name: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str | None] = mapped_column(String(255))
    short_name: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # province, department, sector, commune
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("identity_agency.code"))
    commune_code: Mapped[str | None] = mapped_column(String(5), index=True)
    code_generated: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    search_text: Mapped[str] = mapped_column(Text, default="")


class Person(Base, IdMixin, TimestampMixin):
    """A person who signs in: an official (cán bộ) or a citizen (công dân)."""

    __tablename__ = "identity_person"
    username: Mapped[str] = mapped_column(String(128), unique=True)
    full_name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    personal_id: Mapped[str | None] = mapped_column(String(12), unique=True)  # số định danh cá nhân
    agency_code: Mapped[str | None] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    preferred_language: Mapped[str] = mapped_column(String(8), default="vi")
    # Folded username and name ("nguyen van a" finds "Nguyễn Văn A"); kept current by _person_search_text.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    roles: Mapped[list[RoleAssignment]] = relationship(lazy="raise", cascade="all, delete-orphan")


class Role(Base):
    """A role with its labels; the set of role codes is fixed (ROLES)."""

    __tablename__ = "identity_role"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)


class RoleAssignment(Base):
    """A person holds a role."""

    __tablename__ = "identity_role_assignment"
    __table_args__ = (UniqueConstraint("person_id", "role_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id", ondelete="CASCADE"), index=True)
    role_code: Mapped[str] = mapped_column(ForeignKey("identity_role.code"))


class InformationSystem(Base, IdMixin, TimestampMixin):
    """InformationSystem — hệ thống thông tin (HTTT) of an agency; an API client of the platform."""

    __tablename__ = "identity_system"
    __table_args__ = (UniqueConstraint("agency_code", "code"),)
    code: Mapped[str] = mapped_column(String(64))
    agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ClientCredential(Base, IdMixin, TimestampMixin):
    """An OAuth2 client-credentials secret of a system; stored hashed, shown once."""

    __tablename__ = "identity_client_credential"
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("identity_system.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DataGrant(Base, IdMixin, TimestampMixin):
    """Permission for another agency (or one of its systems) to read an agency's data of one kind."""

    __tablename__ = "identity_data_grant"
    owner_agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    grantee_agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    grantee_system_id: Mapped[str | None] = mapped_column(ForeignKey("identity_system.id"))
    resource: Mapped[str] = mapped_column(String(64))  # e.g. "procedures.dossier", "*"
    purpose: Mapped[str] = mapped_column(Text)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningKey(Base, TimestampMixin):
    """A key the platform signs tokens with; public halves are published in the JWKS."""

    __tablename__ = "identity_signing_key"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WebSession(Base, IdMixin):
    """A signed-in browser session (server side, so it can be revoked and timed out)."""

    __tablename__ = "identity_web_session"
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    csrf_token: Mapped[str] = mapped_column(String(64))


@event.listens_for(Person, "before_insert")
@event.listens_for(Person, "before_update")
def _person_search_text(_mapper: object, _conn: object, person: Person) -> None:
    person.search_text = fold(f"{person.username} {person.full_name}")
