"""Who calls the Action API: our bearer JWTs, or CKAN API tokens in `Authorization` / `X-CKAN-API-Key`."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity import tokens
from tinhso.identity.auth import principal_from_claims
from tinhso.identity.models import ClientCredential
from tinhso.identity.principal import Principal
from tinhso.kit.db import Database
from tinhso.kit.errors import Unauthorized
from tinhso.opendata import apitokens


def credential_of(request: Request) -> str | None:
    """The token the client sent, if any (ckanapi sends the same key in both headers)."""
    for header in ("authorization", "x-ckan-api-key", "x-ckan-api-token"):
        value = request.headers.get(header, "").strip()
        if value:
            scheme, _, rest = value.partition(" ")
            return rest.strip() if scheme.lower() == "bearer" and rest.strip() else value
    return None


def principal_of(session: Session, db: Database, request: Request) -> Principal | None:
    secret = credential_of(request)
    if not secret:
        return None
    if secret.startswith(apitokens.PREFIX):
        return apitokens.principal_for_token(session, secret)
    if secret.count(".") == 2:
        principal = principal_from_claims(tokens.decode(db, secret))
        if principal.credential_id:
            revoked = session.scalar(
                select(ClientCredential.revoked_at).where(ClientCredential.id == principal.credential_id)
            )
            if revoked is not None:
                raise Unauthorized("credential_revoked", "The client credential was revoked")
        return principal
    raise Unauthorized("opendata_bad_token", "The API token is not valid")
