"""CKAN-style API tokens: issued to a person (for themself) or to a system of the issuer's agency.

The token is shown once; only its SHA-256 is stored. A token acts with the current roles of its person (or
the token's scopes for a system), so revoking a role or the person takes effect at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity.models import InformationSystem, Person
from tinhso.identity.principal import Principal
from tinhso.identity.service import principal_for_person
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.errors import Forbidden, NotFound, Unauthorized
from tinhso.kit.security import hash_secret, new_secret
from tinhso.opendata.errors import invalid
from tinhso.opendata.models import ApiToken

PREFIX = "tso_"


def issue(
    session: Session,
    principal: Principal,
    name: str,
    system_id: str | None = None,
    days: int | None = 365,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the secret (shown once)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 128:
        raise invalid("name", "a token needs a name of 1-128 characters")
    if days is not None and not 1 <= days <= 3650:
        raise invalid("days", "a token lives 1 to 3650 days")
    secret = PREFIX + new_secret(32)
    token = ApiToken(name=name, token_hash=hash_secret(secret))
    if system_id:
        system = session.get(InformationSystem, system_id)
        if system is None:
            raise NotFound("system_not_found", "System {id} not found", id=system_id)
        if not (
            principal.is_platform_admin
            or (principal.has_role("agency_admin") and principal.agency_code == system.agency_code)
        ):
            raise Forbidden(
                "opendata_token_forbidden",
                "Only an administrator of the system's agency may issue its tokens",
            )
        token.system_id = system.id
        token.scopes = ["opendata:write"]
    else:
        if principal.kind != "person":
            raise Forbidden(
                "opendata_token_person", "Systems get tokens from an administrator of their agency"
            )
        token.person_id = principal.id
    if days:
        token.expires_at = utcnow() + timedelta(days=days)
    session.add(token)
    session.flush()
    audit.record(
        session,
        "opendata.token.issue",
        object_type="opendata.api_token",
        object_id=token.id,
        detail={"name": name, "system_id": system_id},
    )
    return token, secret


def tokens_of(session: Session, principal: Principal) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.revoked_at.is_(None)).order_by(ApiToken.created_at)
    if principal.kind == "person":
        stmt = stmt.where(ApiToken.person_id == principal.id)
    else:
        stmt = stmt.where(ApiToken.system_id == principal.id)
    return list(session.scalars(stmt))


def revoke(session: Session, principal: Principal, token_id: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    mine = token is not None and (token.person_id == principal.id or principal.is_platform_admin)
    if token is not None and token.system_id and not mine:
        system = session.get(InformationSystem, token.system_id)
        mine = bool(
            system and principal.has_role("agency_admin") and principal.agency_code == system.agency_code
        )
    if token is None or not mine:
        raise NotFound("opendata_token_not_found", "Token {id} not found", id=token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, "opendata.token.revoke", object_type="opendata.api_token", object_id=token.id)
    return token


def principal_for_token(session: Session, secret: str) -> Principal:
    """The principal an API token acts as; an unknown, expired or revoked token is refused."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        raise Unauthorized("opendata_bad_token", "The API token is not valid")
    if token.person_id:
        person = session.get(Person, token.person_id)
        if person is None or not person.active:
            raise Unauthorized("opendata_bad_token", "The API token is not valid")
        principal = principal_for_person(session, person)
    else:
        system = session.get(InformationSystem, token.system_id)
        if system is None or not system.active:
            raise Unauthorized("opendata_bad_token", "The API token is not valid")
        principal = Principal(
            kind="system",
            id=system.id,
            name=system.name,
            agency_code=system.agency_code,
            roles=frozenset({"system"}),
            scopes=frozenset(token.scopes or []),
            system_id=system.id,
        )
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
        token.last_used_at = now
    return principal


def token_view(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "system_id": token.system_id,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
    }
