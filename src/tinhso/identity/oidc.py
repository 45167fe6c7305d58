"""OpenID Connect provider (Authlib): the platform signs people in for its own portal and for agencies' apps.

Authorization code flow with PKCE (S256, required for public clients), `state` and `nonce`; id_tokens are
signed with the platform's RS256 key (published at /.well-known/jwks.json); access tokens are the platform's
own JWTs, so an app that signed a person in can call the APIs on their behalf. The same flow is the seam
where an external provider (VNeID) plugs in later.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InsecureTransportError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.responses import JSONResponse, RedirectResponse, Response

from tinhso.identity import repository as repo
from tinhso.identity import tokens
from tinhso.identity.auth import access_token_for
from tinhso.identity.models import Person
from tinhso.identity.oidc_models import OidcClient, OidcCode
from tinhso.identity.principal import Principal
from tinhso.identity.service import principal_for_person
from tinhso.kit import audit
from tinhso.kit.db import Database, utcnow
from tinhso.kit.errors import BadRequest
from tinhso.kit.i18n import both
from tinhso.kit.security import hash_secret, secret_matches
from tinhso.settings import get_settings

SCOPES = ["openid", "profile", "email"]
CODE_TTL = timedelta(minutes=5)
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
CLAIMS = ["sub", "name", "preferred_username", "locale", "email", "email_verified", "agency", "roles"]

# Authlib's (error, description) → the platform's stable code and its English message id (vi via identity.po).
_KNOWN: list[tuple[str, str, str, str]] = [
    ("invalid_client", "The client does not exist", "oidc_unknown_client", "Unknown OpenID Connect client"),
    ("invalid_client", "Missing 'client_id'", "oidc_client_required", "client_id is required"),
    ("invalid_client", "The client cannot authenticate", "invalid_client", "Unknown client or wrong secret"),
    ("invalid_request", "Redirect URI", "oidc_redirect_uri_mismatch", "The redirect URI is not registered"),
    (
        "invalid_grant",
        "Invalid 'redirect_uri'",
        "oidc_redirect_uri_mismatch",
        "The redirect URI is not registered",
    ),
    ("invalid_request", "Missing 'redirect_uri'", "oidc_redirect_uri_required", "redirect_uri is required"),
    ("invalid_grant", "Code challenge failed", "oidc_pkce_failed", "The PKCE code verifier does not match"),
    (
        "invalid_request",
        "Invalid 'code_verifier'",
        "oidc_pkce_failed",
        "The PKCE code verifier does not match",
    ),
    ("invalid_request", "Missing 'code_verifier'", "oidc_pkce_required", "PKCE with S256 is required"),
    ("invalid_request", "Missing 'code'", "oidc_code_required", "code is required"),
    ("invalid_request", "Replay attack", "oidc_nonce_reused", "The nonce was already used"),
    ("invalid_scope", "", "oidc_invalid_scope", "The requested scope is not allowed"),
    (
        "unsupported_response_type",
        "",
        "oidc_unsupported_response_type",
        "Only response_type=code is supported",
    ),
    ("unsupported_grant_type", "", "unsupported_grant_type", "Unsupported grant type"),
    ("unauthorized_client", "", "oidc_unauthorized_client", "The client may not use this flow"),
    ("login_required", "", "oidc_login_required", "Sign-in is required"),
]


def _tag(error: OAuth2Error, code: str, message: str) -> OAuth2Error:
    error.tinhso_code = code  # type: ignore[attr-defined]
    error.tinhso_message = message  # type: ignore[attr-defined]
    return error


def classify(error: OAuth2Error) -> tuple[str, str]:
    """The platform's stable code and English message for an OAuth2 error."""
    if getattr(error, "tinhso_code", None):
        return error.tinhso_code, error.tinhso_message  # type: ignore[attr-defined]
    description = error.description or ""
    for kind, prefix, code, message in _KNOWN:
        if error.error == kind and description.startswith(prefix):
            return code, message
    return f"oidc_{error.error}", "The sign-in request is not valid"


def issuer() -> str:
    return get_settings().base_url.rstrip("/")


def origin_of(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


class Client(ClientMixin):
    """A registered relying party, with relative redirect URIs resolved against the provider's origin."""

    def __init__(self, row: OidcClient, origin: str):
        self.row = row
        self.client_id = row.client_id
        self.redirect_uris = [origin + u if u.startswith("/") else u for u in row.redirect_uris or []]

    @property
    def is_public(self) -> bool:
        return self.row.secret_hash is None

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OpenID Connect: redirect_uri is required in every authorization request

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set((self.row.scope or "").split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.row.secret_hash is not None and secret_matches(self.row.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return True
        return method == "none" if self.is_public else method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class Code(AuthorizationCodeMixin):
    def __init__(self, row: OidcCode):
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


class _Payload(OAuth2Payload):
    def __init__(self, items: Iterable[tuple[str, str]]):
        self._datalist: defaultdict[str, list] = defaultdict(list)
        self._data: dict[str, str] = {}
        for key, value in items:
            self._datalist[key].append(value)
            self._data.setdefault(key, value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list]:
        return self._datalist


class _Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: Any, items: Iterable[tuple[str, str]]):
        try:
            super().__init__(method, uri, headers=headers)
        except InsecureTransportError as exc:
            raise BadRequest(
                "oidc_insecure_transport",
                "OpenID Connect needs HTTPS: set TINHSO_BASE_URL to an https:// address",
            ) from exc
        self.payload = _Payload(items)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


class Pkce(CodeChallenge):
    """RFC 7636 with S256 only; public clients must send a challenge."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if (challenge or grant.request.client.is_public) and method != "S256":
            raise _tag(
                InvalidRequestError("PKCE with code_challenge_method=S256 is required"),
                "oidc_pkce_required",
                "PKCE with S256 is required",
            )
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @property
    def provider(self) -> Provider:
        return self.server  # type: ignore[return-value]

    def validate_authorization_request(self) -> str:
        if not self.request.payload.redirect_uri:
            raise _tag(
                InvalidRequestError("Missing 'redirect_uri' in request."),
                "oidc_redirect_uri_required",
                "redirect_uri is required",
            )
        return super().validate_authorization_request()

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        now = utcnow()
        data = request.payload.data
        self.provider.session.add(
            OidcCode(
                code_hash=hash_secret(code),
                client_id=request.client.get_client_id(),
                person_id=request.user.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                auth_time=self.provider.auth_time or now,
                created_at=now,
                expires_at=now + CODE_TTL,
            )
        )
        self.provider.session.flush()

    def query_authorization_code(self, code: str, client: Client) -> Code:
        row = self.provider.session.get(OidcCode, hash_secret(code))
        if row is None or row.client_id != client.get_client_id():
            raise _tag(
                InvalidGrantError("Invalid 'code' in request."),
                "oidc_code_invalid",
                "The authorization code is not valid",
            )
        if row.used_at is not None:
            raise _tag(
                InvalidGrantError("The code was already used."),
                "oidc_code_reused",
                "The authorization code was already used",
            )
        if row.expires_at <= utcnow():
            raise _tag(
                InvalidGrantError("The code has expired."),
                "oidc_code_expired",
                "The authorization code has expired",
            )
        return Code(row)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        # Claim the code atomically: of two concurrent exchanges only one updates the row.
        claimed = self.provider.session.execute(
            update(OidcCode)
            .where(OidcCode.code_hash == authorization_code.row.code_hash, OidcCode.used_at.is_(None))
            .values(used_at=utcnow())
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise _tag(
                InvalidGrantError("The code was already used."),
                "oidc_code_reused",
                "The authorization code was already used",
            )

    def authenticate_user(self, authorization_code: Code) -> Person | None:
        person = repo.get_person(self.provider.session, authorization_code.row.person_id)
        return person if person is not None and person.active else None


def user_info(session: Session, person: Person, scope: str) -> UserInfo:
    """Claims about a person, limited to what the scope allows (plus the platform's agency and roles)."""
    info = UserInfo(
        sub=person.id,
        name=person.full_name,
        preferred_username=person.username,
        locale=person.preferred_language or "vi",
    )
    if person.email:
        info["email"] = person.email
        info["email_verified"] = False
    filtered = info.filter(scope)
    if "profile" in scope.split():
        filtered["agency"] = person.agency_code
        filtered["roles"] = sorted(repo.role_codes(session, person.id))
    return filtered


class OpenID(OpenIDCode):
    def __init__(self, provider: Provider):
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        stmt = select(OidcCode.code_hash).where(
            OidcCode.client_id == request.payload.client_id, OidcCode.nonce == nonce
        )
        return self.provider.session.scalar(stmt.limit(1)) is not None

    def resolve_client_private_key(self, client: Client) -> Any:
        return tokens.signing_key(self.provider.db)

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": str(tokens.signing_key(self.provider.db).kid), "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        ttl = get_settings().access_token_minutes * 60
        return {"iss": issuer(), "aud": [client.get_client_id()], "iat": now, "exp": now + ttl}

    def generate_user_info(self, user: Person, scope: str) -> UserInfo:
        return user_info(self.provider.session, user, scope)


class Provider(AuthorizationServer):
    """One request's view of the OpenID Connect provider, bound to the request's database session."""

    def __init__(self, session: Session, db: Database, origin: str):
        super().__init__(scopes_supported=SCOPES)
        self.session = session
        self.db = db
        self.origin = origin
        self.auth_time: datetime | None = None
        self.error: OAuth2Error | None = None
        self.request_id: str | None = None
        self.register_token_generator("default", self._generate_token)
        self.register_grant(CodeGrant, [Pkce(required=True), OpenID(self)])

    # --- Authlib integration -------------------------------------------------------------------
    def query_client(self, client_id: str) -> Client | None:
        row = self.session.get(OidcClient, client_id) if client_id else None
        return Client(row, self.origin) if row is not None and row.active else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Access tokens are signed JWTs; nothing to store. The exchange is audited by the endpoint."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("build the request with Provider.request_from()")

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        headers = dict(headers or [])
        if status in (301, 302, 303, 307):
            return RedirectResponse(headers.pop("Location"), status_code=302, headers=headers)
        if isinstance(body, dict):
            headers.pop("Content-Type", None)
            return JSONResponse(body, status_code=status, headers=headers)
        return Response(body, status_code=status, headers=headers)

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        self.error = error
        if error.redirect_uri:
            return self.handle_response(*error())
        return JSONResponse(
            self.error_body(error),
            status_code=error.status_code or 400,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    # --- helpers ---------------------------------------------------------------------------------
    def error_body(self, error: OAuth2Error) -> dict[str, Any]:
        code, message = classify(error)
        return {
            "status": error.status_code or 400,
            "code": code,
            "message": both(message),
            "request_id": self.request_id,
            "error": error.error,
            "error_description": error.description or both(message)["en"],
        }

    def request_from(self, request: Request, items: Iterable[tuple[str, str]]) -> _Request:
        """Authlib's view of a request, addressed at the platform's public address (its issuer)."""
        self.request_id = getattr(request.state, "request_id", None)
        return _Request(request.method, issuer() + request.url.path, request.headers, items)

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: Person | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        assert user is not None
        base = principal_for_person(self.session, user)
        principal = Principal(**{**base.__dict__, "scopes": frozenset((scope or "").split())})
        ttl = get_settings().access_token_minutes * 60
        return {
            "token_type": "Bearer",
            "access_token": access_token_for(self.db, principal, ttl),
            "expires_in": ttl,
            "scope": scope or "",
        }


def discovery() -> dict[str, Any]:
    """The provider's metadata (OpenID Connect Discovery 1.0): what it really supports, nothing more."""
    base = issuer()
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oidc/authorize",
        "token_endpoint": f"{base}/oidc/token",
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": CLAIMS + ["iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash"],
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["vi", "en"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


def authorize_url(client_id: str, redirect_uri: str, state: str, nonce: str, challenge: str) -> str:
    """The path a relying party on this same server sends the browser to."""
    return add_params_to_uri(
        "/oidc/authorize",
        [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid profile email"),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ],
    )


def record_exchange(session: Session, provider: Provider, client_id: str | None) -> None:
    """Audit a code exchange; a refused one first undoes anything the attempt touched."""
    if provider.error is not None:
        session.rollback()
        code, _ = classify(provider.error)
        audit.record(
            session,
            "auth.oidc.token",
            object_type="oidc_client",
            object_id=(client_id or "")[:64] or None,
            outcome="failure",
            actor=None,
            detail={"code": code},
        )
    else:
        audit.record(session, "auth.oidc.token", object_type="oidc_client", object_id=client_id, actor=None)
