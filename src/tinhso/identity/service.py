"""Identity rules: sign-in with lockout, people, systems and their credentials, data grants. Never commits."""

from __future__ import annotations

from datetime import timedelta

import pyotp
from sqlalchemy.orm import Session

from tinhso.identity import repository as repo
from tinhso.identity.models import (
    Agency,
    ClientCredential,
    DataGrant,
    InformationSystem,
    Person,
    RoleAssignment,
)
from tinhso.identity.principal import Principal
from tinhso.identity.schemas import (
    AgencyCreate,
    AgencyUpdate,
    GrantCreate,
    PersonCreate,
    PersonUpdate,
    SystemCreate,
)
from tinhso.kit import audit
from tinhso.kit.db import new_id, utcnow
from tinhso.kit.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from tinhso.kit.security import hash_password, hash_secret, new_secret, secret_matches, verify_password
from tinhso.kit.text import fold
from tinhso.settings import get_settings


def principal_for_person(session: Session, person: Person) -> Principal:
    return Principal(
        kind="person",
        id=person.id,
        name=person.full_name,
        agency_code=person.agency_code,
        roles=frozenset(repo.role_codes(session, person.id)),
        personal_id=person.personal_id,
    )


def principal_for_system(system: InformationSystem, credential: ClientCredential) -> Principal:
    return Principal(
        kind="system",
        id=system.id,
        name=system.name,
        agency_code=system.agency_code,
        roles=frozenset({"system"}),
        scopes=frozenset(credential.scopes or []),
        system_id=system.id,
        credential_id=credential.id,
    )


class SignInFailed(Unauthorized):
    code = "invalid_credentials"
    message = "Wrong username or password"


def authenticate_password(session: Session, username: str, password: str, totp: str | None = None) -> Person:
    """Check a person's password (and TOTP if enabled); count failures and lock after too many.

    Failures are audited and counted in the caller's transaction: the caller must commit before raising.
    """
    settings = get_settings()
    person = repo.get_person_by_username(session, username.strip().lower())
    now = utcnow()
    if person is not None and person.locked_until is not None and person.locked_until > now:
        audit.record(
            session,
            "auth.sign_in",
            object_type="person",
            object_id=person.id,
            outcome="locked",
            actor=None,
            detail={"username": username},
        )
        raise Unauthorized(
            "account_locked", "The account is locked after repeated failed sign-ins; try again later"
        )
    ok = verify_password(person.password_hash if person else None, password)
    if ok and person is not None and person.totp_secret:
        ok = bool(totp) and pyotp.TOTP(person.totp_secret).verify(totp or "", valid_window=1)
    if not ok or person is None or not person.active:
        if person is not None:
            person.failed_logins += 1
            if person.failed_logins >= settings.lockout_threshold:
                person.locked_until = now + timedelta(minutes=settings.lockout_minutes)
                person.failed_logins = 0
        audit.record(
            session,
            "auth.sign_in",
            object_type="person",
            object_id=person.id if person else None,
            outcome="failure",
            actor=None,
            detail={"username": username[:128]},
        )
        raise SignInFailed()
    person.failed_logins = 0
    person.locked_until = None
    audit.record(
        session,
        "auth.sign_in",
        object_type="person",
        object_id=person.id,
        actor=principal_for_person(session, person),
    )
    return person


def authenticate_client(
    session: Session, client_id: str, client_secret: str
) -> tuple[InformationSystem, ClientCredential]:
    """Check a system's client credentials; failures are audited like people's."""
    cred = repo.get_credential_by_client_id(session, client_id)
    now = utcnow()
    system = repo.get_system(session, cred.system_id) if cred else None
    valid = (
        cred is not None
        and system is not None
        and system.active
        and cred.revoked_at is None
        and (cred.expires_at is None or cred.expires_at > now)
        and secret_matches(cred.secret_hash, client_secret)
    )
    if not valid or cred is None or system is None:
        audit.record(
            session,
            "auth.client_token",
            object_type="client",
            object_id=client_id[:64],
            outcome="failure",
            actor=None,
        )
        raise Unauthorized("invalid_client", "Unknown client or wrong secret")
    cred.last_used_at = now
    audit.record(
        session,
        "auth.client_token",
        object_type="client",
        object_id=client_id,
        actor=principal_for_system(system, cred),
    )
    return system, cred


def _require_admin_of(principal: Principal, agency_code: str | None) -> None:
    if principal.is_platform_admin:
        return
    if "agency_admin" in principal.roles and agency_code is not None and agency_code == principal.agency_code:
        return
    raise Forbidden(
        "not_agency_admin", "Only the agency's administrator or a platform administrator may do this"
    )


def _agency_or_404(session: Session, code: str) -> Agency:
    agency = repo.get_agency(session, code)
    if agency is None:
        raise NotFound("agency_not_found", "Agency {code} not found", code=code)
    return agency


def agency_search_text(agency: Agency) -> str:
    return fold(" ".join(filter(None, [agency.code, agency.name, agency.name_en, agency.short_name])))


def create_agency(session: Session, principal: Principal, data: AgencyCreate) -> Agency:
    if not principal.is_platform_admin:
        raise Forbidden("not_platform_admin", "Only a platform administrator may do this")
    if repo.get_agency(session, data.code) is not None:
        raise Conflict("agency_exists", "Agency {code} already exists", code=data.code)
    if data.parent_code:
        _agency_or_404(session, data.parent_code)
    agency = Agency(**data.model_dump())
    agency.search_text = agency_search_text(agency)
    session.add(agency)
    session.flush()
    audit.record(session, "identity.agency.create", object_type="agency", object_id=agency.code)
    return agency


def update_agency(session: Session, principal: Principal, code: str, data: AgencyUpdate) -> Agency:
    agency = _agency_or_404(session, code)
    _require_admin_of(principal, code)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(agency, name, value)
    agency.search_text = agency_search_text(agency)
    audit.record(
        session,
        "identity.agency.update",
        object_type="agency",
        object_id=code,
        detail={"fields": sorted(data.model_dump(exclude_unset=True))},
    )
    return agency


def _set_roles(session: Session, principal: Principal, person: Person, roles: list[str]) -> None:
    if not principal.is_platform_admin and {"platform_admin", "leader"} & set(roles):
        raise Forbidden("role_not_grantable", "Only a platform administrator may grant this role")
    person.roles.clear()
    session.flush()
    for code in sorted(set(roles)):
        person.roles.append(RoleAssignment(role_code=code))


def create_person(session: Session, principal: Principal, data: PersonCreate) -> Person:
    agency_code = data.agency_code or (None if principal.is_platform_admin else principal.agency_code)
    if data.roles != ["citizen"]:
        _require_admin_of(principal, agency_code)
    elif not principal.has_role("agency_admin"):
        raise Forbidden(
            "not_agency_admin", "Only the agency's administrator or a platform administrator may do this"
        )
    if agency_code:
        _agency_or_404(session, agency_code)
    if repo.get_person_by_username(session, data.username) is not None:
        raise Conflict("username_taken", "The username {username} is already taken", username=data.username)
    person = Person(
        username=data.username,
        full_name=data.full_name,
        email=data.email,
        phone=data.phone,
        personal_id=data.personal_id,
        agency_code=agency_code,
        password_hash=hash_password(data.password),
    )
    person.roles = []
    session.add(person)
    session.flush()
    _set_roles(session, principal, person, list(data.roles))
    session.flush()
    audit.record(
        session,
        "identity.person.create",
        object_type="person",
        object_id=person.id,
        detail={"roles": list(data.roles), "agency_code": agency_code},
    )
    return person


def get_person_for(session: Session, principal: Principal, person_id: str) -> Person:
    person = repo.get_person(session, person_id)
    if person is None or not (
        principal.is_platform_admin
        or principal.id == person_id
        or ("agency_admin" in principal.roles and person.agency_code == principal.agency_code)
    ):
        raise NotFound("person_not_found", "Person not found")
    return person


def read_person(session: Session, principal: Principal, person_id: str) -> Person:
    """Read a person's record; a read by anyone else is a personal-data read, audited with its purpose."""
    person = get_person_for(session, principal, person_id)
    if principal.id != person_id:
        audit.record(
            session,
            "identity.person.read",
            object_type="person",
            object_id=person.id,
            subject_id=person.id,
            purpose="Quản trị tài khoản / account administration",
        )
    return person


def audit_listed_people(session: Session, principal: Principal, people: list[Person]) -> None:
    """A list of people with their contact data reads each one's personal data (one's own row aside)."""
    for person in people:
        if person.id != principal.id:
            audit.record(
                session,
                "identity.person.list",
                object_type="person",
                object_id=person.id,
                subject_id=person.id,
                purpose="Quản trị tài khoản / account administration",
            )


def update_person(session: Session, principal: Principal, person_id: str, data: PersonUpdate) -> Person:
    person = get_person_for(session, principal, person_id)
    _require_admin_of(principal, person.agency_code)
    changes = data.model_dump(exclude_unset=True)
    if "roles" in changes and changes["roles"] is not None:
        _set_roles(session, principal, person, changes.pop("roles"))
    if changes.pop("password", None):
        person.password_hash = hash_password(data.password or "")
    if changes.pop("unlock", None):
        person.locked_until, person.failed_logins = None, 0
    for name, value in changes.items():
        setattr(person, name, value)
    session.flush()
    audit.record(
        session,
        "identity.person.update",
        object_type="person",
        object_id=person.id,
        detail={"fields": sorted(data.model_dump(exclude_unset=True))},
    )
    return person


def create_system(session: Session, principal: Principal, data: SystemCreate) -> InformationSystem:
    agency_code = data.agency_code or principal.agency_code
    if agency_code is None:
        raise BadRequest("agency_required", "An agency code is required")
    _require_admin_of(principal, agency_code)
    _agency_or_404(session, agency_code)
    if repo.get_system_by_code(session, agency_code, data.code) is not None:
        raise Conflict("system_exists", "System {code} already exists in this agency", code=data.code)
    system = InformationSystem(
        code=data.code, agency_code=agency_code, name=data.name, description=data.description
    )
    session.add(system)
    session.flush()
    audit.record(session, "identity.system.create", object_type="system", object_id=system.id)
    return system


def get_system_for(session: Session, principal: Principal, system_id: str) -> InformationSystem:
    system = repo.get_system(session, system_id)
    if system is None or not (principal.is_platform_admin or system.agency_code == principal.agency_code):
        raise NotFound("system_not_found", "Information system not found")
    return system


def issue_credential(
    session: Session,
    principal: Principal,
    system_id: str,
    scopes: list[str],
    expires_in_days: int | None = None,
) -> tuple[ClientCredential, str]:
    """Create a client credential; the secret is returned once and only its hash is kept."""
    system = get_system_for(session, principal, system_id)
    _require_admin_of(principal, system.agency_code)
    secret = new_secret()
    cred = ClientCredential(
        client_id=f"{system.code.lower()}-{new_id()[:12]}",
        system_id=system.id,
        secret_hash=hash_secret(secret),
        scopes=sorted(set(scopes)),
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(cred)
    session.flush()
    audit.record(session, "identity.credential.issue", object_type="client", object_id=cred.client_id)
    return cred, secret


def _credential_for(
    session: Session, principal: Principal, system_id: str, credential_id: str
) -> ClientCredential:
    system = get_system_for(session, principal, system_id)
    _require_admin_of(principal, system.agency_code)
    cred = session.get(ClientCredential, credential_id)
    if cred is None or cred.system_id != system.id:
        raise NotFound("credential_not_found", "Credential not found")
    return cred


def revoke_credential(
    session: Session, principal: Principal, system_id: str, credential_id: str
) -> ClientCredential:
    cred = _credential_for(session, principal, system_id, credential_id)
    if cred.revoked_at is None:
        cred.revoked_at = utcnow()
        audit.record(session, "identity.credential.revoke", object_type="client", object_id=cred.client_id)
    return cred


def rotate_credential(
    session: Session, principal: Principal, system_id: str, credential_id: str
) -> tuple[ClientCredential, str]:
    """Issue a new secret with the same scopes and revoke the old one."""
    old = revoke_credential(session, principal, system_id, credential_id)
    return issue_credential(session, principal, system_id, list(old.scopes or []))


def create_grant(session: Session, principal: Principal, data: GrantCreate) -> DataGrant:
    owner = principal.agency_code
    if owner is None:
        raise BadRequest("agency_required", "An agency code is required")
    _require_admin_of(principal, owner)
    _agency_or_404(session, data.grantee_agency_code)
    if data.grantee_system_id:
        system = repo.get_system(session, data.grantee_system_id)
        if system is None or system.agency_code != data.grantee_agency_code:
            raise NotFound("system_not_found", "Information system not found")
    grant = DataGrant(owner_agency_code=owner, **data.model_dump())
    session.add(grant)
    session.flush()
    audit.record(
        session,
        "identity.grant.create",
        object_type="grant",
        object_id=grant.id,
        purpose=data.purpose,
        detail={"grantee": data.grantee_agency_code, "resource": data.resource},
    )
    return grant


def revoke_grant(session: Session, principal: Principal, grant_id: str) -> DataGrant:
    grant = session.get(DataGrant, grant_id)
    if grant is None:
        raise NotFound("grant_not_found", "Grant not found")
    _require_admin_of(principal, grant.owner_agency_code)
    if grant.revoked_at is None:
        grant.revoked_at = utcnow()
        audit.record(session, "identity.grant.revoke", object_type="grant", object_id=grant.id)
    return grant
