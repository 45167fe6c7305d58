"""OpenID Connect endpoints: discovery, authorize (with the sign-in form), token, userinfo."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from tinhso.identity import repository as repo
from tinhso.identity import service, tokens
from tinhso.identity.auth import principal_from_claims, web_session_of
from tinhso.identity.models import Person
from tinhso.identity.oidc import Provider, classify, discovery, origin_of, record_exchange, user_info
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.deps import DatabaseDep, SessionDep
from tinhso.kit.errors import Forbidden, Unauthorized
from tinhso.kit.i18n import gettext
from tinhso.settings import get_settings
from tinhso.web.templating import language_of, render

router = APIRouter(tags=["oidc"])


async def _form(request: Request) -> FormData:
    return await request.form()


# Handlers are sync (run in the thread pool, like the request's session): the form is read by this
# async dependency so that no database work ever blocks the event loop.
FormDep = Annotated[FormData, Depends(_form)]
LOGIN_CSRF_COOKIE = "tinhso_login_csrf"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.get(
    "/.well-known/openid-configuration",
    operation_id="openid_configuration",
    summary="OpenID Connect discovery document",
)
def openid_configuration() -> dict[str, Any]:
    return discovery()


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _refusal(request: Request, provider: Provider, error: OAuth2Error) -> Response:
    """An authorization error: back to the client when its redirect URI is trusted, else shown here."""
    if error.redirect_uri:
        return provider.handle_error_response(None, error)  # type: ignore[arg-type]
    body = provider.error_body(error)
    if _wants_json(request):
        return JSONResponse(body, status_code=body["status"], headers=NO_STORE)
    code, message = classify(error)
    lang = language_of(request)
    return render(
        request,
        "identity/oidc_error.html",
        {"error_code": code, "error_message": gettext(message, lang)},
        status_code=body["status"],
    )


def _signed_in(session: Any, request: Request) -> tuple[Person | None, Any]:
    web = web_session_of(session, request)
    if web is None:
        return None, None
    person = repo.get_person(session, web.person_id)
    return (person, web) if person is not None and person.active else (None, None)


def _login_page(
    request: Request,
    provider: Provider,
    client_name: str,
    *,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    action = request.url.path + ("?" + request.url.query if request.url.query else "")
    response = render(
        request,
        "identity/signin.html",
        {
            "action": action,
            "client_name": client_name,
            "login_csrf": token,
            "error": error,
            "username": username,
        },
        status_code=status_code,
    )
    response.headers.update(NO_STORE)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=get_settings().cookie_secure,
        path="/oidc/authorize",
    )
    return response


@router.get("/oidc/authorize", include_in_schema=False)
def authorize(request: Request, session: SessionDep, db: DatabaseDep) -> Response:
    """Validate the client's request; issue a code to a signed-in person, or show the sign-in form."""
    provider = Provider(session, db, origin_of(request))
    oreq = provider.request_from(request, request.query_params.multi_items())
    person, web = _signed_in(session, request)
    try:
        grant = provider.get_consent_grant(oreq, end_user=person)
    except OAuth2Error as error:
        return _refusal(request, provider, error)
    if person is not None and getattr(grant, "prompt", None) != "login":
        provider.auth_time = web.created_at
        response = provider.create_authorization_response(oreq, grant_user=person, grant=grant)
        _audit_code(session, provider, person, oreq.payload.client_id)
        return response
    return _login_page(request, provider, grant.request.client.row.name)


@router.post("/oidc/authorize", include_in_schema=False)
def authorize_sign_in(request: Request, session: SessionDep, db: DatabaseDep, form: FormDep) -> Response:
    """The sign-in form: check the person (password, TOTP, lockout), then issue the code."""
    provider = Provider(session, db, origin_of(request))
    oreq = provider.request_from(request, request.query_params.multi_items())
    try:
        grant = provider.get_consent_grant(oreq, end_user=None)
    except OAuth2Error as error:
        return _refusal(request, provider, error)
    username = str(form.get("username") or "")[:128]
    client_name = grant.request.client.row.name
    sent = str(form.get("login_csrf") or "")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    lang = language_of(request)
    if not sent or not secrets.compare_digest(sent, cookie):
        message = gettext("The form has expired; reload the page and try again", lang)
        return _login_page(request, provider, client_name, error=message, username=username, status_code=403)
    try:
        person = service.authenticate_password(
            session,
            username,
            str(form.get("password") or "")[:256],
            str(form.get("totp") or "").strip()[:12] or None,
        )
    except Unauthorized as exc:
        # The failure counter and its audit entry are kept: the request's transaction commits.
        message = gettext(exc.message, lang, **exc.params)
        return _login_page(request, provider, client_name, error=message, username=username, status_code=401)
    provider.auth_time = utcnow()
    response = provider.create_authorization_response(oreq, grant_user=person, grant=grant)
    _audit_code(session, provider, person, oreq.payload.client_id)
    return response


def _audit_code(session: Any, provider: Provider, person: Person, client_id: str | None) -> None:
    if provider.error is None:
        audit.record(
            session,
            "auth.oidc.authorize",
            object_type="oidc_client",
            object_id=client_id,
            actor=service.principal_for_person(session, person),
        )


@router.post(
    "/oidc/token",
    operation_id="oidc_token",
    summary="OpenID Connect token endpoint: exchange an authorization code for an access token and id_token",
)
def token(request: Request, session: SessionDep, db: DatabaseDep, form: FormDep) -> Response:
    provider = Provider(session, db, origin_of(request))
    oreq = provider.request_from(request, [(k, str(v)) for k, v in form.multi_items()])
    response = provider.create_token_response(oreq)
    record_exchange(session, provider, oreq.payload.client_id or _basic_client_id(request))
    response.headers.update(NO_STORE)
    return response


def _basic_client_id(request: Request) -> str | None:
    from authlib.oauth2.rfc6749.util import extract_basic_authorization

    return extract_basic_authorization(request.headers)[0]


@router.get(
    "/oidc/userinfo",
    operation_id="oidc_userinfo",
    summary="OpenID Connect userinfo: claims about the signed-in person, as the token's scope allows",
)
@router.post(
    "/oidc/userinfo", operation_id="oidc_userinfo_post", summary="OpenID Connect userinfo (POST form)"
)
def userinfo(request: Request, session: SessionDep, db: DatabaseDep) -> dict[str, Any]:
    scheme, _, raw = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise Unauthorized("invalid_authorization", "Use the header 'Authorization: Bearer <token>'")
    claims = tokens.decode(db, raw.strip())
    principal = principal_from_claims(claims)
    if principal.kind != "person" or "openid" not in principal.scopes:
        raise Forbidden("scope_required", "The token lacks the scope {scope}", scope="openid")
    person = repo.get_person(session, principal.id)
    if person is None or not person.active:
        raise Unauthorized("invalid_token", "The access token is not valid")
    scope = " ".join(sorted(principal.scopes))
    audit.record(
        session,
        "identity.userinfo.read",
        object_type="person",
        object_id=person.id,
        subject_id=person.id,
        purpose="OpenID Connect userinfo",
        actor=principal,
    )
    return dict(user_info(session, person, scope))
