"""OpenID Connect tables: registered relying parties (clients) and authorization codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tinhso.kit.db import Base, TimestampMixin, UTCDateTime

# A redirect URI registered as a bare path ("/auth/callback") means "this path on the provider's own
# origin": the portal is served by the provider itself, on whatever address the browser reached it.
PORTAL_CLIENT_ID = "tinhso-portal"


class OidcClient(Base, TimestampMixin):
    """A relying party allowed to sign people in through the platform (the portal, an agency's app)."""

    __tablename__ = "identity_oidc_client"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # None: a public client (browser or native app), which must use PKCE with S256.
    secret_hash: Mapped[str | None] = mapped_column(String(128))
    redirect_uris: Mapped[list[Any]] = mapped_column(default=list)
    scope: Mapped[str] = mapped_column(String(255), default="openid profile email")
    agency_code: Mapped[str | None] = mapped_column(ForeignKey("identity_agency.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text)


class OidcCode(Base):
    """An authorization code: short-lived, single use, bound to its client, redirect URI and PKCE challenge.

    Only the SHA-256 of the code is stored, like every other secret of the platform.
    """

    __tablename__ = "identity_oidc_code"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("identity_oidc_client.client_id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(255))
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
