"""All identity queries, scoped to the caller where the data belongs to an agency."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from tinhso.identity.models import (
    Agency,
    ClientCredential,
    DataGrant,
    InformationSystem,
    Person,
    RoleAssignment,
)
from tinhso.identity.principal import Principal
from tinhso.kit.text import fold

ALL = None  # readable_agencies() returns None when the caller may read every agency's data


def readable_agencies(
    session: Session, principal: Principal, resource: str, now: datetime
) -> set[str] | None:
    """The agencies whose `resource` data the caller may read: its own, plus those that granted access."""
    if principal.is_platform_admin:
        return ALL
    own = {principal.agency_code} if principal.agency_code else set()
    grants = select(DataGrant.owner_agency_code).where(
        DataGrant.grantee_agency_code == principal.agency_code,
        DataGrant.revoked_at.is_(None),
        or_(DataGrant.valid_until.is_(None), DataGrant.valid_until > now),
        DataGrant.resource.in_([resource, "*"]),
    )
    if principal.is_system:
        grants = grants.where(
            or_(DataGrant.grantee_system_id.is_(None), DataGrant.grantee_system_id == principal.system_id)
        )
    return own | set(session.scalars(grants))


def agencies_statement(q: str | None = None, kind: str | None = None) -> Select[Agency]:
    stmt = select(Agency).where(Agency.active.is_(True)).order_by(Agency.kind != "province", Agency.code)
    if kind:
        stmt = stmt.where(Agency.kind == kind)
    if q and fold(q).split():
        stmt = stmt.where(Agency.search_text.contains(" ".join(fold(q).split()), autoescape=True))
    return stmt


def get_agency(session: Session, code: str) -> Agency | None:
    return session.get(Agency, code)


def people_statement(
    principal: Principal, q: str | None = None, agency_code: str | None = None
) -> Select[Person]:
    """People the caller may administer: all for a platform admin, its agency's for an agency admin."""
    stmt = select(Person).options(selectinload(Person.roles)).order_by(Person.username)
    if not principal.is_platform_admin:
        stmt = stmt.where(Person.agency_code == principal.agency_code)
    if agency_code:
        stmt = stmt.where(Person.agency_code == agency_code)
    for word in fold(q or "").split():
        stmt = stmt.where(Person.search_text.contains(word, autoescape=True))
    return stmt


def get_person(session: Session, person_id: str) -> Person | None:
    return session.scalar(select(Person).options(selectinload(Person.roles)).where(Person.id == person_id))


def get_person_by_username(session: Session, username: str) -> Person | None:
    return session.scalar(
        select(Person).options(selectinload(Person.roles)).where(Person.username == username)
    )


def role_codes(session: Session, person_id: str) -> list[str]:
    return list(
        session.scalars(select(RoleAssignment.role_code).where(RoleAssignment.person_id == person_id))
    )


def systems_statement(principal: Principal, agency_code: str | None = None) -> Select[InformationSystem]:
    stmt = select(InformationSystem).order_by(InformationSystem.agency_code, InformationSystem.code)
    if not principal.is_platform_admin:
        stmt = stmt.where(InformationSystem.agency_code == principal.agency_code)
    if agency_code:
        stmt = stmt.where(InformationSystem.agency_code == agency_code)
    return stmt


def get_system(session: Session, system_id: str) -> InformationSystem | None:
    return session.get(InformationSystem, system_id)


def get_system_by_code(session: Session, agency_code: str, code: str) -> InformationSystem | None:
    return session.scalar(
        select(InformationSystem).where(
            InformationSystem.agency_code == agency_code, InformationSystem.code == code
        )
    )


def credentials_of(session: Session, system_id: str) -> list[ClientCredential]:
    stmt = (
        select(ClientCredential)
        .where(ClientCredential.system_id == system_id)
        .order_by(ClientCredential.created_at)
    )
    return list(session.scalars(stmt))


def get_credential_by_client_id(session: Session, client_id: str) -> ClientCredential | None:
    return session.scalar(select(ClientCredential).where(ClientCredential.client_id == client_id))


def grants_statement(principal: Principal) -> Select[DataGrant]:
    stmt = select(DataGrant).order_by(DataGrant.created_at.desc())
    if not principal.is_platform_admin:
        stmt = stmt.where(
            or_(
                DataGrant.owner_agency_code == principal.agency_code,
                DataGrant.grantee_agency_code == principal.agency_code,
            )
        )
    return stmt
