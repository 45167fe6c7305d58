"""OpenID Connect provider: discovery, code flow with PKCE, and every refusal changing nothing."""

from __future__ import annotations

import html
import re
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select, update

from tests.factories import PASSWORD
from tinhso.identity.models import Person, WebSession
from tinhso.identity.oidc_models import OidcClient, OidcCode
from tinhso.kit.audit import AuditEntry
from tinhso.kit.db import utcnow
from tinhso.kit.i18n import gettext
from tinhso.kit.security import hash_secret
from tinhso.web.routes import route_paths

REDIRECT = "http://127.0.0.1:9/cb"


def register(db, *, public: bool = True, redirect: str = REDIRECT) -> tuple[str, str | None]:  # noqa: ANN001
    client_id = f"app-{secrets.token_hex(4)}"
    secret = None if public else secrets.token_urlsafe(24)
    with db.transaction() as session:
        session.add(
            OidcClient(
                client_id=client_id,
                name="Ứng dụng thử nghiệm",
                secret_hash=hash_secret(secret) if secret else None,
                redirect_uris=[redirect],
                scope="openid profile email",
            )
        )
    return client_id, secret


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def auth_params(client_id: str, challenge: str | None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile email",
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(6),
    }
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return params | extra


def sign_in(http, params: dict[str, str], username: str, password: str = PASSWORD):  # noqa: ANN001, ANN201
    """Open the authorize page, fill the sign-in form, return the provider's answer (not followed)."""
    page = http.get("/oidc/authorize", params=params, follow_redirects=False)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    return http.post(
        "/oidc/authorize?" + urlencode(params),
        data={"login_csrf": csrf, "username": username, "password": password},
        follow_redirects=False,
    )


def code_from(response, state: str) -> str:  # noqa: ANN001
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    return query["code"][0]


def counts(db) -> tuple[int, int, int]:  # noqa: ANN001
    with db.transaction(write=False) as s:
        return (
            s.scalar(select(func.count()).select_from(OidcCode)),
            s.scalar(select(func.count()).where(OidcCode.used_at.is_not(None))),
            s.scalar(select(func.count()).select_from(WebSession)),
        )


def test_discovery_is_valid_and_accurate(client, app) -> None:  # noqa: ANN001
    doc = client.get("/.well-known/openid-configuration").json()
    OpenIDProviderMetadata(doc).validate()
    paths = route_paths(app)
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert urlsplit(doc[key]).path in paths
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert client.get(urlsplit(doc["jwks_uri"]).path).json()["keys"]


def test_full_code_flow_with_pkce_over_http(live_server, db, factory) -> None:  # noqa: ANN001
    person = factory.person(("official",), username="oidc.user")
    client_id, _ = register(db)
    verifier, challenge = pkce()
    params = auth_params(client_id, challenge)
    with httpx.Client(base_url=live_server, follow_redirects=False) as http:
        code = code_from(sign_in(http, params, "oidc.user"), params["state"])
        answer = http.post(
            "/oidc/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": client_id,
                "code_verifier": verifier,
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        jwks = KeySet.import_key_set(http.get("/.well-known/jwks.json").json())
        claims = jwt.decode(body["id_token"], jwks, algorithms=["RS256"]).claims
        doc = http.get("/.well-known/openid-configuration").json()
        assert claims["iss"] == doc["issuer"]
        assert claims["aud"] == [client_id]
        assert claims["sub"] == person.id
        assert claims["nonce"] == params["nonce"]
        assert claims["preferred_username"] == "oidc.user"
        assert "at_hash" in claims
        info = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert info.status_code == 200
        assert info.json()["sub"] == person.id and info.json()["roles"] == ["official"]
        me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.json()["id"] == person.id
    with db.transaction(write=False) as s:
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert actions[:3] == ["auth.sign_in", "auth.oidc.authorize", "auth.oidc.token"]
    assert "identity.userinfo.read" in actions


def test_confidential_client_authenticates_with_its_secret(client, db, factory) -> None:  # noqa: ANN001
    factory.person(("official",), username="conf.user")
    client_id, secret = register(db, public=False)
    params = auth_params(client_id, None)
    code = code_from(sign_in(client, params, "conf.user"), params["state"])
    wrong = client.post(
        "/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(client_id, "not-the-secret"),
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_client"
    ok = client.post(
        "/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(client_id, secret),
    )
    assert ok.status_code == 200 and ok.json()["id_token"]


def exchange(client, client_id: str, code: str, verifier: str, redirect: str = REDIRECT):  # noqa: ANN001, ANN201
    return client.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )


@pytest.fixture
def issued(client, db, factory):  # noqa: ANN001, ANN201
    factory.person(("official",), username="code.user")
    client_id, _ = register(db)
    verifier, challenge = pkce()
    params = auth_params(client_id, challenge)
    client.cookies.clear()
    code = code_from(sign_in(client, params, "code.user"), params["state"])
    return client_id, code, verifier


def assert_refused(response, status: int, code: str) -> None:  # noqa: ANN001
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert body["message"]["vi"] and body["message"]["en"] and body["message"]["vi"] != body["message"]["en"]
    assert "access_token" not in body and "id_token" not in body


def test_wrong_pkce_verifier_is_refused_and_changes_nothing(client, db, issued) -> None:  # noqa: ANN001
    client_id, code, verifier = issued
    before = counts(db)
    assert_refused(exchange(client, client_id, code, pkce()[0]), 400, "oidc_pkce_failed")
    assert counts(db) == before
    assert_refused(exchange(client, client_id, code, ""), 400, "oidc_pkce_required")
    assert counts(db) == before
    # The code is still good for the holder of the right verifier.
    assert exchange(client, client_id, code, verifier).status_code == 200


def test_code_reuse_is_refused(client, db, issued) -> None:  # noqa: ANN001
    client_id, code, verifier = issued
    assert exchange(client, client_id, code, verifier).status_code == 200
    before = counts(db)
    assert_refused(exchange(client, client_id, code, verifier), 400, "oidc_code_reused")
    assert counts(db) == before
    with db.transaction(write=False) as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert (last.action, last.outcome, last.detail) == (
        "auth.oidc.token",
        "failure",
        {"code": "oidc_code_reused"},
    )


def test_expired_code_is_refused(client, db, issued) -> None:  # noqa: ANN001
    client_id, code, verifier = issued
    with db.transaction() as s:
        s.execute(update(OidcCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    before = counts(db)
    assert_refused(exchange(client, client_id, code, verifier), 400, "oidc_code_expired")
    assert counts(db) == before


def test_code_of_another_client_or_unknown_code_is_refused(client, db, issued) -> None:  # noqa: ANN001
    _, code, verifier = issued
    other, _ = register(db)
    before = counts(db)
    assert_refused(exchange(client, other, code, verifier), 400, "oidc_code_invalid")
    assert_refused(exchange(client, other, "no-such-code", verifier), 400, "oidc_code_invalid")
    assert_refused(exchange(client, "nobody", code, verifier), 400, "oidc_unknown_client")
    assert counts(db) == before


def test_token_redirect_uri_mismatch_is_refused(client, db, issued) -> None:  # noqa: ANN001
    client_id, code, verifier = issued
    before = counts(db)
    assert_refused(
        exchange(client, client_id, code, verifier, "http://127.0.0.1:9/other"),
        400,
        "oidc_redirect_uri_mismatch",
    )
    assert counts(db) == before


def test_authorize_refusals_are_typed_and_issue_nothing(client, db, factory) -> None:  # noqa: ANN001
    client_id, _ = register(db)
    _, challenge = pkce()
    json_only = {"Accept": "application/json"}
    before = counts(db)
    unknown = client.get("/oidc/authorize", params=auth_params("nobody", challenge), headers=json_only)
    assert_refused(unknown, 400, "oidc_unknown_client")
    mismatch = client.get(
        "/oidc/authorize",
        params=auth_params(client_id, challenge, redirect_uri="https://evil.example/cb"),
        headers=json_only,
    )
    assert_refused(mismatch, 400, "oidc_redirect_uri_mismatch")
    # Shown as a page to a browser, never redirected to an unregistered address.
    page = client.get(
        "/oidc/authorize",
        params=auth_params(client_id, challenge, redirect_uri="https://evil.example/cb"),
        follow_redirects=False,
    )
    assert page.status_code == 400 and "oidc_redirect_uri_mismatch" in page.text
    assert "evil.example" not in page.headers.get("location", "")
    # A public client without PKCE: refused back to its (registered) redirect URI.
    no_pkce = client.get("/oidc/authorize", params=auth_params(client_id, None), follow_redirects=False)
    assert no_pkce.status_code == 302
    query = parse_qs(urlsplit(no_pkce.headers["location"]).query)
    assert query["error"] == ["invalid_request"] and "code" not in query
    plain = client.get(
        "/oidc/authorize",
        params=auth_params(client_id, challenge, code_challenge_method="plain"),
        follow_redirects=False,
    )
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]
    assert counts(db) == before


def test_wrong_password_and_lockout_on_the_sign_in_form(client, db, factory) -> None:  # noqa: ANN001
    factory.person(("official",), username="lock.user")
    client_id, _ = register(db)
    _, challenge = pkce()
    params = auth_params(client_id, challenge)
    before = counts(db)
    for _ in range(5):
        bad = sign_in(client, params, "lock.user", "wrong-password-123")
        assert bad.status_code == 401
        assert gettext("Wrong username or password", "vi") in bad.text
    locked = sign_in(client, params, "lock.user")  # the right password, but the account is locked now
    locked_text = gettext("The account is locked after repeated failed sign-ins; try again later", "vi")
    assert locked.status_code == 401 and html.escape(locked_text) in locked.text
    assert counts(db) == before
    with db.transaction(write=False) as s:
        person = s.scalar(select(Person).where(Person.username == "lock.user"))
        assert person.locked_until is not None


def test_login_form_without_its_csrf_token_is_refused(client, db, factory) -> None:  # noqa: ANN001
    factory.person(("official",), username="csrf.user")
    client_id, _ = register(db)
    params = auth_params(client_id, pkce()[1])
    client.get("/oidc/authorize", params=params)
    answer = client.post(
        "/oidc/authorize?" + urlencode(params),
        data={"login_csrf": "forged", "username": "csrf.user", "password": PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert counts(db) == (0, 0, 0)


def test_userinfo_needs_an_openid_person_token(client, factory) -> None:  # noqa: ANN001
    system = factory.system()
    assert client.get("/oidc/userinfo").json()["code"] == "invalid_authorization"
    refused = client.get("/oidc/userinfo", headers=system.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "scope_required"
    person = factory.person()
    assert client.get("/oidc/userinfo", headers=person.headers).status_code == 403


def test_totp_is_asked_when_enabled(client, db, factory) -> None:  # noqa: ANN001
    import pyotp

    person = factory.person(("official",), username="totp.user")
    secret = pyotp.random_base32()
    with db.transaction() as s:
        s.execute(update(Person).where(Person.id == person.id).values(totp_secret=secret))
    client_id, _ = register(db)
    params = auth_params(client_id, pkce()[1])
    assert sign_in(client, params, "totp.user").status_code == 401  # right password, no code
    page = client.get("/oidc/authorize", params=params)
    csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/oidc/authorize?" + urlencode(params),
        data={
            "login_csrf": csrf,
            "username": "totp.user",
            "password": PASSWORD,
            "totp": pyotp.TOTP(secret).now(),
        },
        follow_redirects=False,
    )
    assert code_from(answer, params["state"])


def test_a_signed_in_browser_gets_a_code_without_the_form(client, db, factory) -> None:  # noqa: ANN001
    from tests.web.portal import sign_in as portal_sign_in

    factory.person(("official",), username="sso.user")
    client_id, _ = register(db)
    _, challenge = pkce()
    no_session = client.get(
        "/oidc/authorize", params=auth_params(client_id, challenge, prompt="none"), follow_redirects=False
    )
    assert parse_qs(urlsplit(no_session.headers["location"]).query)["error"] == ["login_required"]
    portal_sign_in(client, "sso.user")
    params = auth_params(client_id, challenge)
    assert code_from(client.get("/oidc/authorize", params=params, follow_redirects=False), params["state"])
    forced = client.get("/oidc/authorize", params=auth_params(client_id, challenge, prompt="login"))
    assert forced.status_code == 200 and 'name="login_csrf"' in forced.text


def test_plain_http_outside_localhost_is_refused(client, monkeypatch) -> None:  # noqa: ANN001
    from tinhso.settings import get_settings

    monkeypatch.setenv("TINHSO_BASE_URL", "http://tinhso.example")
    get_settings.cache_clear()
    try:
        answer = client.get("/oidc/authorize", params={"client_id": "tinhso-portal", "response_type": "code"})
        assert answer.status_code == 400 and answer.json()["code"] == "oidc_insecure_transport"
    finally:
        monkeypatch.delenv("TINHSO_BASE_URL")
        get_settings.cache_clear()
