"""Registering an agency's application for OpenID Connect sign-in through the admin page."""

from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import func, select

from tests.factories import PASSWORD, SKHCN, TUPHAP
from tests.web.portal import csrf_of, sign_in
from tinhso.identity.oidc_models import OidcClient

REDIRECT = "https://motcua.nghean.gov.vn/oidc/callback"


def clients_count(db) -> int:  # noqa: ANN001
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(OidcClient))


def test_register_a_confidential_application_and_sign_in_with_it(client, db, factory) -> None:  # noqa: ANN001
    admin = factory.person(("platform_admin", "official"), agency=SKHCN, username="oidc.admin")
    sign_in(client, admin.username)
    page = client.get("/admin/oidc-clients")
    assert page.status_code == 200 and "tinhso-portal" in page.text
    token = csrf_of(page.text)
    created = client.post(
        "/admin/oidc-clients",
        data={
            "csrf_token": token,
            "name": "Một cửa điện tử",
            "redirect_uris": REDIRECT,
            "confidential": "on",
        },
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    client_id = re.search(r"data-client-id>([^<]+)<", created.text).group(1)
    secret = re.search(r"data-client-secret>([^<]+)<", created.text).group(1)
    assert secret not in client.get("/admin/oidc-clients").text

    # A person of the province signs in to that application.
    factory.person(("official",), agency=TUPHAP, username="dung.ung.dung")
    client.cookies.clear()
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    form = client.get("/oidc/authorize", params=params)
    assert "Một cửa điện tử" in form.text
    answer = client.post(
        "/oidc/authorize?" + urlencode(params),
        data={
            "login_csrf": csrf_of(form.text, "login_csrf"),
            "username": "dung.ung.dung",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    tokens = client.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert tokens.status_code == 200 and tokens.json()["id_token"]


def test_bad_registrations_and_non_admins_change_nothing(client, db, factory) -> None:  # noqa: ANN001
    admin = factory.person(("platform_admin", "official"), agency=SKHCN, username="oidc.admin2")
    sign_in(client, admin.username)
    token = csrf_of(client.get("/admin/oidc-clients").text)
    before = clients_count(db)
    for uris in ("http://evil.example/cb", "https://a.example/cb#frag", "not a url", ""):
        refused = client.post(
            "/admin/oidc-clients", data={"csrf_token": token, "name": "Thử", "redirect_uris": uris}
        )
        assert refused.status_code == 422, uris
    assert clients_count(db) == before

    agency_admin = factory.person(("agency_admin", "official"), agency=TUPHAP, username="oidc.agency")
    client.cookies.clear()
    sign_in(client, agency_admin.username)
    assert client.get("/admin/oidc-clients").status_code == 403
    forged = client.post(
        "/admin/oidc-clients",
        data={"csrf_token": csrf_of(client.get("/admin").text), "name": "Lén", "redirect_uris": REDIRECT},
    )
    assert forged.status_code == 403
    assert clients_count(db) == before


def test_a_deactivated_application_cannot_sign_anyone_in(client, db, factory) -> None:  # noqa: ANN001
    admin = factory.person(("platform_admin", "official"), agency=SKHCN, username="oidc.admin3")
    sign_in(client, admin.username)
    token = csrf_of(client.get("/admin/oidc-clients").text)
    created = client.post(
        "/admin/oidc-clients", data={"csrf_token": token, "name": "Ứng dụng cũ", "redirect_uris": REDIRECT}
    )
    client_id = re.search(r"data-client-id>([^<]+)<", created.text).group(1)
    off = client.post(
        f"/admin/oidc-clients/{client_id}/active", data={"csrf_token": token}, follow_redirects=False
    )
    assert off.status_code == 303
    refused = client.get(
        "/oidc/authorize",
        params={"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 400 and refused.json()["code"] == "oidc_unknown_client"
    portal = client.post("/admin/oidc-clients/tinhso-portal/active", data={"csrf_token": token})
    assert portal.status_code == 404  # the portal itself cannot be switched off from here
