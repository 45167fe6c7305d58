"""Identity API: tokens, the caller, agencies, people, information systems, credentials and grants."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse

from tinhso.identity import repository as repo
from tinhso.identity import service, tokens
from tinhso.identity.auth import CurrentPrincipal, access_token_for, require_roles
from tinhso.identity.principal import Principal
from tinhso.identity.schemas import (
    AgencyCreate,
    AgencyRead,
    AgencyUpdate,
    CredentialCreate,
    CredentialIssued,
    CredentialRead,
    GrantCreate,
    GrantRead,
    MeRead,
    PersonCreate,
    PersonRead,
    PersonUpdate,
    SystemCreate,
    SystemRead,
    TokenResponse,
)
from tinhso.kit.db import utcnow
from tinhso.kit.deps import DatabaseDep, ReadSessionDep, SessionDep
from tinhso.kit.errors import BadRequest, DomainError, NotFound
from tinhso.kit.i18n import both
from tinhso.kit.pagination import Page, PageDep, paginate
from tinhso.settings import get_settings

router = APIRouter()
AdminDep = Annotated[Principal, require_roles("agency_admin")]


def person_read(p) -> PersonRead:  # noqa: ANN001
    return PersonRead(
        id=p.id,
        username=p.username,
        full_name=p.full_name,
        email=p.email,
        phone=p.phone,
        agency_code=p.agency_code,
        active=p.active,
        roles=sorted(r.role_code for r in p.roles),
        locked=bool(p.locked_until and p.locked_until > utcnow()),
        totp_enabled=bool(p.totp_secret),
    )


def _basic_client(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    try:
        raw = base64.b64decode(header[6:]).decode()
    except ValueError:
        return None, None
    cid, _, secret = raw.partition(":")
    return cid, secret


def _oauth_error(exc: DomainError, request: Request) -> JSONResponse:
    oauth = {"invalid_client": "invalid_client", "unsupported_grant_type": "unsupported_grant_type"}.get(
        exc.code, "invalid_grant" if exc.status == 401 else "invalid_request"
    )
    body = exc.body(getattr(request.state, "request_id", None)) | {
        "error": oauth,
        "error_description": both(exc.message, **exc.params)["en"],
    }
    return JSONResponse(body, status_code=exc.status, headers={"Cache-Control": "no-store"})


@router.post(
    "/auth/token",
    operation_id="issue_token",
    tags=["identity"],
    response_model=TokenResponse,
    summary="OAuth2 token endpoint: client credentials for systems, password for first-party scripts",
)
def issue_token(
    request: Request,
    session: SessionDep,
    db: DatabaseDep,
    grant_type: Annotated[str, Form(max_length=64)],
    client_id: Annotated[str | None, Form(max_length=128)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
    username: Annotated[str | None, Form(max_length=128)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    totp: Annotated[str | None, Form(max_length=12)] = None,
    scope: Annotated[str | None, Form(max_length=1000)] = None,
):
    settings = get_settings()
    try:
        if grant_type == "client_credentials":
            b_id, b_secret = _basic_client(request)
            cid, secret = client_id or b_id, client_secret or b_secret
            if not cid or not secret:
                raise BadRequest("invalid_client", "client_id and client_secret are required")
            system, cred = service.authenticate_client(session, cid, secret)
            allowed = set(cred.scopes or [])
            asked = set((scope or "").split()) or allowed
            if not asked <= allowed and "*" not in allowed:
                raise BadRequest("invalid_scope", "The requested scope is not allowed for this client")
            principal = service.principal_for_system(system, cred)
            principal = Principal(**{**principal.__dict__, "scopes": frozenset(asked)})
        elif grant_type == "password":
            if not username or not password:
                raise BadRequest("invalid_request", "username and password are required")
            person = service.authenticate_password(session, username, password, totp)
            principal = service.principal_for_person(session, person)
        else:
            raise BadRequest("unsupported_grant_type", "Unsupported grant type")
    except DomainError as exc:
        session.commit()  # keep the failed-attempt counter and its audit entry
        return _oauth_error(exc, request)
    token = access_token_for(db, principal)
    body = TokenResponse(
        access_token=token,
        expires_in=settings.access_token_minutes * 60,
        scope=" ".join(sorted(principal.scopes)),
    )
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store"})


@router.get(
    "/.well-known/jwks.json", operation_id="jwks", tags=["identity"], summary="Public keys that sign tokens"
)
def jwks(db: DatabaseDep) -> dict:
    return tokens.jwks(db)


@router.get("/api/v1/me", operation_id="get_me", tags=["identity"], response_model=MeRead)
def me(principal: CurrentPrincipal) -> MeRead:
    return MeRead(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        agency_code=principal.agency_code,
        roles=sorted(principal.roles),
        scopes=sorted(principal.scopes),
    )


@router.get(
    "/api/v1/agencies", operation_id="list_agencies", tags=["agencies"], response_model=Page[AgencyRead]
)
def list_agencies(
    session: ReadSessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Accent-insensitive search")] = None,
    kind: Annotated[str | None, Query(pattern="^(province|department|sector|commune)$")] = None,
):
    rows, total = paginate(session, repo.agencies_statement(q, kind), page)
    return Page(
        items=[AgencyRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.get(
    "/api/v1/agencies/{code}", operation_id="get_agency", tags=["agencies"], response_model=AgencyRead
)
def get_agency(session: ReadSessionDep, code: str):
    agency = repo.get_agency(session, code)
    if agency is None:
        raise NotFound("agency_not_found", "Agency {code} not found", code=code)
    return AgencyRead.model_validate(agency)


@router.post(
    "/api/v1/agencies",
    operation_id="create_agency",
    tags=["agencies"],
    response_model=AgencyRead,
    status_code=201,
)
def create_agency(session: SessionDep, principal: CurrentPrincipal, data: AgencyCreate):
    return AgencyRead.model_validate(service.create_agency(session, principal, data))


@router.patch(
    "/api/v1/agencies/{code}", operation_id="update_agency", tags=["agencies"], response_model=AgencyRead
)
def update_agency(session: SessionDep, principal: AdminDep, code: str, data: AgencyUpdate):
    return AgencyRead.model_validate(service.update_agency(session, principal, code, data))


@router.get("/api/v1/people", operation_id="list_people", tags=["people"], response_model=Page[PersonRead])
def list_people(
    session: SessionDep,
    principal: AdminDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
):
    rows, total = paginate(session, repo.people_statement(principal, q, agency_code), page)
    service.audit_listed_people(session, principal, list(rows))
    return Page(items=[person_read(p) for p in rows], total=total, page=page.page, page_size=page.page_size)


@router.post(
    "/api/v1/people",
    operation_id="create_person",
    tags=["people"],
    response_model=PersonRead,
    status_code=201,
)
def create_person(session: SessionDep, principal: AdminDep, data: PersonCreate):
    return person_read(service.create_person(session, principal, data))


@router.get(
    "/api/v1/people/{person_id}", operation_id="get_person", tags=["people"], response_model=PersonRead
)
def get_person(session: SessionDep, principal: CurrentPrincipal, person_id: str):
    return person_read(service.read_person(session, principal, person_id))


@router.patch(
    "/api/v1/people/{person_id}", operation_id="update_person", tags=["people"], response_model=PersonRead
)
def update_person(session: SessionDep, principal: AdminDep, person_id: str, data: PersonUpdate):
    return person_read(service.update_person(session, principal, person_id, data))


@router.get("/api/v1/systems", operation_id="list_systems", tags=["systems"], response_model=Page[SystemRead])
def list_systems(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
):
    rows, total = paginate(session, repo.systems_statement(principal, agency_code), page)
    return Page(
        items=[SystemRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/api/v1/systems",
    operation_id="create_system",
    tags=["systems"],
    response_model=SystemRead,
    status_code=201,
)
def create_system(session: SessionDep, principal: AdminDep, data: SystemCreate):
    return SystemRead.model_validate(service.create_system(session, principal, data))


@router.get(
    "/api/v1/systems/{system_id}", operation_id="get_system", tags=["systems"], response_model=SystemRead
)
def get_system(session: SessionDep, principal: CurrentPrincipal, system_id: str):
    return SystemRead.model_validate(service.get_system_for(session, principal, system_id))


@router.get(
    "/api/v1/systems/{system_id}/credentials",
    operation_id="list_credentials",
    tags=["systems"],
    response_model=list[CredentialRead],
)
def list_credentials(session: SessionDep, principal: AdminDep, system_id: str):
    system = service.get_system_for(session, principal, system_id)
    return [CredentialRead.model_validate(c) for c in repo.credentials_of(session, system.id)]


@router.post(
    "/api/v1/systems/{system_id}/credentials",
    operation_id="issue_credential",
    tags=["systems"],
    response_model=CredentialIssued,
    status_code=201,
)
def issue_credential(session: SessionDep, principal: AdminDep, system_id: str, data: CredentialCreate):
    cred, secret = service.issue_credential(session, principal, system_id, data.scopes, data.expires_in_days)
    return CredentialIssued(**CredentialRead.model_validate(cred).model_dump(), client_secret=secret)


@router.post(
    "/api/v1/systems/{system_id}/credentials/{credential_id}/revoke",
    operation_id="revoke_credential",
    tags=["systems"],
    response_model=CredentialRead,
)
def revoke_credential(session: SessionDep, principal: AdminDep, system_id: str, credential_id: str):
    return CredentialRead.model_validate(
        service.revoke_credential(session, principal, system_id, credential_id)
    )


@router.post(
    "/api/v1/systems/{system_id}/credentials/{credential_id}/rotate",
    operation_id="rotate_credential",
    tags=["systems"],
    response_model=CredentialIssued,
    status_code=201,
)
def rotate_credential(session: SessionDep, principal: AdminDep, system_id: str, credential_id: str):
    cred, secret = service.rotate_credential(session, principal, system_id, credential_id)
    return CredentialIssued(**CredentialRead.model_validate(cred).model_dump(), client_secret=secret)


@router.get("/api/v1/grants", operation_id="list_grants", tags=["grants"], response_model=Page[GrantRead])
def list_grants(session: SessionDep, principal: CurrentPrincipal, page: PageDep):
    rows, total = paginate(session, repo.grants_statement(principal), page)
    return Page(
        items=[GrantRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/api/v1/grants", operation_id="create_grant", tags=["grants"], response_model=GrantRead, status_code=201
)
def create_grant(session: SessionDep, principal: AdminDep, data: GrantCreate):
    return GrantRead.model_validate(service.create_grant(session, principal, data))


@router.post(
    "/api/v1/grants/{grant_id}/revoke", operation_id="revoke_grant", tags=["grants"], response_model=GrantRead
)
def revoke_grant(session: SessionDep, principal: AdminDep, grant_id: str):
    return GrantRead.model_validate(service.revoke_grant(session, principal, grant_id))
