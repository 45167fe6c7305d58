"""The portal as a relying party of the platform's own OpenID Connect provider: sign-in, callback, sign-out.

/signin sends the browser to /oidc/authorize (code flow, PKCE S256, state, nonce kept in a signed, short-lived
cookie); /auth/callback exchanges the code through the provider's token grant, verifies the id_token and
starts a server-side WebSession (cookie `tinhso_session`: HttpOnly, SameSite=Lax, Secure outside localhost).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Annotated, Any

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, Query, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from starlette.responses import RedirectResponse, Response

from tinhso.identity import tokens
from tinhso.identity.auth import SESSION_COOKIE, OptionalPrincipal, start_web_session
from tinhso.identity.oidc import (
    Provider,
    _Request,
    authorize_url,
    classify,
    issuer,
    origin_of,
    record_exchange,
)
from tinhso.identity.oidc_models import PORTAL_CLIENT_ID
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.deps import DatabaseDep, SessionDep
from tinhso.kit.i18n import gettext
from tinhso.settings import get_settings
from tinhso.web.templating import language_of, render

router = APIRouter(include_in_schema=False)
SIGNIN_COOKIE = "tinhso_signin"
SIGNIN_TTL = 600
CALLBACK = "/auth/callback"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt="tinhso-signin")


def safe_next(value: str | None) -> str:
    """Only a path on this site (never another origin) may be the page to return to."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or "\n" in value:
        return "/"
    return value[:500]


@router.get("/signin")
def signin(request: Request, next: Annotated[str | None, Query(max_length=500)] = None) -> Response:  # noqa: A002
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    redirect_uri = origin_of(request) + CALLBACK
    target = authorize_url(PORTAL_CLIENT_ID, redirect_uri, state, nonce, create_s256_code_challenge(verifier))
    response = RedirectResponse(target, status_code=303)
    cookie = _serializer().dumps({"s": state, "n": nonce, "v": verifier, "next": safe_next(next)})
    response.set_cookie(
        SIGNIN_COOKIE,
        cookie,
        max_age=SIGNIN_TTL,
        httponly=True,
        samesite="lax",
        secure=get_settings().cookie_secure,
        path=CALLBACK,
    )
    return response


def _failed(request: Request, code: str, message: str, status: int = 400) -> Response:
    lang = language_of(request)
    text = gettext(message, lang)
    return render(
        request, "identity/oidc_error.html", {"error_code": code, "error_message": text}, status_code=status
    )


def verify_id_token(db: Any, id_token: str, nonce: str) -> dict[str, Any]:
    """Check the id_token's signature, issuer, audience, expiry and nonce; raise ValueError otherwise."""
    try:
        claims = jwt.decode(id_token, tokens.key_set(db), algorithms=["RS256"]).claims
    except (JoseError, ValueError) as exc:
        raise ValueError("bad signature") from exc
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if claims.get("iss") != issuer() or PORTAL_CLIENT_ID not in audiences:
        raise ValueError("wrong issuer or audience")
    if float(claims.get("exp", 0)) < time.time() or claims.get("nonce") != nonce or not claims.get("sub"):
        raise ValueError("expired, or wrong nonce")
    return claims


@router.get(CALLBACK)
def callback(
    request: Request,
    session: SessionDep,
    db: DatabaseDep,
    code: Annotated[str | None, Query(max_length=512)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    try:
        saved = _serializer().loads(request.cookies.get(SIGNIN_COOKIE, ""), max_age=SIGNIN_TTL)
    except BadSignature:
        return _failed(
            request, "signin_expired", "The sign-in took too long or was started elsewhere; try again"
        )
    if not state or not secrets.compare_digest(str(saved.get("s", "")), state):
        return _failed(
            request, "oidc_state_mismatch", "The sign-in answer does not match the request; try again"
        )
    if error or not code:
        return _failed(request, "signin_cancelled", "The sign-in was not completed")
    provider = Provider(session, db, origin_of(request))
    provider.request_id = getattr(request.state, "request_id", None)
    exchange = _Request(
        "POST",
        issuer() + "/oidc/token",
        {},
        [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", origin_of(request) + CALLBACK),
            ("client_id", PORTAL_CLIENT_ID),
            ("code_verifier", str(saved.get("v", ""))),
        ],
    )
    answer = provider.create_token_response(exchange)
    record_exchange(session, provider, PORTAL_CLIENT_ID)
    if provider.error is not None:
        code_, message = classify(provider.error)
        return _failed(request, code_, message)
    body = json.loads(bytes(answer.body))
    try:
        claims = verify_id_token(db, body.get("id_token", ""), str(saved.get("n", "")))
    except ValueError:
        return _failed(request, "oidc_invalid_id_token", "The identity token could not be verified")
    web = start_web_session(session, str(claims["sub"]))
    audit.record(session, "auth.session.start", object_type="person", object_id=web.person_id, actor=None)
    settings = get_settings()
    response = RedirectResponse(safe_next(saved.get("next")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        web.id,
        max_age=settings.session_absolute_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    response.delete_cookie(SIGNIN_COOKIE, path=CALLBACK)
    return response


@router.post("/signout")
def signout(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    """Revoke the server-side session (the form carries the session's csrf_token)."""
    web = getattr(request.state, "web_session", None)
    if web is not None and web.revoked_at is None:
        web.revoked_at = utcnow()
        audit.record(session, "auth.sign_out", object_type="person", object_id=web.person_id)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
