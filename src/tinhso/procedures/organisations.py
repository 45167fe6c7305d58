"""Organisations and the people who act for them, for the organisations' e-data stores (kho dữ liệu điện tử
của tổ chức).

An official of a one-stop centre (or the platform admin) registers an organisation after checking its papers
and names its legal representative by personal identification number; the representative then authorises other
people (an accountant, a clerk) and withdraws them. Members apply on the organisation's behalf, reuse its
documents, and receive its results into its store. Organisation identity through the national system (VNeID for
organisations) is outside the province; this is the province's own record of who may act for whom.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity.auth import CurrentPrincipal
from tinhso.identity.models import Person
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from tinhso.kit.vn import validate_tax_code
from tinhso.procedures.models import Organisation, OrganisationMember

REGISTRARS = ("official", "agency_admin")


def subject(code: str) -> str:
    """The audit subject of an organisation's data (its members read the log of it)."""
    return f"org:{code}"


def membership(session: Session, principal: Principal, code: str) -> OrganisationMember | None:
    if principal.kind != "person":
        return None
    return session.scalar(
        select(OrganisationMember).where(
            OrganisationMember.organisation_code == code,
            OrganisationMember.person_id == principal.id,
            OrganisationMember.revoked_at.is_(None),
        )
    )


def require_member(session: Session, principal: Principal, code: str) -> OrganisationMember:
    m = membership(session, principal, code)
    if m is None:
        raise NotFound("organisation_not_found", "Organisation {code} not found among yours", code=code)
    return m


def _person_by_personal_id(session: Session, personal_id: str) -> Person:
    person = session.scalar(select(Person).where(Person.personal_id == personal_id, Person.active.is_(True)))
    if person is None:
        raise NotFound(
            "person_not_registered",
            "No account holds personal identification number {personal_id}",
            personal_id=personal_id,
        )
    return person


def register(
    session: Session, principal: Principal, code: str, name: str, address: str, representative_id: str
) -> Organisation:
    if not (principal.is_platform_admin or (principal.kind == "person" and principal.has_role(*REGISTRARS))):
        raise Forbidden(
            "registrar_only", "Only an official of a one-stop centre can register an organisation"
        )
    check = validate_tax_code(code)
    if not check.ok:
        raise Unprocessable("organisation_code_invalid", "{code} is not a valid enterprise code", code=code)
    code = str(check.value)
    if session.get(Organisation, code) is not None:
        raise Conflict("organisation_exists", "Organisation {code} is already registered", code=code)
    person = _person_by_personal_id(session, representative_id)
    org = Organisation(code=code, name=name.strip(), address=address.strip(), verified_by=principal.id)
    session.add(org)
    session.add(
        OrganisationMember(
            organisation_code=code, person_id=person.id, role="representative", granted_by=principal.id
        )
    )
    session.flush()
    audit.record(
        session,
        "procedures.organisation.register",
        object_type="organisation",
        object_id=code,
        detail={"representative": person.id},
    )
    return org


def _require_representative(session: Session, principal: Principal, code: str) -> None:
    if require_member(session, principal, code).role != "representative":
        raise Forbidden("representative_only", "Only the legal representative can authorise people")


def authorise(session: Session, principal: Principal, code: str, personal_id: str) -> OrganisationMember:
    _require_representative(session, principal, code)
    person = _person_by_personal_id(session, personal_id)
    m = session.scalar(
        select(OrganisationMember).where(
            OrganisationMember.organisation_code == code, OrganisationMember.person_id == person.id
        )
    )
    if m is not None and m.revoked_at is None:
        return m  # already a member: authorising again changes nothing
    if m is None:
        m = OrganisationMember(organisation_code=code, person_id=person.id)
        session.add(m)
    m.role, m.granted_by, m.revoked_at = "authorised", principal.id, None
    session.flush()
    audit.record(
        session,
        "procedures.organisation.authorise",
        object_type="organisation",
        object_id=code,
        detail={"person": person.id},
    )
    return m


def withdraw(session: Session, principal: Principal, code: str, person_id: str) -> None:
    _require_representative(session, principal, code)
    m = session.scalar(
        select(OrganisationMember).where(
            OrganisationMember.organisation_code == code,
            OrganisationMember.person_id == person_id,
            OrganisationMember.revoked_at.is_(None),
        )
    )
    if m is None:
        raise NotFound("member_not_found", "That person does not act for this organisation")
    if m.role == "representative":
        raise Unprocessable("representative_kept", "The legal representative cannot be withdrawn here")
    m.revoked_at = utcnow()
    audit.record(
        session,
        "procedures.organisation.withdraw",
        object_type="organisation",
        object_id=code,
        detail={"person": person_id},
    )


# ---- API -------------------------------------------------------------------------------------------------
router = APIRouter(tags=["procedures"])
P = "/api/v1/procedures/organisations"
OrgPath = Annotated[str, Path(max_length=20)]


class OrganisationCreate(BaseModel):
    code: str = Field(max_length=20, description="Enterprise code (mã số doanh nghiệp), 10 or 13 digits")
    name: str = Field(min_length=1, max_length=500)
    address: str = Field(default="", max_length=1000)
    representative_personal_id: str = Field(pattern=r"^\d{12}$")


class OrganisationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    address: str


class MemberIn(BaseModel):
    personal_id: str = Field(pattern=r"^\d{12}$")


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    person_id: str
    role: Literal["representative", "authorised"]


@router.post(P, operation_id="register_organisation", response_model=OrganisationRead, status_code=201)
def register_organisation(body: OrganisationCreate, session: SessionDep, principal: CurrentPrincipal):
    """Register an organisation and its legal representative (an official, after checking the papers)."""
    return register(session, principal, body.code, body.name, body.address, body.representative_personal_id)


@router.get(f"{P}/mine", operation_id="my_organisations", response_model=list[OrganisationRead])
def list_my_organisations(session: SessionDep, principal: CurrentPrincipal):
    """The organisations you may act for."""
    return my_organisations(session, principal)


def my_organisations(session: Session, principal: Principal) -> list[Organisation]:
    if principal.kind != "person":
        return []
    return list(
        session.scalars(
            select(Organisation)
            .join(OrganisationMember, OrganisationMember.organisation_code == Organisation.code)
            .where(OrganisationMember.person_id == principal.id, OrganisationMember.revoked_at.is_(None))
            .order_by(Organisation.name)
        )
    )


@router.get(
    f"{P}/{{code}}/members", operation_id="list_organisation_members", response_model=list[MemberRead]
)
def list_members(code: OrgPath, session: SessionDep, principal: CurrentPrincipal):
    require_member(session, principal, code)
    return list(
        session.scalars(
            select(OrganisationMember).where(
                OrganisationMember.organisation_code == code, OrganisationMember.revoked_at.is_(None)
            )
        )
    )


@router.post(
    f"{P}/{{code}}/members", operation_id="authorise_member", response_model=MemberRead, status_code=201
)
def authorise_member(code: OrgPath, body: MemberIn, session: SessionDep, principal: CurrentPrincipal):
    """Authorise a person to act for the organisation (its legal representative only)."""
    return authorise(session, principal, code, body.personal_id)


@router.delete(f"{P}/{{code}}/members/{{person_id}}", operation_id="withdraw_member", status_code=204)
def withdraw_member(
    code: OrgPath,
    person_id: Annotated[str, Path(max_length=32)],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Response:
    withdraw(session, principal, code, person_id)
    return Response(status_code=204)
