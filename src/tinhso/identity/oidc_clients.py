"""The OpenID Connect provider's relying parties: the portal's own client, and agencies' applications registered,
enabled and disabled by a platform administrator (the protocol itself is `oidc`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity import repository as repo
from tinhso.identity.oidc import SCOPES
from tinhso.identity.oidc_models import PORTAL_CLIENT_ID, OidcClient
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import new_id
from tinhso.kit.errors import Forbidden, NotFound, Unprocessable
from tinhso.kit.security import hash_secret, new_secret


def seed_clients(session: Session) -> None:
    """The portal is a registered public client of its own provider (PKCE, same-origin redirect)."""
    row = session.get(OidcClient, PORTAL_CLIENT_ID) or OidcClient(client_id=PORTAL_CLIENT_ID)
    row.name = "Cổng thông tin tỉnh số (tinhso portal)"
    row.secret_hash = None
    row.redirect_uris = ["/auth/callback"]
    row.scope = " ".join(SCOPES)
    row.active = True
    session.add(row)
    session.flush()


def _valid_redirect_uri(uri: str) -> bool:
    """Absolute http(s) without fragment; plain http only for this machine (RFC 8252 loopback)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.fragment or not parts.hostname or parts.scheme not in ("https", "http") or len(uri) > 500:
        return False
    return parts.scheme == "https" or parts.hostname in ("localhost", "127.0.0.1", "::1")


def register_client(
    session: Session,
    principal: Principal,
    name: str,
    redirect_uris: list[str],
    confidential: bool,
    agency_code: str | None = None,
) -> tuple[OidcClient, str | None]:
    """Register an agency's application as a relying party; a confidential client's secret is returned once."""
    if not principal.is_platform_admin:
        raise Forbidden("not_platform_admin", "Only a platform administrator may do this")
    name = name.strip()
    uris = [u.strip() for u in redirect_uris if u.strip()]
    if not 2 <= len(name) <= 255:
        raise Unprocessable("oidc_client_name_invalid", "The application needs a name")
    if not uris or len(uris) > 10 or not all(_valid_redirect_uri(u) for u in uris):
        raise Unprocessable(
            "oidc_redirect_uri_invalid",
            "Redirect URIs must be absolute https addresses (http only for localhost), without fragment",
        )
    if agency_code and repo.get_agency(session, agency_code) is None:
        raise NotFound("agency_not_found", "Agency {code} not found", code=agency_code)
    secret = new_secret() if confidential else None
    row = OidcClient(
        client_id=f"app-{new_id()[:12]}",
        name=name,
        secret_hash=hash_secret(secret) if secret else None,
        redirect_uris=uris,
        scope=" ".join(SCOPES),
        agency_code=agency_code or None,
        active=True,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "identity.oidc_client.create",
        object_type="oidc_client",
        object_id=row.client_id,
        detail={"redirect_uris": uris, "confidential": confidential},
    )
    return row, secret


def set_client_active(session: Session, principal: Principal, client_id: str, active: bool) -> OidcClient:
    if not principal.is_platform_admin:
        raise Forbidden("not_platform_admin", "Only a platform administrator may do this")
    row = session.get(OidcClient, client_id)
    if row is None or row.client_id == PORTAL_CLIENT_ID:
        raise NotFound("oidc_client_not_found", "OpenID Connect client not found")
    if row.active != active:
        row.active = active
        audit.record(
            session,
            "identity.oidc_client.update",
            object_type="oidc_client",
            object_id=client_id,
            detail={"active": active},
        )
    return row


def clients(session: Session) -> list[OidcClient]:
    return list(session.scalars(select(OidcClient).order_by(OidcClient.created_at)))
