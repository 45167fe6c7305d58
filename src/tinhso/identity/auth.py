"""Who is calling: bearer tokens for systems and scripts, session cookies for the web portal.

Every module gets its caller through these dependencies; authorisation rules live in repositories
(`readable_agencies`) and services, never in handlers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tinhso.identity import repository as repo
from tinhso.identity import tokens
from tinhso.identity.models import ClientCredential, WebSession
from tinhso.identity.principal import Principal
from tinhso.kit.context import principal_var
from tinhso.kit.db import Database, new_id, utcnow
from tinhso.kit.deps import SessionDep, get_db
from tinhso.kit.errors import Forbidden, Unauthorized
from tinhso.settings import get_settings

SESSION_COOKIE = "tinhso_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def principal_from_claims(claims: dict) -> Principal:
    kind = claims.get("kind", "person")
    return Principal(
        kind=kind,
        id=str(claims["sub"]).split(":", 1)[-1],
        name=claims.get("name", ""),
        agency_code=claims.get("agency"),
        roles=frozenset(claims.get("roles", [])),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        system_id=claims.get("system_id"),
        personal_id=claims.get("pid"),
        credential_id=claims.get("cred"),
    )


def access_token_for(db: Database, principal: Principal, ttl_seconds: int | None = None) -> str:
    """Sign an access token carrying the principal's identity, agency, roles and scopes."""
    settings = get_settings()
    claims = {
        "kind": principal.kind,
        "name": principal.name,
        "agency": principal.agency_code,
        "roles": sorted(principal.roles),
        "scope": " ".join(sorted(principal.scopes)),
    }
    if principal.system_id:
        claims["system_id"] = principal.system_id
    if principal.credential_id:
        claims["cred"] = principal.credential_id
    if principal.personal_id:
        claims["pid"] = principal.personal_id
    return tokens.issue(
        db,
        settings.base_url,
        f"{principal.kind}:{principal.id}",
        ttl_seconds or settings.access_token_minutes * 60,
        claims,
    )


def start_web_session(session: Session, person_id: str) -> WebSession:
    settings = get_settings()
    now = utcnow()
    web = WebSession(
        person_id=person_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
        csrf_token=new_id(),
    )
    session.add(web)
    session.flush()
    return web


def web_session_of(session: Session, request: Request) -> WebSession | None:
    """The live browser session of this request, touched to extend its idle timeout."""
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        return None
    web = session.get(WebSession, sid)
    now = utcnow()
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    if web is None or web.revoked_at is not None or web.expires_at <= now or web.last_seen_at + idle <= now:
        return None
    if (now - web.last_seen_at).total_seconds() > 60:
        web.last_seen_at = now
    return web


async def _csrf_sent(request: Request) -> str | None:
    """The CSRF token a cookie-authenticated form or script sent (header, or form field)."""
    sent = request.headers.get("x-csrf-token")
    if (
        not sent
        and request.method not in SAFE_METHODS
        and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        )
    ):
        sent = str((await request.form()).get("csrf_token") or "")
    return sent or None


def _resolve(
    request: Request, session: Session, csrf_sent: str | None
) -> tuple[Principal | None, WebSession | None]:
    """Find the caller (database work: runs in a worker thread, never on the event loop)."""
    db: Database = get_db(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("invalid_authorization", "Use the header 'Authorization: Bearer <token>'")
        principal = principal_from_claims(tokens.decode(db, token.strip()))
        if principal.credential_id:
            revoked = session.scalar(
                select(ClientCredential.revoked_at).where(ClientCredential.id == principal.credential_id)
            )
            if revoked is not None:
                raise Unauthorized("credential_revoked", "The client credential was revoked")
        return principal, None
    web = web_session_of(session, request)
    if web is None:
        return None, None
    person = repo.get_person(session, web.person_id)
    if person is None or not person.active:
        return None, None
    from tinhso.identity.service import principal_for_person

    if request.method not in SAFE_METHODS and not (csrf_sent and csrf_sent == web.csrf_token):
        raise Forbidden("csrf_failed", "The form has expired; reload the page and try again")
    return principal_for_person(session, person), web


async def optional_principal(request: Request, session: SessionDep) -> Principal | None:
    """The caller if it presented a valid credential, else None; a bad credential is an error, not anonymity."""
    csrf_sent = await _csrf_sent(request)
    principal, web = await run_in_threadpool(_resolve, request, session, csrf_sent)
    if web is not None:
        request.state.web_session = web
    request.state.principal = principal
    # Set here, in the request's own context, so the handler (and audit entries) see the caller.
    principal_var.set(principal)
    return principal


async def required_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized()
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(required_principal)]


def require_roles(*roles: str):  # noqa: ANN201 - returns a FastAPI dependency
    """A dependency that admits only callers holding one of `roles` (platform admins always pass)."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(*roles):
            raise Forbidden("role_required", "This needs one of the roles: {roles}", roles=", ".join(roles))
        return principal

    return Depends(_check)


def require_scope(scope: str):  # noqa: ANN201
    """A dependency that admits people, and systems whose token carries `scope`."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_scope(scope):
            raise Forbidden("scope_required", "The token lacks the scope {scope}", scope=scope)
        return principal

    return Depends(_check)
